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
-- rating_load in 0030, once call.ended is published.

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
-- Forwarding numbers (call_forward.c, 0025): for a DID with relay_enabled, the call gets
-- options.forward_to and the child call to forward_to is written in the same statement
-- (one round trip per call, the path tests/bench/sip measures), with its leg and
-- call.started. The child is outbound, of the DID's tenant, node_id p_node,
-- options.parent_call_id; from is the caller's number (forward_caller_id 'caller') or the
-- DID ('number'); to is forward_to. An E.164 forward_to goes over the tenant's default
-- route (else the platform's); a sip: URI is dialled directly (fwd_sip_uri is the URI,
-- fwd_user its user part). The outbound rules and the balance check of API calls are not
-- applied: the number's owner configured the target. The fwd_* columns are NULL when the
-- number does not forward.
CREATE FUNCTION cc_inbound_create(p_call text, p_node text, p_leg text, p_from text, p_to text,
                                  p_ms bigint, p_sip_call_id text, p_timeout_secs int)
RETURNS TABLE (outcome text, tenant_id text, fwd_call_id text, fwd_leg_id text,
               fwd_from text, fwd_to text, fwd_user text, fwd_route_id text,
               fwd_sip_uri text, fwd_transport text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n phone_numbers;
    t tenants;
    c calls;
    f calls;
    r routes;
BEGIN
    SELECT * INTO c FROM calls x WHERE x.id = p_call;
    IF NOT FOUND THEN
        SELECT * INTO n FROM phone_numbers x WHERE x.phone_number = p_to;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'unknown'::text, NULL::text, NULL::text, NULL::text, NULL::text,
                                NULL::text, NULL::text, NULL::text, NULL::text, NULL::text;
            RETURN;
        END IF;
        IF n.status <> 'active' OR n.tenant_id IS NULL THEN
            RETURN QUERY SELECT 'unassigned'::text, NULL::text, NULL::text, NULL::text,
                                NULL::text, NULL::text, NULL::text, NULL::text, NULL::text,
                                NULL::text;
            RETURN;
        END IF;
        SELECT * INTO t FROM tenants x WHERE x.id = n.tenant_id;
        IF t.status <> 'active' THEN
            RETURN QUERY SELECT 'unavailable'::text, t.id, NULL::text, NULL::text, NULL::text,
                                NULL::text, NULL::text, NULL::text, NULL::text, NULL::text;
            RETURN;
        END IF;
        INSERT INTO calls (id, tenant_id, direction, status, from_number, to_number, route_id,
                           node_id, timeout_secs, initiated_at, options)
        VALUES (p_call, n.tenant_id, 'inbound', 'initiated', p_from, p_to, n.route_id, p_node,
                p_timeout_secs, voepy_ms(p_ms),
                CASE WHEN n.relay_enabled
                     THEN jsonb_build_object('forward_to', n.forward_to) ELSE '{}' END)
        RETURNING * INTO c;
        INSERT INTO call_legs (id, call_id, tenant_id, direction, status, from_uri, to_uri,
                               sip_call_id)
        VALUES (p_leg, c.id, c.tenant_id, 'inbound', 'initiated', p_from, p_to, p_sip_call_id);
        PERFORM voepy_emit(c.tenant_id, c.id, 'call.started', voepy_call_event_data(c));
        IF n.relay_enabled THEN
            INSERT INTO calls (id, tenant_id, direction, status, from_number, to_number,
                               route_id, node_id, timeout_secs, initiated_at, options)
            VALUES (voepy_id('call'), c.tenant_id, 'outbound', 'initiated',
                    CASE WHEN n.forward_caller_id = 'number' THEN p_to ELSE p_from END,
                    n.forward_to,
                    CASE WHEN n.forward_to ~ '^sips?:' THEN NULL
                         ELSE api_call_route(t, NULL) END,
                    p_node, p_timeout_secs, voepy_ms(p_ms),
                    jsonb_build_object('parent_call_id', c.id))
            RETURNING * INTO f;
            INSERT INTO call_legs (id, call_id, tenant_id, direction, status, from_uri, to_uri)
            VALUES (voepy_id('leg'), f.id, f.tenant_id, 'outbound', 'initiated', f.from_number,
                    f.to_number);
            PERFORM voepy_emit(f.tenant_id, f.id, 'call.started', voepy_call_event_data(f));
        END IF;
    ELSIF c.options ? 'forward_to' THEN -- a retried statement finds what it wrote
        SELECT * INTO f FROM calls x
         WHERE x.options ? 'parent_call_id' AND x.options->>'parent_call_id' = c.id
           AND x.tenant_id = c.tenant_id;
    END IF;
    IF f.id IS NULL THEN
        RETURN QUERY SELECT 'created'::text, c.tenant_id, NULL::text, NULL::text, NULL::text,
                            NULL::text, NULL::text, NULL::text, NULL::text, NULL::text;
        RETURN;
    END IF;
    SELECT * INTO r FROM routes x WHERE x.id = f.route_id;
    RETURN QUERY
        SELECT 'created'::text, c.tenant_id, f.id, (cc_first_leg(f.id)).id, f.from_number,
               f.to_number,
               CASE WHEN f.to_number ~ '^sips?:'
                    THEN coalesce(substring(f.to_number FROM '^sips?:([^@;>]+)@'), c.to_number)
                    ELSE f.to_number END,
               f.route_id,
               CASE WHEN f.to_number ~ '^sips?:' THEN f.to_number ELSE r.sip_uri END,
               CASE WHEN f.to_number ~ '^sips?:' THEN 'udp' ELSE r.transport END;
END $$;

-- The end of a call action the node carried out: p_done marks it done (p_note, when
-- given, says what of it was not carried out), else failed with p_note as the error
-- (cc_action_failed, 0012). Only a requested action of this call changes. Returns whether
-- one did. A done action leaves its stream row (answer's stream_url) alone: streams are
-- carried out and their rows follow media-fork's reports (0029).
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
    RETURN FOUND;
END $$;

-- An inbound call answered (our 200 acknowledged at p_ms): cc_call_answered's move,
-- event and result (p_rec_*: see there), the answer action p_action (when given) done,
-- and, for a forwarding number's call, what its relay media asks for (relay_record,
-- relay_transcribe: cc_relay_media, 0035, which writes the transcription's row; NULL for
-- other calls), in one transaction: one round trip per answer. call-control starts the
-- relay's media once the call's bridge with its child is sent (call_relay.c).
CREATE FUNCTION cc_inbound_answered(p_call text, p_node text, p_ms bigint, p_sip_status int,
                                    p_remote_media text, p_codec text, p_action text,
                                    p_note text, p_rec_id text, p_rec_channels text,
                                    p_rec_format text)
RETURNS TABLE (moved boolean, amd boolean, recording_id text, channels text, format text,
               tenant_id text, relay_record boolean, relay_transcribe boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    SELECT a.moved, a.amd, a.recording_id, a.channels, a.format, a.tenant_id
      INTO moved, amd, recording_id, channels, format, tenant_id
      FROM cc_call_answered(p_call, p_node, p_ms, p_sip_status, p_remote_media, p_codec,
                            p_rec_id, p_rec_channels, p_rec_format) a;
    IF p_action IS NOT NULL THEN
        PERFORM cc_action_result(p_call, p_node, p_action, true, p_note);
    END IF;
    SELECT m.record, m.transcribe INTO relay_record, relay_transcribe
      FROM cc_relay_media(p_call, p_node) m;
    RETURN NEXT;
END $$;
