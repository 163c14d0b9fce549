-- call-control: the call state machine's transitions, one function each.
--
-- Every function changes the call (and its first leg) in one transaction and records the
-- matching event with voepy_emit() in that same transaction; the service kicks the
-- outbox after the statement. Every function is idempotent: a transition that already
-- happened (a retried statement, a duplicated message) changes nothing and emits
-- nothing. Times come from the service as epoch milliseconds of the moment the SIP
-- message arrived (or the timer fired), so answered_at and ended_at measure real
-- durations whatever the database round trip costs.
--
-- Only the node that owns a call (calls.node_id) moves it: a node that lost a call to
-- another never writes over it.
--
-- Legal moves (call.c asserts the same table):
--   initiated -> ringing -> answered -> ended
--   initiated -> answered            (a 2xx without a provisional)
--   initiated | ringing -> failed

-- The first leg of a call (the one the gateway created with it); NULL when it has none.
-- plpgsql, not sql: every move of every call asks for it (about 16 times per forwarded
-- call, tests/bench/sip), and a sql function called from plpgsql is parsed and planned
-- again in each transaction, where plpgsql keeps its query's plan for the session.
CREATE FUNCTION cc_first_leg(p_call text) RETURNS call_legs
LANGUAGE plpgsql STABLE AS $$
DECLARE
    l call_legs;
BEGIN
    SELECT * INTO l FROM call_legs x WHERE x.call_id = p_call ORDER BY x.created_at, x.id LIMIT 1;
    RETURN l;
END $$;

-- End a call that is still initiated or ringing as failed (no dial, or a failed dial):
-- the shared tail of cc_claim_call and cc_call_ended. Emits call.ended.
CREATE FUNCTION cc_fail(p_call text, p_ms bigint, p_reason text, p_initiator text,
                        p_sip_status int) RETURNS calls
LANGUAGE plpgsql AS $$
DECLARE
    c calls;
BEGIN
    UPDATE calls SET status = 'failed', ended_at = voepy_ms(p_ms), end_reason = p_reason,
                     end_initiator = p_initiator,
                     sip_status = coalesce(p_sip_status, sip_status), updated_at = now()
     WHERE id = p_call AND status IN ('initiated', 'ringing')
    RETURNING * INTO c;
    IF FOUND THEN
        UPDATE call_legs SET status = 'failed', ended_at = voepy_ms(p_ms), end_reason = p_reason
         WHERE id = (cc_first_leg(p_call)).id AND status NOT IN ('ended', 'failed');
        PERFORM voepy_emit(c.tenant_id, c.id, 'call.ended', voepy_call_event_data(c));
    END IF;
    RETURN c;
END $$;

-- Claim an initiated, unclaimed call for node p_node (exactly one node wins: the update
-- is conditional on node_id IS NULL). No row when the call is not claimable (claimed by
-- another node, already over, or unknown). Otherwise outcome is
--   'dial'     : the node places the call; the row carries what it needs;
--   'canceled' : a hangup was requested before the claim: the call is failed/canceled
--                (initiator api) here, call.ended emitted, nothing is dialled;
--   'no_route' : neither the call, its tenant nor the platform names a route: the call
--                is failed/system_failure (initiator system) here, call.ended emitted.
-- The route is the call's route_id, else the tenant's default_route_id, else the
-- platform default; the call keeps the one chosen (route_id is set when it was NULL).
CREATE FUNCTION cc_claim_call(p_call text, p_node text, p_ms bigint)
RETURNS TABLE (outcome text, call_id text, tenant_id text, leg_id text, from_number text,
               to_number text, route_id text, sip_uri text, transport text,
               timeout_secs int, time_limit_secs int)
LANGUAGE plpgsql AS $$
DECLARE
    c calls;
    r routes;
    l call_legs;
