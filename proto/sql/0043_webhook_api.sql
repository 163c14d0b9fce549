-- api-gateway, webhooks (issue 7): secret rotation, Ed25519 key pairs, the call-URL secret
-- and per-call webhook URLs, and the delivery log with retries and replays
-- (services/api-gateway/webhooks.c and webhook_log.c). Conventions as in 0010_api.sql:
-- one function per operation answering (http_status, http_body[, replayed]), idempotency
-- claimed with idem_begin() and stored with idem_finish() in the same transaction, and
-- every lookup filtered on the tenant (another tenant's id is not_found).
--
-- Hidden endpoints (kind 'call_url', 0041) stand for a webhook_url given at call creation:
-- the API never lists, shows, changes or deletes them, so every endpoint operation here
-- looks only at kind 'subscription'. Every endpoint operation of the API is here (create,
-- list, get, update, delete and the issue 7 ones); the Ed25519 keys are made by the
-- gateway (libsodium).

-- ---------------------------------------------------------------------------------------
-- Endpoints

-- A tenant's subscription endpoint, or not_found. Deleted endpoints are found only when
-- p_with_deleted: their delivery log stays readable, and retries on them are conflicts.
CREATE FUNCTION api_webhook_find(p_tenant text, p_id text, p_with_deleted boolean)
RETURNS webhook_endpoints
LANGUAGE plpgsql STABLE AS $$
DECLARE
    w webhook_endpoints;
BEGIN
    SELECT * INTO w FROM webhook_endpoints x
     WHERE x.id = p_id AND x.tenant_id = p_tenant AND x.kind = 'subscription'
       AND (p_with_deleted OR x.deleted_at IS NULL);
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No webhook endpoint with this id.');
    END IF;
    RETURN w;
END $$;

-- POST /v1/webhooks: the secret (and, with ed25519_signing, the key pair) is made by the
-- gateway; the secret is shown in this answer only. p_ed25519_sk/pk are NULL without
-- ed25519_signing.
CREATE FUNCTION api_webhook_create(p_tenant text, p_url text, p_events text[], p_name text,
                                   p_secret text, p_ed25519_sk text, p_ed25519_pk text,
                                   p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    w webhook_endpoints;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    INSERT INTO webhook_endpoints (id, tenant_id, url, name, events, secret, ed25519_secret_key,
                                   ed25519_public_key)
    VALUES (voepy_id('whk'), p_tenant, p_url, p_name, coalesce(p_events, '{*}'), p_secret,
            p_ed25519_sk, p_ed25519_pk)
    RETURNING * INTO w;
    v_body := json_build_object('webhook', voepy_webhook_json(w), 'secret', w.secret)::text;
    PERFORM idem_finish(p_tenant, 'POST', p_path, p_key, 201, v_body);
    RETURN QUERY SELECT 201, v_body, false;
END $$;

-- GET /v1/webhooks: the tenant's subscription endpoints that are not deleted, oldest
-- first, cursor pagination.
CREATE FUNCTION api_webhooks_list(p_tenant text, p_cursor text, p_limit int)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur record;
BEGIN
    SELECT * INTO cur FROM api_cursor_parse(p_cursor);
    RETURN QUERY SELECT 200, api_page(ARRAY(
        SELECT (w.created_at, w.id, voepy_webhook_json(w))::api_page_row FROM webhook_endpoints w
         WHERE w.tenant_id = p_tenant AND w.deleted_at IS NULL AND w.kind = 'subscription'
           AND (cur.t IS NULL OR (w.created_at, w.id) > (cur.t, cur.id))
         ORDER BY w.created_at, w.id
         LIMIT p_limit + 1), p_limit);
END $$;

CREATE FUNCTION api_webhook_get(p_tenant text, p_id text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT 200, voepy_webhook_json(api_webhook_find(p_tenant, p_id, false))::text;
END $$;

-- DELETE /v1/webhooks/{id} (204): deliveries stop; the row stays for the delivery log.
CREATE FUNCTION api_webhook_delete(p_tenant text, p_id text, p_path text, p_key text,
                                              p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'DELETE', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    UPDATE webhook_endpoints x SET deleted_at = now(), active = false
     WHERE x.id = p_id AND x.tenant_id = p_tenant AND x.deleted_at IS NULL
       AND x.kind = 'subscription';
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No webhook endpoint with this id.');
    END IF;
    PERFORM idem_finish(p_tenant, 'DELETE', p_path, p_key, 204, '');
    RETURN QUERY SELECT 204, ''::text, false;
END $$;

-- PATCH /v1/webhooks/{id}: the members present in p_req change (url and events checked by
-- the gateway; p_events is events as an array, NULL for a null events = all).
-- active: true on a disabled endpoint re-enables it: the dispatcher's notes (why and when
-- it disabled it, since when it failed, the slow-down) are cleared; on an endpoint that is
-- active it changes nothing, so that it cannot restart the clock of a failing endpoint.
-- ed25519_signing: true keeps an existing key pair (the one receivers already trust) or
-- takes p_ed25519_sk/pk, made by the gateway; false removes the pair.
CREATE FUNCTION api_webhook_update(p_tenant text, p_id text, p_req jsonb, p_events text[],
                                   p_ed25519_sk text, p_ed25519_pk text,
                                   p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    w webhook_endpoints;
    v_on boolean := coalesce((p_req->>'active')::boolean, false);
    v_ed text := CASE WHEN NOT p_req ? 'ed25519_signing' THEN 'keep'
                      WHEN (p_req->>'ed25519_signing')::boolean THEN 'on' ELSE 'off' END;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'PATCH', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    UPDATE webhook_endpoints x SET
        url = CASE WHEN p_req ? 'url' THEN p_req->>'url' ELSE x.url END,
        name = CASE WHEN p_req ? 'name' THEN p_req->>'name' ELSE x.name END,
        events = CASE WHEN p_req ? 'events' THEN coalesce(p_events, '{*}') ELSE x.events END,
        active = CASE WHEN p_req ? 'active' THEN (p_req->>'active')::boolean ELSE x.active END,
        disabled_reason = CASE WHEN v_on AND NOT x.active THEN NULL ELSE x.disabled_reason END,
        disabled_at = CASE WHEN v_on AND NOT x.active THEN NULL ELSE x.disabled_at END,
        failing_since = CASE WHEN v_on AND NOT x.active THEN NULL ELSE x.failing_since END,
        paused_until = CASE WHEN v_on AND NOT x.active THEN NULL ELSE x.paused_until END,
        slowdowns = CASE WHEN v_on AND NOT x.active THEN 0 ELSE x.slowdowns END,
        ed25519_secret_key = CASE v_ed WHEN 'keep' THEN x.ed25519_secret_key WHEN 'off' THEN NULL
                                       ELSE coalesce(x.ed25519_secret_key, p_ed25519_sk) END,
        ed25519_public_key = CASE v_ed WHEN 'keep' THEN x.ed25519_public_key WHEN 'off' THEN NULL
                                       WHEN 'on' THEN CASE WHEN x.ed25519_secret_key IS NULL
                                                           THEN p_ed25519_pk
                                                           ELSE x.ed25519_public_key END END
     WHERE x.id = p_id AND x.tenant_id = p_tenant AND x.deleted_at IS NULL
       AND x.kind = 'subscription'
    RETURNING * INTO w;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No webhook endpoint with this id.');
    END IF;
    v_body := voepy_webhook_json(w)::text;
    PERFORM idem_finish(p_tenant, 'PATCH', p_path, p_key, 200, v_body);
    RETURN QUERY SELECT 200, v_body, false;
END $$;

-- POST /v1/webhooks/{id}/rotate_secret: p_secret (made by the gateway) signs from now on;
-- the old one keeps signing beside it for p_overlap_s seconds (0: it stops at once), so
-- receivers can switch without dropping a delivery. A second rotation during an overlap
-- ends the first one: only the secret just replaced stays valid.
CREATE FUNCTION api_webhook_rotate_secret(p_tenant text, p_id text, p_secret text,
                                          p_overlap_s int, p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    w webhook_endpoints;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    UPDATE webhook_endpoints x SET
        previous_secret = CASE WHEN p_overlap_s > 0 THEN x.secret END,
        previous_secret_expires_at = CASE WHEN p_overlap_s > 0
                                          THEN now() + p_overlap_s * interval '1 second' END,
        secret = p_secret, secret_rotated_at = now()
     WHERE x.id = p_id AND x.tenant_id = p_tenant AND x.deleted_at IS NULL
       AND x.kind = 'subscription'
    RETURNING * INTO w;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No webhook endpoint with this id.');
    END IF;
    v_body := json_build_object('webhook', voepy_webhook_json(w), 'secret', w.secret,
                                'previous_secret_expires_at',
                                voepy_ts(w.previous_secret_expires_at))::text;
    PERFORM idem_finish(p_tenant, 'POST', p_path, p_key, 200, v_body);
    RETURN QUERY SELECT 200, v_body, false;
END $$;

-- POST /v1/webhooks/call_url_secret: the secret that signs deliveries to per-call webhook
-- URLs. The first request creates it (201); later ones rotate it (200) with an overlap as
-- for an endpoint's secret.
CREATE FUNCTION api_webhook_call_url_secret(p_tenant text, p_secret text, p_overlap_s int,
                                            p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    v_status int := 201;
    s webhook_call_secrets;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    -- A concurrent first request: DO NOTHING waits for it, then the UPDATE rotates its row.
    INSERT INTO webhook_call_secrets (tenant_id, secret) VALUES (p_tenant, p_secret)
    ON CONFLICT (tenant_id) DO NOTHING
    RETURNING * INTO s;
    IF NOT FOUND THEN
        v_status := 200;
        UPDATE webhook_call_secrets x SET
            previous_secret = CASE WHEN p_overlap_s > 0 THEN x.secret END,
            previous_secret_expires_at = CASE WHEN p_overlap_s > 0
                                              THEN now() + p_overlap_s * interval '1 second' END,
            secret = p_secret, rotated_at = now()
         WHERE x.tenant_id = p_tenant
        RETURNING * INTO s;
    END IF;
    v_body := json_build_object('secret', s.secret,
                                'previous_secret_expires_at', voepy_ts(s.previous_secret_expires_at),
                                'created_at', voepy_ts(s.created_at),
                                'rotated_at', voepy_ts(s.rotated_at))::text;
    PERFORM idem_finish(p_tenant, 'POST', p_path, p_key, v_status, v_body);
    RETURN QUERY SELECT v_status, v_body, false;
END $$;

-- ---------------------------------------------------------------------------------------
-- Per-call webhook URLs

-- A call created with options.webhook_url (POST /v1/calls, api_call_create) needs the
-- tenant's call-URL secret, and the hidden endpoint standing for that URL, which the
-- dispatcher's fanout addresses by the call (0042). Runs in the call's transaction, so an
-- error here refuses the call and a call never exists without its endpoint. The endpoint's
-- events stay empty: it receives no event by subscription, only its calls' events; its own
-- secret column is required but unused (wh_signing_secrets signs with the call-URL
-- secret). An endpoint that is active is left alone (no row lock on the hot path); one that
-- was disabled (410, failing for days) is re-enabled by the new call.
CREATE FUNCTION api_call_webhook_url() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_url text := NEW.options->>'webhook_url';
    v_secret text;
BEGIN
    SELECT s.secret INTO v_secret FROM webhook_call_secrets s WHERE s.tenant_id = NEW.tenant_id;
    IF NOT FOUND THEN
        PERFORM voepy_raise('invalid_parameter', 'webhook_url',
                            'webhook_url needs the account''s call-URL signing secret: create it '
                            'once with POST /v1/webhooks/call_url_secret, then place the call.');
    END IF;
    IF EXISTS (SELECT 1 FROM webhook_endpoints e
                WHERE e.tenant_id = NEW.tenant_id AND e.url = v_url AND e.kind = 'call_url'
                  AND e.active AND e.deleted_at IS NULL) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_endpoints (id, tenant_id, url, kind, events, secret)
    VALUES (voepy_id('whk'), NEW.tenant_id, v_url, 'call_url', '{}', v_secret)
    ON CONFLICT (tenant_id, url) WHERE kind = 'call_url' DO UPDATE
       SET active = true, deleted_at = NULL, disabled_reason = NULL, disabled_at = NULL,
           failing_since = NULL, paused_until = NULL, slowdowns = 0;
    RETURN NULL;
END $$;

CREATE TRIGGER calls_webhook_url AFTER INSERT ON calls
    FOR EACH ROW WHEN (NEW.options ? 'webhook_url') EXECUTE FUNCTION api_call_webhook_url();

-- ---------------------------------------------------------------------------------------
-- The delivery log (/v1/webhooks/{id}/deliveries)

-- Attempts shown per delivery, newest first (a delivery retried by hand again and again
-- keeps every attempt in the table; the API shows the latest ones).
CREATE FUNCTION api_delivery_attempts_max() RETURNS int
LANGUAGE sql IMMUTABLE AS 'SELECT 50';

CREATE FUNCTION api_delivery_json(d webhook_deliveries) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', d.id, 'webhook_id', d.endpoint_id, 'event_id', d.event_id,
        'event_type', d.event_type, 'status', d.status, 'attempt_count', d.attempts,
        -- during an attempt (leased) the next one cannot come before its lease ends
        'next_attempt_at', CASE WHEN d.status = 'pending'
                                THEN voepy_ts(greatest(d.next_attempt_at, d.lease_until)) END,
        'created_at', voepy_ts(d.created_at), 'completed_at', voepy_ts(d.completed_at),
        'last_status_code', d.last_status_code, 'last_error', d.last_error, 'replay', d.replay,
        'attempts', (SELECT coalesce(json_agg(json_build_object(
                                'attempt', a.attempt, 'attempted_at', voepy_ts(a.attempted_at),
                                'duration_ms', a.duration_ms, 'status_code', a.status_code,
                                'error', a.error, 'response_body', a.response_body)
                            ORDER BY a.attempted_at DESC, a.id DESC), '[]'::json)
                       FROM (SELECT * FROM webhook_attempts x WHERE x.delivery_id = d.id
                              ORDER BY x.attempted_at DESC, x.id DESC
                              LIMIT api_delivery_attempts_max()) a))
$$;

-- A delivery of a tenant's endpoint (p_webhook already found), or not_found.
CREATE FUNCTION api_delivery_find(p_tenant text, p_webhook text, p_id text, p_lock boolean)
RETURNS webhook_deliveries
LANGUAGE plpgsql AS $$
DECLARE
    d webhook_deliveries;
BEGIN
    IF p_lock THEN
        SELECT * INTO d FROM webhook_deliveries x
         WHERE x.id = p_id AND x.endpoint_id = p_webhook AND x.tenant_id = p_tenant FOR UPDATE;
    ELSE
        SELECT * INTO d FROM webhook_deliveries x
         WHERE x.id = p_id AND x.endpoint_id = p_webhook AND x.tenant_id = p_tenant;
    END IF;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No delivery with this id for this endpoint.');
    END IF;
    RETURN d;
END $$;

-- GET /v1/webhooks/{id}/deliveries: newest first, optionally of one status, cursor
-- pagination (webhook_deliveries_log, 0041). Deleted endpoints keep their log.
CREATE FUNCTION api_webhook_deliveries(p_tenant text, p_webhook text, p_status text,
                                       p_cursor text, p_limit int)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur record;
BEGIN
    PERFORM api_webhook_find(p_tenant, p_webhook, true);
    SELECT * INTO cur FROM api_cursor_parse(p_cursor);
    RETURN QUERY SELECT 200, api_page(ARRAY(
        SELECT (d.created_at, d.id, api_delivery_json(d))::api_page_row FROM webhook_deliveries d
         WHERE d.endpoint_id = p_webhook AND d.tenant_id = p_tenant
           AND (p_status IS NULL OR d.status = p_status)
           AND (cur.t IS NULL OR (d.created_at, d.id) < (cur.t, cur.id))
         ORDER BY d.created_at DESC, d.id DESC
         LIMIT p_limit + 1), p_limit);
END $$;

CREATE FUNCTION api_webhook_delivery_get(p_tenant text, p_webhook text, p_id text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM api_webhook_find(p_tenant, p_webhook, true);
    RETURN QUERY SELECT 200, api_delivery_json(api_delivery_find(p_tenant, p_webhook, p_id, false))::text;
END $$;

-- Retries and replays send only to an endpoint that is active and not deleted.
CREATE FUNCTION api_webhook_must_send(w webhook_endpoints) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF w.deleted_at IS NOT NULL THEN
        PERFORM voepy_raise('conflict', NULL, 'The webhook endpoint was deleted.');
    END IF;
    IF NOT w.active THEN
        PERFORM voepy_raise('conflict', NULL,
                            'The webhook endpoint is disabled: re-enable it with PATCH '
                            '/v1/webhooks/{id} {"active": true} first.');
    END IF;
END $$;

-- POST /v1/webhooks/{id}/deliveries/{delivery_id}/retry (202): the delivery is sent again
-- as a replay (one attempt, then succeeded or failed; never rescheduled, never a second
-- webhook.exhausted), due now. A pending delivery is already on its way: conflict.
CREATE FUNCTION api_webhook_delivery_retry(p_tenant text, p_webhook text, p_id text,
                                           p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    w webhook_endpoints;
    d webhook_deliveries;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    w := api_webhook_find(p_tenant, p_webhook, true);
    d := api_delivery_find(p_tenant, p_webhook, p_id, true);
    PERFORM api_webhook_must_send(w);
    IF d.status = 'pending' THEN
        PERFORM voepy_raise('conflict', NULL,
                            'The delivery is still pending: it will be attempted at next_attempt_at.');
    END IF;
    UPDATE webhook_deliveries x
       SET status = 'pending', replay = true, next_attempt_at = now(), lease_until = NULL,
           completed_at = NULL
     WHERE x.id = d.id
    RETURNING * INTO d;
    v_body := api_delivery_json(d)::text;
    PERFORM idem_finish(p_tenant, 'POST', p_path, p_key, 202, v_body);
    RETURN QUERY SELECT 202, v_body, false;
END $$;

-- POST /v1/webhooks/{id}/deliveries/replay (202): every failed or exhausted delivery of
-- the endpoint created in [since, until) (until NULL: up to now) is sent again as a
-- replay, due now. Returns how many.
CREATE FUNCTION api_webhook_deliveries_replay(p_tenant text, p_webhook text, p_since_ms bigint,
                                              p_until_ms bigint, p_path text, p_key text,
                                              p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    n int;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    PERFORM api_webhook_must_send(api_webhook_find(p_tenant, p_webhook, true));
    UPDATE webhook_deliveries d
       SET status = 'pending', replay = true, next_attempt_at = now(), lease_until = NULL,
           completed_at = NULL
     WHERE d.endpoint_id = p_webhook AND d.tenant_id = p_tenant
       AND d.status IN ('failed', 'exhausted')
       AND d.created_at >= voepy_ms(p_since_ms)
       AND (p_until_ms IS NULL OR d.created_at < voepy_ms(p_until_ms));
    GET DIAGNOSTICS n = ROW_COUNT;
    v_body := json_build_object('replayed', n)::text;
    PERFORM idem_finish(p_tenant, 'POST', p_path, p_key, 202, v_body);
    RETURN QUERY SELECT 202, v_body, false;
END $$;
