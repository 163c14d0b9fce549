-- call-control: transfer, bridge and forwarding numbers (services/call-control/
-- call_bridge.c, call_forward.c).
--
-- A transfer dials a child call: an outbound call row of the parent's tenant, claimed at
-- once by the parent's node (node_id), with options.parent_call_id, rated like any call.
-- When it answers, media-fork bridges the two legs and both calls become 'bridged'
-- (call.bridged on each, data: the call plus bridged_with {call_id, leg_id}). A bridge
-- action joins two live calls of one tenant the same way. Same conventions as 0020: one
-- function per operation, events written with voepy_emit in the same transaction,
-- idempotent, only the owning node moves a call.
--
-- Legal moves added to 0020's table (call_state.h asserts the same):
--   answered -> bridged -> ended          (bridged -> bridged: a new peer)
-- call_legs keep 'answered' while their call is bridged (its CHECK has no 'bridged').

-- A transfer's child is found by its action (a retried cc_transfer_create), a parent's
-- children by the parent (a retried cc_inbound_create, tests, support): partial indexes,
-- so calls without these options cost nothing.
CREATE INDEX calls_transfer_action ON calls ((options->>'transfer_action_id'))
    WHERE options ? 'transfer_action_id';
CREATE INDEX calls_parent_call ON calls ((options->>'parent_call_id'))
    WHERE options ? 'parent_call_id';

-- call.bridged's data: the call and what it is bridged with.
CREATE FUNCTION cc_bridged_event_data(c calls, p_peer_call text, p_peer_leg text) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT (voepy_call_event_data(c)::jsonb
            || jsonb_build_object('bridged_with',
                                  jsonb_build_object('call_id', p_peer_call, 'leg_id', p_peer_leg)))::json
$$;

-- A transfer of p_parent (answered or bridged, owned by p_node): checks the outbound rules
-- of an API call for the new leg -- the route (the tenant's default, else the platform's),
-- the destination rules (countries, prefixes, opt-outs, blocked destinations), the
-- tenant's concurrency and rate limits, the money -- and, when p_from is given, that it
-- is an active number of the tenant unless caller-ID forwarding is allowed; the parent's
-- from is used as it is otherwise. Writes the child call (outbound, initiated, node_id
-- p_node, options.parent_call_id and transfer_action_id), its leg (media_node: the
-- parent's leg's, where it must be allocated for the two to be bridged) and
-- call.started. Raises the rules' domain errors (the node fails the action with them).
CREATE FUNCTION cc_transfer_create(p_parent text, p_node text, p_action text, p_to text,
                                   p_from text, p_timeout_secs int)
RETURNS TABLE (call_id text, leg_id text, from_number text, to_number text, route_id text,
               sip_uri text, transport text, timeout_secs int)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    p calls;
    t tenants;
    r routes;
    c calls;
    v_leg text := voepy_id('leg');
    v_from text;
BEGIN
    SELECT * INTO p FROM calls x WHERE x.id = p_parent AND x.node_id = p_node;
    IF NOT FOUND OR p.status NOT IN ('answered', 'bridged') THEN
        PERFORM voepy_raise('call_not_in_required_state', 'status',
                            'The call is no longer answered on this node.');
    END IF;
    -- a retried statement finds the child it wrote
    SELECT * INTO c FROM calls x
     WHERE x.options ? 'transfer_action_id' AND x.options->>'transfer_action_id' = p_action
       AND x.tenant_id = p.tenant_id;
    IF NOT FOUND THEN
        SELECT * INTO STRICT t FROM tenants x WHERE x.id = p.tenant_id;
        v_from := coalesce(p_from, p.from_number);
        IF p_from IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM phone_numbers n WHERE n.tenant_id = t.id
                             AND n.phone_number = p_from AND n.status = 'active')
           AND NOT t.allow_caller_id_forwarding THEN
            PERFORM voepy_raise('from_number_not_owned', 'from',
                                p_from || ' is not an active number on this account.');
        END IF;
        PERFORM call_rules_check_destination(t, p_to);
        PERFORM call_rules_check_limits(t);
        PERFORM api_call_check_funds(t, p_to);
        INSERT INTO calls (id, tenant_id, direction, status, from_number, to_number, route_id,
                           node_id, options, timeout_secs)
        VALUES (voepy_id('call'), t.id, 'outbound', 'initiated', v_from, p_to,
                api_call_route(t, NULL), p_node,
                jsonb_build_object('parent_call_id', p.id, 'transfer_action_id', p_action),
                p_timeout_secs)
        RETURNING * INTO c;
        INSERT INTO call_legs (id, call_id, tenant_id, direction, status, from_uri, to_uri,
                               media_node)
        VALUES (v_leg, c.id, c.tenant_id, 'outbound', 'initiated', c.from_number, c.to_number,
                (cc_first_leg(p.id)).media_node);
        PERFORM voepy_emit(c.tenant_id, c.id, 'call.started', voepy_call_event_data(c));
    END IF;
    SELECT * INTO r FROM routes x WHERE x.id = c.route_id;
    RETURN QUERY SELECT c.id, (cc_first_leg(c.id)).id, c.from_number, c.to_number, r.id,
                        r.sip_uri, r.transport, c.timeout_secs;