BEGIN
    UPDATE calls x SET node_id = p_node, updated_at = now()
     WHERE x.id = p_call AND x.node_id IS NULL AND x.status = 'initiated'
    RETURNING * INTO c;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF c.hangup_requested_at IS NOT NULL THEN
        PERFORM cc_fail(c.id, p_ms, 'canceled', 'api', NULL);
        RETURN QUERY SELECT 'canceled'::text, c.id, c.tenant_id, NULL::text, c.from_number,
                            c.to_number, c.route_id, NULL::text, NULL::text, c.timeout_secs,
                            c.time_limit_secs;
        RETURN;
    END IF;
    SELECT * INTO r FROM routes x
     WHERE x.id = coalesce(c.route_id,
                           (SELECT t.default_route_id FROM tenants t WHERE t.id = c.tenant_id),
                           (SELECT p.id FROM routes p WHERE p.is_platform_default));
    IF NOT FOUND THEN
        PERFORM cc_fail(c.id, p_ms, 'system_failure', 'system', NULL);
        RETURN QUERY SELECT 'no_route'::text, c.id, c.tenant_id, NULL::text, c.from_number,
                            c.to_number, NULL::text, NULL::text, NULL::text, c.timeout_secs,
                            c.time_limit_secs;
        RETURN;
    END IF;
    IF c.route_id IS NULL THEN
        UPDATE calls x SET route_id = r.id WHERE x.id = c.id;
    END IF;
    l := cc_first_leg(c.id);
    IF l.id IS NULL THEN
        INSERT INTO call_legs (id, call_id, tenant_id, direction, status, from_uri, to_uri)
        VALUES (voepy_id('leg'), c.id, c.tenant_id, c.direction, 'initiated', c.from_number,
                c.to_number)
        RETURNING * INTO l;
    END IF;
    RETURN QUERY SELECT 'dial'::text, c.id, c.tenant_id, l.id, c.from_number, c.to_number,
                        r.id, r.sip_uri, r.transport, c.timeout_secs, c.time_limit_secs;
END $$;

