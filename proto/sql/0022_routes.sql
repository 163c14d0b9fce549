-- Routes as call-control dials them: digest credentials, a failover route, and the
-- health each call-control node sees through its OPTIONS keep-alive (issue 4).
--
-- The route columns (auth_username, auth_password, auth_realm, failover_route_id) are in
-- 0001's routes table; the operator sets them with POST /admin/v1/routes (0010) and
-- changes them with PATCH /admin/v1/routes/{id} (api_admin_route_update, below). The
-- password leaves the database only towards call-control (cc_claim_call_routed,
-- cc_route_reg_lease), never in an API answer.

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

-- Trunk registration settings (0038_route_registration.sql registers the routes): part
-- of the route's configuration like the credentials, added here, before the renderer
-- below that shows them.
ALTER TABLE routes
    ADD COLUMN register boolean NOT NULL DEFAULT false,
    ADD COLUMN register_expires_secs int NOT NULL DEFAULT 3600
        CHECK (register_expires_secs BETWEEN 60 AND 86400),
    -- To/From of the REGISTER is sip:<auth_username>@<route host>
    ADD CONSTRAINT routes_register_needs_username CHECK (NOT register OR auth_username IS NOT NULL);

-- The operator's view of a route (0010's admin functions): voepy_route_json, the routing
-- fields and the registration. auth_password is write-only: has_auth_password says
-- whether one is set. The body is not checked at creation (check_function_bodies off for
-- this statement only): voepy_route_registration_json reads route_registrations and is
-- created in 0038, before any route can be rendered. Still a sql function, so that
-- PostgreSQL may inline it.
SET check_function_bodies = off;
CREATE FUNCTION voepy_route_admin_json(r routes) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT (voepy_route_json(r)::jsonb || jsonb_build_object(
        'auth_username', r.auth_username, 'auth_realm', r.auth_realm,
        'has_auth_password', r.auth_password IS NOT NULL,
        'failover_route_id', r.failover_route_id,
        'health', voepy_route_health(r.id),
        'health_checked_at', (SELECT voepy_ts(max(h.checked_at)) FROM route_health h
                               WHERE h.route_id = r.id AND h.expires_at > now()),
        'register', r.register,
        'register_expires_secs', r.register_expires_secs,
        'registration', voepy_route_registration_json(r)))::json
$$;
RESET check_function_bodies;

-- Route o with the members of a PATCH body applied (platform_default is the column
-- is_platform_default; a null clears the nullable columns).
CREATE FUNCTION api_route_patched(o routes, p_req jsonb) RETURNS routes
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    r routes := o;
BEGIN
    IF p_req ? 'name' THEN r.name := p_req->>'name'; END IF;
    IF p_req ? 'sip_uri' THEN r.sip_uri := p_req->>'sip_uri'; END IF;
    IF p_req ? 'transport' THEN r.transport := p_req->>'transport'; END IF;
    IF p_req ? 'platform_default' THEN
        r.is_platform_default := coalesce((p_req->>'platform_default')::boolean, false);
    END IF;
    IF p_req ? 'auth_username' THEN r.auth_username := p_req->>'auth_username'; END IF;
    IF p_req ? 'auth_password' THEN r.auth_password := p_req->>'auth_password'; END IF;
    IF p_req ? 'auth_realm' THEN r.auth_realm := p_req->>'auth_realm'; END IF;
    IF p_req ? 'failover_route_id' THEN r.failover_route_id := p_req->>'failover_route_id'; END IF;
    IF p_req ? 'register' THEN r.register := coalesce((p_req->>'register')::boolean, false); END IF;
    IF p_req ? 'register_expires_secs' THEN
        r.register_expires_secs := coalesce((p_req->>'register_expires_secs')::int, 3600);
    END IF;
    RETURN r;
END $$;

-- The rules a route's fields obey together, as 422s naming the field to change.
CREATE FUNCTION api_route_check(r routes) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM api_route_must_exist(r.failover_route_id, 'failover_route_id');
    IF r.failover_route_id = r.id THEN
        PERFORM voepy_raise('invalid_parameter', 'failover_route_id',
                            'failover_route_id names this route itself.');
    END IF;
    IF (r.auth_username IS NULL) <> (r.auth_password IS NULL) THEN
        PERFORM voepy_raise('invalid_parameter',
                            CASE WHEN r.auth_username IS NULL THEN 'auth_username'
                                 ELSE 'auth_password' END,
                            'auth_username and auth_password go together.');
    END IF;
    IF r.auth_realm IS NOT NULL AND r.auth_username IS NULL THEN
        PERFORM voepy_raise('invalid_parameter', 'auth_realm',
                            'auth_realm needs auth_username and auth_password.');
    END IF;
    IF r.register AND r.auth_username IS NULL THEN
        PERFORM voepy_raise('invalid_parameter', 'register',
                            'register needs auth_username and auth_password: the REGISTER '
                            'is sent as sip:<auth_username>@<route host>.');
    END IF;
END $$;

-- PATCH /admin/v1/routes/{id}: only the members present in p_req change (the gateway
-- checked their types and ranges, and sip_uri's form); null clears auth_username,
-- auth_password, auth_realm and failover_route_id. What creation checks holds for the
-- result (0010's api_admin_route_create, 0038's register): the credentials go together,
-- a realm or register needs them, the failover exists and is not the route itself, a new
-- platform default replaces the previous one. A change to what registering uses
-- (register, sip_uri, transport, the credentials, register_expires_secs) sets the
-- registration back to 'unregistered' (0038): the node holding the lease sees the change
-- at its next round, unregisters the old binding and registers anew, or only unregisters
-- when register is now false (services/call-control/route_register.c).
CREATE FUNCTION api_admin_route_update(p_id text, p_req jsonb, p_path text, p_key text,
                                       p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    o routes;
    r routes;
    v_body text;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin('admin', 'PATCH', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    SELECT * INTO o FROM routes x WHERE x.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No route with this id.');
    END IF;
    r := api_route_patched(o, p_req);
    PERFORM api_route_check(r);
    IF r.is_platform_default AND NOT o.is_platform_default THEN
        UPDATE routes x SET is_platform_default = false WHERE x.is_platform_default;
    END IF;
    UPDATE routes x SET name = r.name, sip_uri = r.sip_uri, transport = r.transport,
                        is_platform_default = r.is_platform_default,
                        auth_username = r.auth_username, auth_password = r.auth_password,
                        auth_realm = r.auth_realm, failover_route_id = r.failover_route_id,
                        register = r.register, register_expires_secs = r.register_expires_secs
     WHERE x.id = p_id
    RETURNING * INTO r;
    IF (r.register, r.sip_uri, r.transport, r.auth_username, r.auth_password, r.auth_realm,
        r.register_expires_secs) IS DISTINCT FROM
       (o.register, o.sip_uri, o.transport, o.auth_username, o.auth_password, o.auth_realm,
        o.register_expires_secs) THEN
        UPDATE route_registrations g
           SET status = 'unregistered', expires_at = NULL, last_error = NULL, updated_at = now()
         WHERE g.route_id = p_id;
    END IF;
    v_body := voepy_route_admin_json(r)::text;
    PERFORM idem_finish('admin', 'PATCH', p_path, p_key, 200, v_body);
    RETURN QUERY SELECT 200, v_body, false;
END $$;

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
