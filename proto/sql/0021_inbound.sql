-- call-control: inbound calls (services/call-control/call_in.c).
--
-- An INVITE to one of our DIDs becomes a call owned by the node that received it
-- (calls.node_id), so that the gateway sends that node the tenant's answer, reject and
-- hangup. The later moves are 0020's (cc_call_ringing, cc_call_ended), which accept an
-- inbound call as they accept an outbound one; the answer has its own function because
-- it also completes the tenant's answer action. Same conventions as 0020: one function
-- per operation, events written with voepy_emit in the same transaction, idempotent.
--
-- Inbound calls are priced by rating on the 'inbound' deck on the DID (to_number), see
-- rating_load in 0031, once call.ended is published.

-- A new inbound call to p_to, from p_from, received by node p_node at p_ms. The node
-- chooses the call and leg ids (so that a retried statement finds what it wrote). outcome:
--   'created'     the call (inbound, initiated, node_id p_node, route_id the DID's inbound
--                 route, timeout_secs the node's ring timeout) and its leg (with the
--                 dialog's Call-ID) are written, call.started emitted;
--   'unknown'     no such number on the platform (the node answers 404);
--   'unassigned'  the number is in the inventory (never sold, or released) or disabled
--                 (480);
--   'unavailable' its tenant is suspended (480).
-- Nothing is written but for 'created'.
CREATE FUNCTION cc_inbound_create(p_call text, p_node text, p_leg text, p_from text, p_to text,
                                  p_ms bigint, p_sip_call_id text, p_timeout_secs int)
RETURNS TABLE (outcome text, tenant_id text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n phone_numbers;
    t tenants;
    c calls;
BEGIN
    SELECT * INTO c FROM calls x WHERE x.id = p_call;
    IF FOUND THEN
        RETURN QUERY SELECT 'created'::text, c.tenant_id; -- a retried statement
        RETURN;
    END IF;
    SELECT * INTO n FROM phone_numbers x WHERE x.phone_number = p_to;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown'::text, NULL::text;
        RETURN;
    END IF;
    IF n.status <> 'active' OR n.tenant_id IS NULL THEN
        RETURN QUERY SELECT 'unassigned'::text, NULL::text;
        RETURN;
    END IF;
    SELECT * INTO t FROM tenants x WHERE x.id = n.tenant_id;
    IF t.status <> 'active' THEN
        RETURN QUERY SELECT 'unavailable'::text, t.id;
        RETURN;
    END IF;
    INSERT INTO calls (id, tenant_id, direction, status, from_number, to_number, route_id,
                       node_id, timeout_secs, initiated_at)
    VALUES (p_call, n.tenant_id, 'inbound', 'initiated', p_from, p_to, n.route_id, p_node,
            p_timeout_secs, voepy_ms(p_ms))
    RETURNING * INTO c;
    INSERT INTO call_legs (id, call_id, tenant_id, direction, status, from_uri, to_uri,
                           sip_call_id)
    VALUES (p_leg, c.id, c.tenant_id, 'inbound', 'initiated', p_from, p_to, p_sip_call_id);
    PERFORM voepy_emit(c.tenant_id, c.id, 'call.started', voepy_call_event_data(c));
    RETURN QUERY SELECT 'created'::text, c.tenant_id;
END $$;

-- The end of a call action the node carried out: p_done marks it done (p_note, when
-- given, says what of it was not carried out, e.g. answer's record and stream_url while
-- media-fork cannot record or stream; a stream row it asked for is failed, never left
-- requested as if it ran), else failed with p_note as the error (cc_action_failed, 0012).
-- Only a requested action of this call changes. Returns whether one did.
CREATE FUNCTION cc_action_result(p_call text, p_node text, p_action text, p_done boolean,
                                 p_note text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF NOT p_done THEN
        RETURN cc_action_failed(p_action, p_call, coalesce(p_note, 'failed'));
    END IF;
    UPDATE call_actions a SET status = 'done', completed_at = now(), error = p_note
     WHERE a.id = p_action AND a.call_id = p_call AND a.status = 'requested'
       AND EXISTS (SELECT 1 FROM calls c WHERE c.id = p_call AND c.node_id = p_node);
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE call_streams s SET status = 'failed', stopped_at = now()
     WHERE s.action_id = p_action AND s.status = 'requested';
    RETURN true;
END $$;

-- An inbound call answered (our 200 acknowledged at p_ms): cc_call_answered's move and
-- event, and the answer action p_action (when given) done, in one transaction.
CREATE FUNCTION cc_inbound_answered(p_call text, p_node text, p_ms bigint, p_sip_status int,
                                    p_remote_media text, p_codec text, p_action text,
                                    p_note text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    moved boolean;
BEGIN
    moved := cc_call_answered(p_call, p_node, p_ms, p_sip_status, p_remote_media, p_codec);
    IF p_action IS NOT NULL THEN
        PERFORM cc_action_result(p_call, p_node, p_action, true, p_note);
    END IF;
    RETURN moved;
END $$;