-- The media leg and the SIP dialog of the first leg, once known (no event).
CREATE FUNCTION cc_leg_media(p_call text, p_node text, p_media_node text, p_local_media text,
                             p_sip_call_id text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    UPDATE call_legs l SET media_node = coalesce(p_media_node, l.media_node),
                           local_media = coalesce(p_local_media, l.local_media),
                           sip_call_id = coalesce(p_sip_call_id, l.sip_call_id)
     WHERE l.id = (cc_first_leg(p_call)).id
       AND EXISTS (SELECT 1 FROM calls c WHERE c.id = p_call AND c.node_id = p_node);
    RETURN FOUND;
END $$;

-- initiated -> ringing (a 180/183), once: emits call.ringing. False when nothing changed.
CREATE FUNCTION cc_call_ringing(p_call text, p_node text, p_ms bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    c calls;
BEGIN
    UPDATE calls SET status = 'ringing', ringing_at = voepy_ms(p_ms), updated_at = now()
     WHERE id = p_call AND node_id = p_node AND status = 'initiated'
    RETURNING * INTO c;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE call_legs SET status = 'ringing'
     WHERE id = (cc_first_leg(p_call)).id AND status = 'initiated';
    PERFORM voepy_emit(c.tenant_id, c.id, 'call.ringing', voepy_call_event_data(c));
    RETURN true;
END $$;

-- initiated | ringing -> answered (the 2xx), once: emits call.answered. The far end's
-- media address and the codec chosen go on the leg. moved: whether this statement made
-- the move (false for a retried statement, a call over or not owned by p_node).
--
-- The rest of the result is what the node starts on the answered leg, decided in the
-- same round trip instead of one statement each (tests/bench/sip: a forwarded call is
-- answered twice, and each statement is a transaction of its own), whether or not this
-- statement made the move, as the separate statements did:
--   amd           cc_amd_wanted (0037): detection asked for and no result yet;
--   recording_id, channels, format, tenant_id
--                 the call's automatic recording, when p_rec_id is given:
--                 cc_recording_start (0026) with p_auto, p_rec_channels/p_rec_format (the
--                 answer's record-from-answer, else NULL for the creation's record
--                 option), under the id p_rec_id the node chose so that a retried
--                 statement gets the same recording back; at most once per call. NULLs
--                 when nothing is to be recorded.
-- Those functions are defined in later files; plpgsql resolves them when called.
CREATE FUNCTION cc_call_answered(p_call text, p_node text, p_ms bigint, p_sip_status int,
                                 p_remote_media text, p_codec text, p_rec_id text,
                                 p_rec_channels text, p_rec_format text)
RETURNS TABLE (moved boolean, amd boolean, recording_id text, channels text, format text,
               tenant_id text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    c calls;
BEGIN
    UPDATE calls x SET status = 'answered', answered_at = voepy_ms(p_ms),
                       sip_status = p_sip_status, updated_at = now()
     WHERE x.id = p_call AND x.node_id = p_node AND x.status IN ('initiated', 'ringing')
    RETURNING * INTO c;
    moved := FOUND;
    IF moved THEN
        UPDATE call_legs l SET status = 'answered', answered_at = voepy_ms(p_ms),
                               remote_media = p_remote_media, codec = p_codec
         WHERE l.id = (cc_first_leg(p_call)).id;
        PERFORM voepy_emit(c.tenant_id, c.id, 'call.answered', voepy_call_event_data(c));
    END IF;
    amd := cc_amd_wanted(p_call, p_node);
    IF p_rec_id IS NOT NULL THEN
        SELECT s.recording_id, s.channels, s.format, s.tenant_id
          INTO recording_id, channels, format, tenant_id
          FROM cc_recording_start(p_call, p_node, p_rec_channels, p_rec_format, true,
                                  p_rec_id) s;
    END IF;
    RETURN NEXT;
END $$;

-- The end of a call, once: p_status 'ended' (from answered or bridged) or 'failed' (from
-- initiated or ringing); emits call.ended. The leg gets the media counters media-fork
-- reported when it released the leg (NULL when it never answered). Asking to end a call
-- in a state that cannot move that way raises call_not_in_required_state; a call already
-- over changes nothing (false).
CREATE FUNCTION cc_call_ended(p_call text, p_node text, p_ms bigint, p_status text,
                              p_reason text, p_initiator text, p_sip_status int,
                              p_packets_in bigint, p_packets_out bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    c calls;
    v_leg text; -- the first leg, looked up once
BEGIN
    SELECT * INTO c FROM calls WHERE id = p_call AND node_id = p_node FOR UPDATE;
    IF NOT FOUND OR c.status IN ('ended', 'failed') THEN
        RETURN false;
    END IF;
    v_leg := (cc_first_leg(p_call)).id;
    UPDATE call_legs SET rtp_packets_in = coalesce(p_packets_in, rtp_packets_in),
                         rtp_packets_out = coalesce(p_packets_out, rtp_packets_out)
     WHERE id = v_leg;
    IF p_status = 'failed' AND c.status IN ('initiated', 'ringing') THEN
        PERFORM cc_fail(p_call, p_ms, p_reason, p_initiator, p_sip_status);
        RETURN true;
    END IF;
    IF p_status <> 'ended' OR c.status NOT IN ('answered', 'bridged') THEN
        PERFORM voepy_raise('call_not_in_required_state', 'status',
                            format('call %s is %s: it cannot become %s', c.id, c.status, p_status));
    END IF;
    UPDATE calls SET status = 'ended', ended_at = voepy_ms(p_ms), end_reason = p_reason,
                     end_initiator = p_initiator,
                     sip_status = coalesce(p_sip_status, sip_status), updated_at = now()
     WHERE id = p_call
    RETURNING * INTO c;
    UPDATE call_legs SET status = 'ended', ended_at = voepy_ms(p_ms), end_reason = p_reason
     WHERE id = v_leg AND status NOT IN ('ended', 'failed');
    PERFORM voepy_emit(c.tenant_id, c.id, 'call.ended', voepy_call_event_data(c));
    RETURN true;
END $$;

-- Initiated calls nobody claimed for p_older_ms (their dial command was lost): the
-- oldest first, at most p_limit. Claiming stays cc_claim_call's job.
CREATE FUNCTION cc_sweep_unclaimed(p_older_ms int, p_limit int)
RETURNS TABLE (call_id text, tenant_id text)
LANGUAGE sql STABLE AS $$
    SELECT c.id, c.tenant_id FROM calls c
     WHERE c.node_id IS NULL AND c.status = 'initiated'
       AND c.initiated_at < now() - p_older_ms * interval '1 millisecond'
     ORDER BY c.initiated_at
     LIMIT p_limit
$$;

-- A node restarted under the same id ends the calls of its earlier life with
-- cc_recover_node, and survivors end the calls of a node that died with cc_takeover_dead:
-- both in proto/sql/0023_node_takeover.sql, with the node heartbeats they share.
