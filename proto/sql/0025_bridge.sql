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
-- A forwarding number's child call is written with the inbound call by cc_inbound_create
-- (0021), then bridged here like a transfer's.
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
