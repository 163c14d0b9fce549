-- api-gateway: API keys with scopes, /v1/whoami, and per-tenant rate limits
-- (services/api-gateway/keys.c, auth.c, ratelimit.c). Conventions as in 0010_api.sql.
--
-- A key is active while revoked_at IS NULL and (expires_at IS NULL OR expires_at > now()).
-- Revoking sets revoked_at; rotating makes a new key with the same name, scopes and
-- expires_at and ends the old one: at once (revoked_at) or after a grace period
-- (expires_at). The plaintext of a key never reaches the database: the gateway makes it,
-- passes its SHA-256 and prefix, and puts the key into the first answer itself. The stored
-- idempotent replay of a creation or rotation therefore carries "key": null.
--
-- Changes to shared tables: api_keys gains expires_at and last_used_at. The tenants'
-- rate limits (api_requests_per_second, calls_per_minute) are columns of tenants (0001),
-- shown by voepy_tenant_json (0002) and set by api_admin_tenant_update (0010).

ALTER TABLE api_keys
    ADD COLUMN expires_at   timestamptz,
    ADD COLUMN last_used_at timestamptz;
CREATE INDEX api_keys_tenant_created ON api_keys (tenant_id, created_at DESC, id DESC);

-- An API key as the API shows it: never the hash (and the plaintext only in the answer
-- that made it, added by the gateway).
CREATE FUNCTION voepy_api_key_json(k api_keys) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', k.id, 'name', k.name, 'prefix', k.prefix, 'scopes', to_json(k.scopes),
        'created_at', voepy_ts(k.created_at), 'revoked_at', voepy_ts(k.revoked_at),
        'expires_at', voepy_ts(k.expires_at), 'last_used_at', voepy_ts(k.last_used_at))
$$;

-- The stored replay of an answer that showed a key: the same resource, "key": null.
CREATE FUNCTION api_key_replay_body(k api_keys) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT left(voepy_api_key_json(k)::text, -1) || ',"key":null}'
$$;