END $$;

-- p_call (owned by p_node) and p_peer are bridged (media-fork said so at p_ms): both
-- become 'bridged' (from answered, or bridged to another peer before), call.bridged on
-- each, and the action p_action (the transfer or bridge that asked, NULL for a
-- forwarding) done. False when either is no longer live (nothing changes then).
CREATE FUNCTION cc_calls_bridged(p_call text, p_node text, p_peer text, p_action text,
                                 p_ms bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    a calls;
    b calls;
BEGIN
    SELECT * INTO a FROM calls x WHERE x.id = p_call AND x.node_id = p_node FOR UPDATE;
    SELECT * INTO b FROM calls x WHERE x.id = p_peer AND x.node_id = p_node FOR UPDATE;
    IF a.id IS NULL OR b.id IS NULL OR a.status NOT IN ('answered', 'bridged')
       OR b.status NOT IN ('answered', 'bridged') THEN
        RETURN false;
    END IF;
    UPDATE calls x SET status = 'bridged', updated_at = now(),
                       options = x.options || jsonb_build_object('bridged_with', b.id)
     WHERE x.id = a.id AND x.options->>'bridged_with' IS DISTINCT FROM b.id
    RETURNING * INTO a;
    IF NOT FOUND THEN
        RETURN false; -- a retried statement
    END IF;
    UPDATE calls x SET status = 'bridged', updated_at = now(),
                       options = x.options || jsonb_build_object('bridged_with', a.id)
     WHERE x.id = b.id
    RETURNING * INTO b;
    PERFORM voepy_emit(a.tenant_id, a.id, 'call.bridged',
                       cc_bridged_event_data(a, b.id, (cc_first_leg(b.id)).id));
    PERFORM voepy_emit(b.tenant_id, b.id, 'call.bridged',
                       cc_bridged_event_data(b, a.id, (cc_first_leg(a.id)).id));
    IF p_action IS NOT NULL THEN
        UPDATE call_actions x SET status = 'done', completed_at = now()
         WHERE x.id = p_action AND x.call_id IN (a.id, b.id) AND x.status = 'requested';
    END IF;
    RETURN true;
END $$;

-- Forwarding numbers (call_forward.c): cc_inbound_create of 0021 plus, for a DID with
-- relay_enabled, the child call to forward_to written in the same statement (one round
-- trip per call, the path tests/bench/sip measures). The child is outbound, of the DID's
-- tenant, node_id p_node, options.parent_call_id; from is the caller's number
-- (forward_caller_id 'caller') or the DID ('number'); to is forward_to. An E.164
-- forward_to goes over the tenant's default route (else the platform's); a sip: URI is
-- dialled directly (sip_uri is the URI, dial_user its user part). The outbound rules and
-- the balance check of API calls are not applied: the number's owner configured the
-- target. Extra columns are NULL when the number does not forward.
DROP FUNCTION cc_inbound_create(text, text, text, text, text, bigint, text, int);
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
