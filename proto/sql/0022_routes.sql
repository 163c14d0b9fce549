-- Routes as call-control dials them: digest credentials, a failover route, and the
-- health each call-control node sees through its OPTIONS keep-alive (issue 4).
--
-- The route columns (auth_username, auth_password, auth_realm, failover_route_id) are in
-- 0001's routes table; the operator sets them with POST /admin/v1/routes (0010). The
-- password leaves the database only towards call-control (cc_claim_call_routed), never
-- in an API answer.

-- What each node last saw of each route. A node writes its rows every keep-alive round
-- (cc_route_health); a row whose expires_at has passed (a node that stopped or died, or
-- turned keep-alives off) no longer counts.
CREATE TABLE route_health (
    route_id   text NOT NULL REFERENCES routes(id) ON DELETE CASCADE,
    node_id    text NOT NULL,
    up         boolean NOT NULL,
    failures   int NOT NULL DEFAULT 0,   -- OPTIONS that failed in a row
    checked_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (route_id, node_id)
);

-- A route's health over the nodes whose report still holds: 'up' when one of them
-- reaches it, 'down' when all of them fail to, 'unknown' when none reports.
CREATE FUNCTION voepy_route_health(p_route text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN count(*) = 0 THEN 'unknown'
                WHEN bool_or(h.up) THEN 'up'
                ELSE 'down' END
      FROM route_health h WHERE h.route_id = p_route AND h.expires_at > now()
$$;

-- The operator's view of a route (0010's admin functions): voepy_route_json and the
-- routing fields. auth_password is write-only: has_auth_password says whether one is set.
CREATE FUNCTION voepy_route_admin_json(r routes) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT (voepy_route_json(r)::jsonb || jsonb_build_object(
        'auth_username', r.auth_username, 'auth_realm', r.auth_realm,
        'has_auth_password', r.auth_password IS NOT NULL,
        'failover_route_id', r.failover_route_id,
        'health', voepy_route_health(r.id),
        'health_checked_at', (SELECT voepy_ts(max(h.checked_at)) FROM route_health h
                               WHERE h.route_id = r.id AND h.expires_at > now())))::json
$$;

-- cc_claim_call (0020) with what dialling needs beyond the route's URI: its credentials,
-- and the failover route with its own. One round trip for the claim, as before.
CREATE FUNCTION cc_claim_call_routed(p_call text, p_node text, p_ms bigint)
RETURNS TABLE (outcome text, call_id text, tenant_id text, leg_id text, from_number text,
               to_number text, route_id text, sip_uri text, transport text,
               timeout_secs int, time_limit_secs int, auth_username text, auth_password text,
               auth_realm text, failover_route_id text, failover_sip_uri text,
               failover_transport text, failover_auth_username text,
               failover_auth_password text, failover_auth_realm text)
LANGUAGE sql AS $$
    SELECT c.*, r.auth_username, r.auth_password, r.auth_realm, f.id, f.sip_uri, f.transport,
           f.auth_username, f.auth_password, f.auth_realm
      FROM cc_claim_call(p_call, p_node, p_ms) c
      LEFT JOIN routes r ON r.id = c.route_id
      LEFT JOIN routes f ON f.id = r.failover_route_id
$$;

-- The route that carries the call after all (its failover), while it is not yet over.
-- No event: route_id shows on the call resource and in call.ended.
CREATE FUNCTION cc_call_route(p_call text, p_node text, p_route text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    UPDATE calls SET route_id = p_route, updated_at = now()
     WHERE id = p_call AND node_id = p_node AND status IN ('initiated', 'ringing')
       AND EXISTS (SELECT 1 FROM routes r WHERE r.id = p_route);
    RETURN FOUND;
END $$;

-- A keep-alive round of node p_node: p_report is [{"route_id", "up", "failures"}, ...]
-- (what it saw of each route it pinged), valid for p_ttl_ms. Answers every route, with
-- its failover, for the next round.
CREATE FUNCTION cc_route_health(p_node text, p_ms bigint, p_ttl_ms int, p_report jsonb)
RETURNS TABLE (route_id text, sip_uri text, transport text, failover_route_id text)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO route_health AS h (route_id, node_id, up, failures, checked_at, expires_at)
    SELECT e->>'route_id', p_node, (e->>'up')::boolean, coalesce((e->>'failures')::int, 0),
           voepy_ms(p_ms), voepy_ms(p_ms + p_ttl_ms)
      FROM jsonb_array_elements(coalesce(p_report, '[]'::jsonb)) e
     WHERE EXISTS (SELECT 1 FROM routes r WHERE r.id = e->>'route_id')
    ON CONFLICT ON CONSTRAINT route_health_pkey DO UPDATE
       SET up = excluded.up, failures = excluded.failures, checked_at = excluded.checked_at,
           expires_at = excluded.expires_at;
    RETURN QUERY SELECT r.id, r.sip_uri, r.transport, r.failover_route_id
                   FROM routes r ORDER BY r.created_at, r.id;
END $$;