-- Whether a key holding p_held may act with p_want: "*" holds all, a scope holds itself,
-- "x:write" holds "x:read". Mirrors apikey_scope_held() in services/api-gateway/apikey.c.
CREATE FUNCTION api_scope_held(p_held text[], p_want text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT '*' = ANY (p_held) OR p_want = ANY (p_held)
        OR (p_want LIKE '%:read' AND
            regexp_replace(p_want, ':read$', ':write') = ANY (p_held))
$$;

CREATE FUNCTION api_key_active(k api_keys) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
$$;

-- ---------------------------------------------------------------------------------------
-- Authentication

-- Everything a request needs to know about its key (by SHA-256): no row for unknown,
-- revoked or expired keys. key_expires_ms lets the gateway's cache honour an expiry that
-- falls while an entry is cached. last_used_at is written at most once a minute per key
-- (the UPDATE's condition makes every other lookup a read).
CREATE FUNCTION api_auth_key(p_key_hash text)
RETURNS TABLE (tenant_id text, key_id text, tenant_status text, scopes text, key_prefix text,
               tenant_name text, api_requests_per_second int, calls_per_minute int,
               key_expires_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
    k api_keys;
    t tenants;
BEGIN
    SELECT * INTO k FROM api_keys x WHERE x.key_hash = p_key_hash;
    IF NOT FOUND OR NOT api_key_active(k) THEN
        RETURN;
    END IF;
    SELECT * INTO t FROM tenants x WHERE x.id = k.tenant_id;
    UPDATE api_keys x SET last_used_at = now()
     WHERE x.id = k.id AND (x.last_used_at IS NULL OR x.last_used_at < now() - interval '1 minute');
    RETURN QUERY SELECT k.tenant_id, k.id, t.status, array_to_string(k.scopes, ' '), k.prefix,
                        t.name, t.api_requests_per_second, t.calls_per_minute,
                        (extract(epoch FROM k.expires_at) * 1000)::bigint;
END $$;

-- GET /v1/whoami.
CREATE FUNCTION api_whoami(p_tenant text, p_key_id text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    k api_keys;
    t tenants;
BEGIN
    SELECT * INTO k FROM api_keys x WHERE x.id = p_key_id AND x.tenant_id = p_tenant;
    SELECT * INTO t FROM tenants x WHERE x.id = p_tenant;
    IF k.id IS NULL OR t.id IS NULL THEN
        PERFORM voepy_raise('unauthorized', NULL, 'The API key is not valid (unknown or revoked).');
    END IF;
    RETURN QUERY SELECT 200, json_build_object(
        'tenant_id', t.id, 'tenant_name', t.name, 'key_id', k.id, 'key_prefix', k.prefix,
        'scopes', to_json(k.scopes),
        'rate_limits', json_build_object('api_requests_per_second', t.api_requests_per_second,
                                         'calls_per_minute', t.calls_per_minute,
                                         'calls_per_second', t.calls_per_second,
                                         'max_concurrent_calls', t.max_concurrent_calls))::text;
END $$;

-- ---------------------------------------------------------------------------------------
-- Keys (/v1/api_keys)

-- POST /v1/api_keys. p_scopes are known scopes the calling key holds (checked by the
-- gateway); duplicates are dropped, the first occurrence keeps its place.
CREATE FUNCTION api_key_create(p_tenant text, p_name text, p_scopes text[], p_expires_secs int,
                               p_key_hash text, p_key_prefix text, p_path text, p_key text,
                               p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    k api_keys;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    INSERT INTO api_keys (id, tenant_id, key_hash, prefix, name, scopes, expires_at)
    VALUES (voepy_id('key'), p_tenant, p_key_hash, p_key_prefix, p_name,
            ARRAY(SELECT s FROM unnest(p_scopes) WITH ORDINALITY AS u(s, n)
                   GROUP BY s ORDER BY min(n)),
            now() + p_expires_secs * interval '1 second')
    RETURNING * INTO k;
    PERFORM idem_finish(p_tenant, 'POST', p_path, p_key, 201, api_key_replay_body(k));
    RETURN QUERY SELECT 201, voepy_api_key_json(k)::text, false;
END $$;

-- GET /v1/api_keys: every key of the tenant, revoked and expired ones too, newest first.
CREATE FUNCTION api_keys_list(p_tenant text, p_cursor text, p_limit int)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur record;
BEGIN
    SELECT * INTO cur FROM api_cursor_parse(p_cursor);
    RETURN QUERY SELECT 200, api_page(ARRAY(
        SELECT (k.created_at, k.id, voepy_api_key_json(k))::api_page_row FROM api_keys k
         WHERE k.tenant_id = p_tenant
           AND (cur.t IS NULL OR (k.created_at, k.id) < (cur.t, cur.id))
         ORDER BY k.created_at DESC, k.id DESC
         LIMIT p_limit + 1), p_limit);
END $$;

CREATE FUNCTION api_key_get(p_tenant text, p_id text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    k api_keys;
BEGIN
    SELECT * INTO k FROM api_keys x WHERE x.id = p_id AND x.tenant_id = p_tenant;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No API key with this id.');
    END IF;
    RETURN QUERY SELECT 200, voepy_api_key_json(k)::text;
END $$;

-- The tenant's key p_id, locked, with the tenant row locked first: key changes of one
-- tenant are serialised, so two revocations cannot both see "another key is active".
CREATE FUNCTION api_key_lock(p_tenant text, p_id text) RETURNS api_keys
LANGUAGE plpgsql AS $$
DECLARE
    k api_keys;
BEGIN
    PERFORM 1 FROM tenants t WHERE t.id = p_tenant FOR UPDATE;
    SELECT * INTO k FROM api_keys x WHERE x.id = p_id AND x.tenant_id = p_tenant FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No API key with this id.');
    END IF;
    RETURN k;
END $$;

-- POST /v1/api_keys/{id}/rotate: a new key with the old one's name, scopes and expires_at
-- (rotation never extends a key's life); the old key ends now (grace 0: revoked_at) or
-- after p_grace seconds (expires_at, never later than it already was). The calling key
-- must hold every scope of the rotated key (p_caller_scopes), since the answer hands out
-- a key with them. Revoked or expired keys cannot be rotated (conflict).
CREATE FUNCTION api_key_rotate(p_tenant text, p_id text, p_caller_scopes text[], p_grace int,
                               p_key_hash text, p_key_prefix text, p_path text, p_key text,
                               p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    old api_keys;
    k api_keys;
    v_missing text;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    old := api_key_lock(p_tenant, p_id);
    IF NOT api_key_active(old) THEN
        PERFORM voepy_raise('conflict', NULL, 'This API key is revoked or expired; create a new one instead.');
    END IF;
    SELECT s INTO v_missing FROM unnest(old.scopes) s
     WHERE NOT api_scope_held(p_caller_scopes, s) LIMIT 1;
    IF v_missing IS NOT NULL THEN
        PERFORM voepy_raise('insufficient_scope', NULL,
                            'Rotating this key needs the scope ' || v_missing ||
                            ', which the calling key does not hold.');
    END IF;
    INSERT INTO api_keys (id, tenant_id, key_hash, prefix, name, scopes, expires_at)
    VALUES (voepy_id('key'), p_tenant, p_key_hash, p_key_prefix, old.name, old.scopes,
            old.expires_at)
    RETURNING * INTO k;
    IF p_grace = 0 THEN
        UPDATE api_keys x SET revoked_at = now() WHERE x.id = old.id;
    ELSE
        UPDATE api_keys x SET expires_at = least(x.expires_at, now() + p_grace * interval '1 second')
         WHERE x.id = old.id;
    END IF;
    PERFORM idem_finish(p_tenant, 'POST', p_path, p_key, 201, api_key_replay_body(k));
    RETURN QUERY SELECT 201, voepy_api_key_json(k)::text, false;
END $$;

-- DELETE /v1/api_keys/{id}: revoke (200 with the key in its final state). Revoking a key
-- that is already revoked answers it unchanged. The tenant's last active key cannot be
-- revoked (conflict): that would lock the account out of its own API; rotate it instead.
CREATE FUNCTION api_key_revoke(p_tenant text, p_id text, p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    k api_keys;
    v_body text;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'DELETE', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    k := api_key_lock(p_tenant, p_id);
    IF k.revoked_at IS NULL THEN
        IF api_key_active(k) AND NOT EXISTS (
               SELECT 1 FROM api_keys x WHERE x.tenant_id = p_tenant AND x.id <> k.id
                  AND api_key_active(x)) THEN
            PERFORM voepy_raise('conflict', NULL,
                                'This is the account''s last active API key; create or rotate '
                                'to another key before revoking it.');
        END IF;
        UPDATE api_keys x SET revoked_at = now() WHERE x.id = k.id RETURNING * INTO k;
    END IF;
    v_body := voepy_api_key_json(k)::text;
    PERFORM idem_finish(p_tenant, 'DELETE', p_path, p_key, 200, v_body);
    RETURN QUERY SELECT 200, v_body, false;
END $$;
