-- Trunk registration (RFC 3261 10, issue 4 "optional registration"): a route with
-- register = true is kept registered by one call-control node at a time
-- (services/call-control/route_register.c).
--
-- One node registers a route at a time: the node that holds the route's lease
-- (route_registrations.holder_node while lease_until is in the future). Nodes renew
-- their leases every round; a node that stops or dies lets its leases lapse and another
-- node takes the route over. The lease is taken with one INSERT .. ON CONFLICT DO UPDATE
-- .. WHERE lease expired or mine: the row lock makes two nodes racing for a route see
-- each other, so exactly one gets it.

-- The routes' register and register_expires_secs columns are in 0022_routes.sql, with the
-- operator's rendering (voepy_route_admin_json: register, register_expires_secs and the
-- registration below) and PATCH /admin/v1/routes/{id}.

CREATE TABLE route_registrations (
    route_id    text PRIMARY KEY REFERENCES routes(id) ON DELETE CASCADE,
    holder_node text NOT NULL,
    lease_until timestamptz NOT NULL,
    status      text NOT NULL DEFAULT 'unregistered'
                CHECK (status IN ('registered', 'failed', 'unregistered')),
    expires_at  timestamptz,  -- when the registrar's binding ends (registered only)
    last_error  text,         -- "403 Forbidden", "timeout", ... (failed only)
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The registration as the operator sees it: null for a route that does not register;
-- a binding whose expiry has passed (its node died) is 'unregistered'.
CREATE FUNCTION voepy_route_registration_json(r routes) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN NOT r.register THEN NULL
           ELSE coalesce((SELECT json_build_object(
                    'status', CASE WHEN g.status = 'registered' AND g.expires_at <= now()
                                   THEN 'unregistered' ELSE g.status END,
                    'expires_at', CASE WHEN g.status = 'registered' AND g.expires_at > now()
                                       THEN voepy_ts(g.expires_at) END,
                    'last_error', g.last_error)
                  FROM route_registrations g WHERE g.route_id = r.id),
                json_build_object('status', 'unregistered', 'expires_at', NULL,
                                  'last_error', NULL)) END
$$;

-- POST /admin/v1/routes with the registration fields: 0010's api_admin_route_create,
-- then the two columns set on the new row and the answer (and its idempotent copy)
-- rendered again. A replay answers what was stored. register needs auth_username.
CREATE FUNCTION api_admin_route_create_reg(p_register boolean, p_expires int, p_name text,
                                           p_sip_uri text, p_transport text,
                                           p_default boolean, p_path text, p_key text,
                                           p_hash text, p_auth_username text,
                                           p_auth_password text, p_auth_realm text,
                                           p_failover text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    c record;
    r routes;
BEGIN
    IF coalesce(p_register, false) AND p_auth_username IS NULL THEN
        PERFORM voepy_raise('invalid_parameter', 'register',
                            'register needs auth_username and auth_password: the REGISTER '
                            'is sent as sip:<auth_username>@<route host>.');
    END IF;
    IF p_expires IS NOT NULL AND p_expires NOT BETWEEN 60 AND 86400 THEN
        PERFORM voepy_raise('invalid_parameter', 'register_expires_secs',
                            'register_expires_secs must be between 60 and 86400.');
    END IF;
    SELECT * INTO c FROM api_admin_route_create(p_name, p_sip_uri, p_transport, p_default,
                                                p_path, p_key, p_hash, p_auth_username,
                                                p_auth_password, p_auth_realm, p_failover) x;
    IF c.http_status = 201 AND NOT c.replayed THEN
        UPDATE routes x SET register = coalesce(p_register, false),
                            register_expires_secs = coalesce(p_expires, 3600)
         WHERE x.id = c.http_body::json->>'id'
        RETURNING * INTO r;
        c.http_body := voepy_route_admin_json(r)::text;
        PERFORM idem_finish('admin', 'POST', p_path, p_key, 201, c.http_body);
    END IF;
    RETURN QUERY SELECT c.http_status, c.http_body, c.replayed;
END $$;

-- A round of node p_node (at p_ms): take or renew the lease, for p_lease_ms, of every
-- route that registers and whose lease has lapsed or is ours already. Answers the routes
-- this node now holds, with what registering needs. (A draining node stops calling this
-- and gives its leases up with cc_route_reg_state.)
CREATE FUNCTION cc_route_reg_lease(p_node text, p_ms bigint, p_lease_ms int)
RETURNS TABLE (route_id text, sip_uri text, transport text, auth_username text,
               auth_password text, auth_realm text, register_expires_secs int)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO route_registrations AS g (route_id, holder_node, lease_until)
    SELECT r.id, p_node, voepy_ms(p_ms + p_lease_ms)
      FROM routes r WHERE r.register
    ON CONFLICT ON CONSTRAINT route_registrations_pkey DO UPDATE
       SET holder_node = p_node, lease_until = excluded.lease_until, updated_at = now()
     WHERE g.holder_node = p_node OR g.lease_until < voepy_ms(p_ms);
    RETURN QUERY
    SELECT r.id, r.sip_uri, r.transport, r.auth_username, r.auth_password, r.auth_realm,
           r.register_expires_secs
      FROM route_registrations g JOIN routes r ON r.id = g.route_id
     WHERE g.holder_node = p_node AND g.lease_until > voepy_ms(p_ms) AND r.register
     ORDER BY r.created_at, r.id;
END $$;

-- What a REGISTER of the lease holder p_node came to: p_status 'registered' (the
-- binding ends at p_expires_ms), 'failed' (p_error says why) or 'unregistered'.
-- p_release gives the lease up (a drain after its unregister). False when p_node
-- no longer holds the route. A report that comes after the lease was given up changes
-- nothing: the node's reports may run on different pool connections, so a refresh's
-- 'registered' sent just before a drain can land after the drain's release.
CREATE FUNCTION cc_route_reg_state(p_node text, p_route text, p_status text,
                                   p_expires_ms bigint, p_error text, p_release boolean)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    UPDATE route_registrations g
       SET status = p_status,
           expires_at = CASE WHEN p_status = 'registered' THEN voepy_ms(p_expires_ms) END,
           last_error = CASE WHEN p_status = 'failed' THEN p_error END,
           lease_until = CASE WHEN p_release THEN now() ELSE g.lease_until END,
           updated_at = now()
     WHERE g.route_id = p_route AND g.holder_node = p_node
       AND (p_release OR g.lease_until > now());
    RETURN FOUND;
END $$;
