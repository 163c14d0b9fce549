-- api-gateway: one function per API operation (services/api-gateway).
--
-- Every function answers with the HTTP status and the body to send, rendered here with the
-- 0002 renderers, so that the first answer and its idempotent replay are the same bytes:
--   http_status int, http_body text [, replayed boolean] [, extra columns]
-- Mutating functions take (p_path, p_key, p_hash): the request path, the Idempotency-Key
-- (NULL without one) and the SHA-256 of method, path and body. They claim the key with
-- idem_begin() before acting and store their answer with idem_finish() in the same
-- transaction, so a retried request never acts twice; a replay returns replayed = true and
-- the stored answer (each function opens with RETURN QUERY ... FROM idem_begin(), which
-- sets FOUND only when there is a stored answer, and then returns). Errors are raised with
-- voepy_raise() and roll the claim back with everything else (an error is not stored: the
-- retry is evaluated again).
--
-- Tenant isolation: every function that reads or changes a tenant's rows takes p_tenant
-- and filters on it; another tenant's id answers not_found. Operator (admin) functions
-- use the idempotency scope 'admin'.

-- Opaque list cursors: base64url("<epoch microseconds>|<id>") of the last row of a page.
CREATE FUNCTION api_cursor(t timestamptz, id text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT rtrim(translate(encode(convert_to(
               (extract(epoch FROM t) * 1000000)::bigint::text || '|' || id, 'UTF8'), 'base64'),
               E'+/\n', '-_'), '=')
$$;

-- The text inside a cursor (api_cursor's "<epoch us>|<position>") when it has p_shape (a
-- regular expression); NULL for a NULL cursor; anything else is the one invalid_parameter
-- every list answers for a bad cursor. Lists whose position is not a voepy id (ledger
-- entries, invoices) check their own shape with it.
CREATE FUNCTION api_cursor_decode(p_cursor text, p_shape text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    s text;
    raw text;
BEGIN
    IF p_cursor IS NULL THEN
        RETURN NULL;
    END IF;
    BEGIN
        s := translate(p_cursor, '-_', '+/');
        s := s || repeat('=', (4 - length(s) % 4) % 4);
        raw := convert_from(decode(s, 'base64'), 'UTF8');
    EXCEPTION WHEN others THEN
        raw := NULL;
    END;
    IF raw IS NULL OR raw !~ p_shape THEN
        PERFORM voepy_raise('invalid_parameter', 'cursor',
                            'cursor must be a next_cursor value returned by this list.');
    END IF;
    RETURN raw;
END $$;

-- The time a decoded cursor records (its "<epoch us>" part).
CREATE FUNCTION api_cursor_time(p_raw text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT timestamptz 'epoch' + split_part(p_raw, '|', 1)::bigint * interval '1 microsecond'
$$;

-- The position a cursor stands for; NULLs for a NULL cursor, invalid_parameter otherwise.
CREATE FUNCTION api_cursor_parse(p_cursor text, OUT t timestamptz, OUT id text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT api_cursor_time(x.raw), split_part(x.raw, '|', 2)
      FROM (SELECT api_cursor_decode(p_cursor, '^[0-9]{1,18}\|voepy_[a-z]+_[0-9A-Z]{26}$') AS raw) x
$$;

-- One row of a list for api_page(): its sort key (what the cursor records) and the
-- resource as the list shows it.
CREATE TYPE api_page_row AS (t timestamptz, id text, r json);

-- The body of one page of a cursor-paginated list. p_rows are the rows after the cursor in
-- list order, at most p_limit + 1 of them (the list function fetches one more than it
-- shows, to know whether another page follows). Answers {"data": [the first p_limit
-- resources], "next_cursor": the cursor of the last one shown, or null when no row follows}.
-- The list functions build p_rows as ARRAY(SELECT ... ORDER BY ... LIMIT p_limit + 1): the
-- order of the array is the list order, and the planner renders a resource only for the
-- rows the LIMIT keeps (a costly expression is evaluated after the sort when there is a
-- LIMIT), so no more than p_limit + 1 resources are rendered.
CREATE FUNCTION api_page(p_rows api_page_row[], p_limit int) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'data', coalesce(json_agg(e.r ORDER BY e.n) FILTER (WHERE e.n <= p_limit), '[]'::json),
        'next_cursor', CASE WHEN count(*) > p_limit
                            THEN api_cursor((p_rows[p_limit]).t, (p_rows[p_limit]).id) END)::text
      FROM unnest(p_rows) WITH ORDINALITY AS e(t, id, r, n)
$$;

-- Money in micros as the operator API shows it: decimal cents text.
CREATE FUNCTION api_micros_text(m bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN m % 1000000 = 0 THEN (m / 1000000)::text
                ELSE rtrim(to_char(m / 1000000, 'FM999999999999990') || '.' ||
                           lpad((m % 1000000)::text, 6, '0'), '0') END
$$;

-- The rate decks' columns of a rate (0031_rate_decks.sql describes the kinds of usage and
-- the effective period; rates_key gains kind): added here, before the renderer below that
-- shows them (a sql function's body is checked when it is created).
ALTER TABLE rates
    ADD COLUMN kind text NOT NULL DEFAULT 'outbound'
        CHECK (kind IN ('outbound', 'inbound', 'transcription', 'amd', 'recording_storage')),
    ADD COLUMN minimum_charge_micros bigint NOT NULL DEFAULT 0 CHECK (minimum_charge_micros >= 0),
    ADD COLUMN effective_to timestamptz,
    ADD CONSTRAINT rates_effective_order CHECK (effective_to IS NULL OR effective_to > effective_from);

DROP INDEX rates_key;
CREATE UNIQUE INDEX rates_key ON rates (coalesce(tenant_id, ''), kind, prefix, effective_from);

-- A rate as the operator API shows it: money in micros rendered as decimal cents text (a
-- minimum charge too), an open start or end of the effective period null.
CREATE FUNCTION api_rate_json(r rates) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', r.id, 'tenant_id', r.tenant_id, 'kind', r.kind, 'prefix', r.prefix,
        'cents_per_minute', api_micros_text(r.micros_per_minute),
        'connection_fee_cents', api_micros_text(r.connection_fee_micros),
        'initial_increment_secs', r.initial_increment_s,
        'subsequent_increment_secs', r.subsequent_increment_s,
        'minimum_charge_cents', api_micros_text(r.minimum_charge_micros),
        'effective_from', CASE WHEN isfinite(r.effective_from) THEN voepy_ts(r.effective_from) END,
        'effective_to', voepy_ts(r.effective_to),
        'created_at', voepy_ts(r.created_at))
$$;

-- ---------------------------------------------------------------------------------------
-- Authentication

-- The tenant of an API key (by its SHA-256): no row for unknown or revoked keys.
CREATE FUNCTION api_auth(p_key_hash text)
RETURNS TABLE (tenant_id text, key_id text, tenant_status text)
LANGUAGE sql STABLE AS $$
    SELECT k.tenant_id, k.id, t.status
      FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
     WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL
$$;

-- ---------------------------------------------------------------------------------------
-- Operator API (/admin/v1)

CREATE FUNCTION api_route_must_exist(p_route text, p_field text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_route IS NOT NULL AND NOT EXISTS (SELECT 1 FROM routes r WHERE r.id = p_route) THEN
        PERFORM voepy_raise('invalid_parameter', p_field, p_field || ' names no route.');
    END IF;
END $$;

-- POST /admin/v1/tenants. The API key itself never reaches the database: the gateway
-- passes its hash and prefix, and puts the key into the first answer itself (http_body is
-- then the tenant alone). The stored replay carries "api_key": null, since the key is
-- shown once and never stored.
CREATE FUNCTION api_admin_tenant_create(p_req jsonb, p_key_hash text, p_key_prefix text,
                                        p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    t tenants;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin('admin', 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    PERFORM api_route_must_exist(p_req->>'default_route_id', 'default_route_id');
    -- the call rules of the request (0014), over the columns' defaults
    t.blocked_countries := '{}';
    t.blocked_prefixes := '{}';
    t := api_rules_apply(t, p_req);
    INSERT INTO tenants (id, name, default_route_id, credit_limit_cents, allow_caller_id_forwarding,
                         allowed_countries, blocked_countries, blocked_prefixes,
                         max_concurrent_calls, calls_per_second)
    VALUES (voepy_id('tenant'), p_req->>'name', p_req->>'default_route_id',
            coalesce((p_req->>'credit_limit_cents')::bigint, 0),
            coalesce((p_req->>'allow_caller_id_forwarding')::boolean, false),
            t.allowed_countries, t.blocked_countries, t.blocked_prefixes,
            t.max_concurrent_calls, t.calls_per_second)
    RETURNING * INTO t;
    INSERT INTO api_keys (id, tenant_id, key_hash, prefix, name)
    VALUES (voepy_id('key'), t.id, p_key_hash, p_key_prefix, 'default');
    PERFORM ledger_account(t.id, 'tenant_balance');
    v_body := voepy_tenant_json(t)::text;
    PERFORM idem_finish('admin', 'POST', p_path, p_key, 201,
                        '{"tenant":' || v_body || ',"api_key":null}');
    RETURN QUERY SELECT 201, v_body, false;
END $$;

-- PATCH /admin/v1/tenants/{id}: only the members present in p_req change; a null
-- default_route_id clears it.
CREATE FUNCTION api_admin_tenant_update(p_id text, p_req jsonb, p_path text, p_key text,
                                        p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    t tenants;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin('admin', 'PATCH', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    PERFORM api_route_must_exist(p_req->>'default_route_id', 'default_route_id');
    -- locked first so that the call rules (0014) apply to its current values
    SELECT * INTO t FROM tenants x WHERE x.id = p_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No tenant with this id.');
    END IF;
    t := api_rules_apply(t, p_req);
    UPDATE tenants x SET
        name = CASE WHEN p_req ? 'name' THEN p_req->>'name' ELSE x.name END,
        default_route_id = CASE WHEN p_req ? 'default_route_id' THEN p_req->>'default_route_id'
                                ELSE x.default_route_id END,
        credit_limit_cents = CASE WHEN p_req ? 'credit_limit_cents'
                                  THEN (p_req->>'credit_limit_cents')::bigint
                                  ELSE x.credit_limit_cents END,
        allow_caller_id_forwarding = CASE WHEN p_req ? 'allow_caller_id_forwarding'
                                          THEN (p_req->>'allow_caller_id_forwarding')::boolean
                                          ELSE x.allow_caller_id_forwarding END,
        status = CASE WHEN p_req ? 'status' THEN p_req->>'status' ELSE x.status END,
        api_requests_per_second = CASE WHEN p_req ? 'api_requests_per_second'
                                       THEN (p_req->>'api_requests_per_second')::int
                                       ELSE x.api_requests_per_second END,
        calls_per_minute = CASE WHEN p_req ? 'calls_per_minute'
                                THEN (p_req->>'calls_per_minute')::int
                                ELSE x.calls_per_minute END,
        allowed_countries = t.allowed_countries,
        blocked_countries = t.blocked_countries,
        blocked_prefixes = t.blocked_prefixes,
        max_concurrent_calls = t.max_concurrent_calls,
        calls_per_second = t.calls_per_second
     WHERE x.id = p_id
    RETURNING * INTO t;
    v_body := voepy_tenant_json(t)::text;
    PERFORM idem_finish('admin', 'PATCH', p_path, p_key, 200, v_body);
    RETURN QUERY SELECT 200, v_body, false;
END $$;

CREATE FUNCTION api_admin_tenant_get(p_id text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t tenants;
BEGIN
    SELECT * INTO t FROM tenants x WHERE x.id = p_id;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No tenant with this id.');
    END IF;
    RETURN QUERY SELECT 200, voepy_tenant_json(t)::text;
END $$;

-- POST /admin/v1/tenants/{id}/credit: payments_clearing -> tenant_balance. The ledger
-- reference is the Idempotency-Key (scoped by tenant) when given, else a new id.
CREATE FUNCTION api_admin_tenant_credit(p_id text, p_amount bigint, p_description text,
                                        p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    t tenants;
    v_ref text;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin('admin', 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    SELECT * INTO t FROM tenants x WHERE x.id = p_id;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No tenant with this id.');
    END IF;
    v_ref := CASE WHEN p_key IS NULL THEN voepy_id('txn') ELSE t.id || ':' || p_key END;
    IF ledger_transfer(t.id, 'credit', 'admin_credit', v_ref,
                       ledger_account(NULL, 'payments_clearing'),
                       ledger_account(t.id, 'tenant_balance'), p_amount,
                       coalesce(p_description, 'Operator credit')) IS NULL THEN
        PERFORM voepy_raise('conflict', 'Idempotency-Key',
                            'A credit with this Idempotency-Key was already posted.');
    END IF;
    v_body := voepy_tenant_json(t)::text;
    PERFORM idem_finish('admin', 'POST', p_path, p_key, 200, v_body);
    RETURN QUERY SELECT 200, v_body, false;
END $$;

-- POST /admin/v1/routes. A new platform default replaces the previous one. The
-- credentials and failover route are call-control's (0022_routes.sql); the password is
-- stored for it and never rendered (voepy_route_admin_json, defined in 0022: these
-- plpgsql bodies resolve it when they run).
CREATE FUNCTION api_admin_route_create(p_name text, p_sip_uri text, p_transport text,
                                       p_default boolean, p_path text, p_key text, p_hash text,
                                       p_auth_username text DEFAULT NULL,
                                       p_auth_password text DEFAULT NULL,
                                       p_auth_realm text DEFAULT NULL,
                                       p_failover text DEFAULT NULL)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    r routes;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin('admin', 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    PERFORM api_route_must_exist(p_failover, 'failover_route_id');
    IF (p_auth_username IS NULL) <> (p_auth_password IS NULL) THEN
        PERFORM voepy_raise('invalid_parameter',
                            CASE WHEN p_auth_username IS NULL THEN 'auth_username'
                                 ELSE 'auth_password' END,
                            'auth_username and auth_password go together.');
    END IF;
    IF p_auth_realm IS NOT NULL AND p_auth_username IS NULL THEN
        PERFORM voepy_raise('invalid_parameter', 'auth_realm',
                            'auth_realm needs auth_username and auth_password.');
    END IF;
    IF p_default THEN
        UPDATE routes x SET is_platform_default = false WHERE x.is_platform_default;
    END IF;
    INSERT INTO routes (id, name, sip_uri, transport, is_platform_default, auth_username,
                        auth_password, auth_realm, failover_route_id)
    VALUES (voepy_id('route'), p_name, p_sip_uri, p_transport, p_default, p_auth_username,
            p_auth_password, p_auth_realm, p_failover)
    RETURNING * INTO r;
    v_body := voepy_route_admin_json(r)::text;
    PERFORM idem_finish('admin', 'POST', p_path, p_key, 201, v_body);
    RETURN QUERY SELECT 201, v_body, false;
END $$;

CREATE FUNCTION api_admin_route_list()
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT 200, json_build_object('data', coalesce(
               (SELECT json_agg(voepy_route_admin_json(r) ORDER BY r.created_at, r.id)
                  FROM routes r),
               '[]'::json))::text;
END $$;

-- POST /admin/v1/numbers: p_numbers is [{"phone_number","country","calling_code"}, ...]
-- (validated and completed by the gateway). All or nothing; a number already in the
-- inventory is a conflict naming it.
CREATE FUNCTION api_admin_numbers_add(p_numbers jsonb, p_route text, p_path text, p_key text,
                                      p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    v_dup text;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin('admin', 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    PERFORM api_route_must_exist(p_route, 'route_id');
    SELECT x.phone_number INTO v_dup
      FROM jsonb_to_recordset(p_numbers) AS x(phone_number text)
     WHERE EXISTS (SELECT 1 FROM phone_numbers n WHERE n.phone_number = x.phone_number)
     LIMIT 1;
    IF v_dup IS NOT NULL THEN
        PERFORM voepy_raise('conflict', 'numbers', v_dup || ' is already in the inventory.');
    END IF;
    BEGIN
        INSERT INTO phone_numbers (id, phone_number, country, calling_code, route_id)
        SELECT voepy_id('num'), e.v->>'phone_number', e.v->>'country', e.v->>'calling_code', p_route
          FROM jsonb_array_elements(p_numbers) WITH ORDINALITY AS e(v, ord)
         ORDER BY e.ord;
    EXCEPTION WHEN unique_violation THEN
        PERFORM voepy_raise('conflict', 'numbers',
                            'A number is listed twice or was added concurrently.');
    END;
    SELECT json_build_object('data', json_agg(voepy_number_json(n) ORDER BY e.ord))::text
      INTO v_body
      FROM jsonb_array_elements(p_numbers) WITH ORDINALITY AS e(v, ord)
      JOIN phone_numbers n ON n.phone_number = e.v->>'phone_number';
    PERFORM idem_finish('admin', 'POST', p_path, p_key, 201, v_body);
    RETURN QUERY SELECT 201, v_body, false;
END $$;

-- POST /admin/v1/rates. Money arrives in micros, parsed by the gateway (never floats).
CREATE FUNCTION api_admin_rate_create(p_tenant text, p_prefix text, p_micros_per_minute bigint,
                                      p_fee_micros bigint, p_initial int, p_subsequent int,
                                      p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    r rates;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin('admin', 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    IF p_tenant IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = p_tenant) THEN
        PERFORM voepy_raise('invalid_parameter', 'tenant_id', 'tenant_id names no tenant.');
    END IF;
    BEGIN
        INSERT INTO rates (id, tenant_id, prefix, micros_per_minute, connection_fee_micros,
                           initial_increment_s, subsequent_increment_s)
        VALUES (voepy_id('rate'), p_tenant, p_prefix, p_micros_per_minute, p_fee_micros,
                p_initial, p_subsequent)
        RETURNING * INTO r;
    EXCEPTION WHEN unique_violation THEN
        PERFORM voepy_raise('conflict', 'prefix', 'A rate for this prefix already exists.');
    END;
    v_body := api_rate_json(r)::text;
    PERFORM idem_finish('admin', 'POST', p_path, p_key, 201, v_body);
    RETURN QUERY SELECT 201, v_body, false;
END $$;

-- ---------------------------------------------------------------------------------------
-- Phone numbers (/v1/phone_numbers)

-- The inventory: area code = digits right after the calling code; contains = anywhere.
CREATE FUNCTION api_numbers_available(p_country text, p_area text, p_contains text, p_limit int)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE sql STABLE AS $$
    SELECT 200, json_build_object('data', coalesce(json_agg(voepy_number_json(s.n)
                                                            ORDER BY (s.n).phone_number),
                                                   '[]'::json))::text
      FROM (SELECT n FROM phone_numbers n
             WHERE n.status = 'available'
               AND (p_country IS NULL OR n.country = p_country)
               AND (p_area IS NULL OR n.phone_number LIKE '+' || n.calling_code || p_area || '%')
               AND (p_contains IS NULL OR strpos(substr(n.phone_number, 2), p_contains) > 0)
             ORDER BY n.phone_number
             LIMIT p_limit) s
$$;

-- POST /v1/phone_numbers: available -> active for this tenant, atomically.
CREATE FUNCTION api_number_buy(p_tenant text, p_number text, p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    n phone_numbers;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    UPDATE phone_numbers x SET tenant_id = p_tenant, status = 'active', purchased_at = now()
     WHERE x.phone_number = p_number AND x.status = 'available'
    RETURNING * INTO n;
    IF NOT FOUND THEN
        PERFORM voepy_raise('number_not_available', 'phone_number',
                            p_number || ' is not available for purchase.');
    END IF;
    v_body := voepy_number_json(n)::text;
    PERFORM idem_finish(p_tenant, 'POST', p_path, p_key, 201, v_body);
    RETURN QUERY SELECT 201, v_body, false;
END $$;

-- GET /v1/phone_numbers: the tenant's numbers, oldest first, cursor pagination.
CREATE FUNCTION api_numbers_list(p_tenant text, p_cursor text, p_limit int)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur record;
BEGIN
    SELECT * INTO cur FROM api_cursor_parse(p_cursor);
    RETURN QUERY SELECT 200, api_page(ARRAY(
        SELECT (n.created_at, n.id, voepy_number_json(n))::api_page_row FROM phone_numbers n
         WHERE n.tenant_id = p_tenant
           AND (cur.t IS NULL OR (n.created_at, n.id) > (cur.t, cur.id))
         ORDER BY n.created_at, n.id
         LIMIT p_limit + 1), p_limit);
END $$;

CREATE FUNCTION api_number_get(p_tenant text, p_id text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    n phone_numbers;
BEGIN
    SELECT * INTO n FROM phone_numbers x WHERE x.id = p_id AND x.tenant_id = p_tenant;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No phone number with this id.');
    END IF;
    RETURN QUERY SELECT 200, voepy_number_json(n)::text;
END $$;

-- DELETE /v1/phone_numbers/{id}: back to the inventory (204).
CREATE FUNCTION api_number_release(p_tenant text, p_id text, p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'DELETE', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    UPDATE phone_numbers x SET tenant_id = NULL, status = 'available', purchased_at = NULL
     WHERE x.id = p_id AND x.tenant_id = p_tenant;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No phone number with this id.');
    END IF;
    PERFORM idem_finish(p_tenant, 'DELETE', p_path, p_key, 204, '');
    RETURN QUERY SELECT 204, ''::text, false;
END $$;

-- ---------------------------------------------------------------------------------------
-- Calls (/v1/calls)

-- The route of a new call: the requested one (must exist), else the tenant's default,
-- else the platform default; none is service_unavailable.
CREATE FUNCTION api_call_route(t tenants, p_route text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v text;
BEGIN
    IF p_route IS NOT NULL THEN
        PERFORM api_route_must_exist(p_route, 'route_id');
        RETURN p_route;
    END IF;
    IF t.default_route_id IS NOT NULL THEN
        RETURN t.default_route_id;
    END IF;
    SELECT r.id INTO v FROM routes r WHERE r.is_platform_default;
    IF v IS NULL THEN
        PERFORM voepy_raise('service_unavailable', NULL,
                            'No route can carry this call: the account has no default route and '
                            'the platform has none. Pass route_id or ask the operator for one.');
    END IF;
    RETURN v;
END $$;

-- The pre-call money check of POST /v1/calls (and of a transfer's child call, 0025): what
-- the tenant may still spend (billing_available_cents, 0033: balance + credit limit minus
-- the holds of live calls) must be above zero and cover the least an answered call to the
-- destination costs (auth_min_answered_cents, 0033, at the outbound rate of
-- rating_find_rate_kind, 0030). See docs/billing.md ("Balance, reservations and cutoff").
--
-- With included minutes of a voice tier left (0036's voice_included_left), a call may be
-- placed on an exhausted balance, and the least it costs is what the included minutes do
-- not cover (rating_cost_cents, 0036): max(minimum charge, connection fee) when they cover
-- the first increment.
--
-- The helpers are created by later migrations: plpgsql resolves them when the function is
-- called, never at creation, and nothing calls it before every migration has run.
CREATE FUNCTION api_call_check_funds(t tenants, p_to text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_available bigint := billing_available_cents(t.id);
    v_left bigint := voice_included_left(t.id);
    r rates := rating_find_rate_kind(t.id, 'outbound', p_to, now());
    v_min bigint;
BEGIN
    IF v_available <= 0 AND v_left <= 0 THEN
        PERFORM voepy_raise('balance_insufficient', NULL,
                            'The balance plus credit limit is exhausted; top up to place new calls.');
    END IF;
    v_min := CASE WHEN r.id IS NOT NULL AND v_left > 0
                  THEN rating_cost_cents(r.micros_per_minute, r.connection_fee_micros,
                                         r.minimum_charge_micros,
                                         greatest(0, r.initial_increment_s - v_left))
                  ELSE auth_min_answered_cents(r) END;
    IF v_available < v_min THEN
        PERFORM voepy_raise('balance_insufficient', NULL,
                            format('The available balance (%s cents) does not cover the minimum '
                                   'charge of a call to this destination (%s cents); top up to '
                                   'place this call.', v_available, v_min));
    END IF;
END $$;

-- POST /v1/calls: checks, the call and its first leg, call.started, the stored answer.
-- p_req is the validated body. After commit the gateway XADDs the dial command (when
-- replayed is false) and kicks the outbox.
CREATE FUNCTION api_call_create(p_tenant text, p_req jsonb, p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean, call_id text)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    t tenants;
    c calls;
    v_from text := p_req->>'from';
    v_route text;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true, NULL::text
                   FROM idem_begin(p_tenant, 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    SELECT * INTO STRICT t FROM tenants x WHERE x.id = p_tenant;
    IF NOT EXISTS (SELECT 1 FROM phone_numbers n WHERE n.tenant_id = p_tenant
                      AND n.phone_number = v_from AND n.status = 'active')
       AND NOT (coalesce((p_req->>'caller_id_forwarding')::boolean, false)
                AND t.allow_caller_id_forwarding) THEN
        PERFORM voepy_raise('from_number_not_owned', 'from',
                            v_from || ' is not an active number on this account and caller-ID '
                            'forwarding is not enabled for it.');
    END IF;
    v_route := api_call_route(t, p_req->>'route_id');
    -- the outbound call rules (0014: countries, prefixes, opt-outs, blocked destinations,
    -- concurrency and calls per second), then the money (0033)
    PERFORM call_rules_check_destination(t, p_req->>'to');
    PERFORM call_rules_check_limits(t);
    PERFORM api_call_check_funds(t, p_req->>'to');
    INSERT INTO calls (id, tenant_id, direction, status, from_number, to_number, route_id, options,
                       timeout_secs, time_limit_secs, customer_reference)
    VALUES (voepy_id('call'), p_tenant, 'outbound', 'initiated', v_from, p_req->>'to', v_route,
            jsonb_strip_nulls(jsonb_build_object(
                'record', coalesce(p_req->>'record', 'off'),
                'record_channels', coalesce(p_req->>'record_channels', 'single'),
                'record_format', coalesce(p_req->>'record_format', 'mp3'),
                'answering_machine_detection', coalesce(p_req->>'answering_machine_detection', 'off'),
                'audio_url', p_req->>'audio_url', 'webhook_url', p_req->>'webhook_url',
                'caller_id_forwarding', coalesce((p_req->>'caller_id_forwarding')::boolean, false))),
            coalesce((p_req->>'timeout_secs')::int, 60), (p_req->>'time_limit_secs')::int,
            p_req->>'customer_reference')
    RETURNING * INTO c;
    INSERT INTO call_legs (id, call_id, tenant_id, direction, status, from_uri, to_uri)
    VALUES (voepy_id('leg'), c.id, p_tenant, 'outbound', 'initiated', c.from_number, c.to_number);
    PERFORM voepy_emit(p_tenant, c.id, 'call.started', voepy_call_event_data(c));
    v_body := voepy_call_json(c, true)::text;
    PERFORM idem_finish(p_tenant, 'POST', p_path, p_key, 201, v_body);
    RETURN QUERY SELECT 201, v_body, false, c.id;
END $$;

CREATE FUNCTION api_call_get(p_tenant text, p_id text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c calls;
BEGIN
    SELECT * INTO c FROM calls x WHERE x.id = p_id AND x.tenant_id = p_tenant;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No call with this id.');
    END IF;
    RETURN QUERY SELECT 200, voepy_call_json(c, true)::text;
END $$;

-- GET /v1/calls: abbreviated calls, newest first; filters AND-combined (NULL = any).
CREATE FUNCTION api_calls_list(p_tenant text, p_status text, p_direction text, p_from text,
                               p_to text, p_after_ms bigint, p_cursor text, p_limit int)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur record;
BEGIN
    SELECT * INTO cur FROM api_cursor_parse(p_cursor);
    RETURN QUERY SELECT 200, api_page(ARRAY(
        SELECT (c.initiated_at, c.id, voepy_call_json(c, false))::api_page_row FROM calls c
         WHERE c.tenant_id = p_tenant
           AND (p_status IS NULL OR c.status = p_status)
           AND (p_direction IS NULL OR c.direction = p_direction)
           AND (p_from IS NULL OR c.from_number = p_from)
           AND (p_to IS NULL OR c.to_number = p_to)
           AND (p_after_ms IS NULL OR c.initiated_at > voepy_ms(p_after_ms))
           AND (cur.t IS NULL OR (c.initiated_at, c.id) < (cur.t, cur.id))
         ORDER BY c.initiated_at DESC, c.id DESC
         LIMIT p_limit + 1), p_limit);
END $$;

-- POST /v1/calls/{id}/actions/hangup: record the request; the gateway then tells the
-- owning node (node_id, when the call is claimed). An unclaimed call is ended by the node
-- that claims it (streams.md).
CREATE FUNCTION api_call_hangup(p_tenant text, p_id text, p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean, node_id text)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    c calls;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true, NULL::text
                   FROM idem_begin(p_tenant, 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    SELECT * INTO c FROM calls x WHERE x.id = p_id AND x.tenant_id = p_tenant FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No call with this id.');
    END IF;
    IF c.status IN ('ended', 'failed') THEN
        PERFORM voepy_raise('call_already_ended', NULL, 'The call has already ended.');
    END IF;
    UPDATE calls x SET hangup_requested_at = coalesce(x.hangup_requested_at, now()),
                       updated_at = now()
     WHERE x.id = c.id
    RETURNING * INTO c;
    v_body := voepy_call_json(c, true)::text;
    PERFORM idem_finish(p_tenant, 'POST', p_path, p_key, 200, v_body);
    RETURN QUERY SELECT 200, v_body, false, c.node_id;
END $$;

-- Webhook endpoints (/v1/webhooks): 0043_webhook_api.sql.
