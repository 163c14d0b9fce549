-- Rate decks: what each kind of usage costs, per tenant or the platform's (tenant_id NULL).
--
-- A rate row belongs to a kind of usage:
--   outbound           a call we place, matched on the destination's digits (to_number)
--   inbound            a call to one of our DIDs, matched on the DID's digits
--   transcription      per minute of transcribed audio, matched on the call's number
--   amd                answering-machine detection, per call (the minimum charge, or the
--                      connection fee: see docs/billing.md)
--   recording_storage  per minute of stored recording (see docs/billing.md)
-- Longest prefix wins, the tenant's own rates before the platform's, and among rows for
-- the same prefix the newest effective_from that has started and not ended
-- (effective_to NULL: open-ended).

-- The columns of a deck (kind, minimum_charge_micros, effective_to) and rates_key with
-- kind are added in 0010, before the renderer that shows them (api_rate_json; a sql
-- function's body is checked when it is created). Finding a rate (rating_find_rate_kind)
-- and loading a call with its rate (rating_load) are in 0030.

-- ---------------------------------------------------------------------------------------
-- Pricing in SQL: services/rating/price.h's formula, in exact integer arithmetic (numeric
-- used as an unbounded integer with div(); never a fraction, never floating point). The
-- rating service prices calls in C; this function prices the usage kinds charged from SQL
-- (rating_charge_usage) and answers the lookup API. tests/integration/test_rate_decks.py
-- checks it against price.c's table cases and a model. A result beyond bigint raises
-- numeric_value_out_of_range (price.c answers VP_E_OVERFLOW for the same inputs).
CREATE FUNCTION rating_price_sql(p_mpm bigint, p_fee bigint, p_initial bigint,
                                 p_subsequent bigint, p_minimum bigint, p_ms bigint,
                                 OUT billed_seconds bigint, OUT cost_micros bigint,
                                 OUT cost_cents bigint)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    d numeric;
    b numeric;
    m numeric;
BEGIN
    IF p_ms IS NULL OR p_ms < 0 THEN
        PERFORM voepy_raise('invalid_parameter', 'quantity', 'A duration is never negative.');
    END IF;
    IF p_ms = 0 THEN -- never answered: nothing, not even the fee or the minimum
        billed_seconds := 0; cost_micros := 0; cost_cents := 0;
        RETURN;
    END IF;
    IF p_mpm < 0 OR p_fee < 0 OR p_initial < 1 OR p_subsequent < 1 OR p_minimum < 0 THEN
        PERFORM voepy_raise('invalid_parameter', 'rate', 'The rate is outside its bounds.');
    END IF;
    d := div(p_ms::numeric + 999, 1000);
    b := CASE WHEN d <= p_initial THEN p_initial
              ELSE p_initial + div(d - p_initial + p_subsequent - 1, p_subsequent) * p_subsequent END;
    m := greatest(div(b * p_mpm + 59, 60) + p_fee, p_minimum);
    billed_seconds := b::bigint;
    cost_micros := m::bigint;
    cost_cents := div(m + 999999, 1000000)::bigint;
END $$;

-- The same for a rates row.
CREATE FUNCTION rating_price_rate(r rates, p_ms bigint, OUT billed_seconds bigint,
                                  OUT cost_micros bigint, OUT cost_cents bigint)
LANGUAGE sql IMMUTABLE AS $$
    SELECT * FROM rating_price_sql(r.micros_per_minute, r.connection_fee_micros,
                                   r.initial_increment_s, r.subsequent_increment_s,
                                   r.minimum_charge_micros, p_ms)
$$;

-- ---------------------------------------------------------------------------------------
-- Usage charges: transcription, AMD and recording storage, charged once per (call, kind).
-- Units of p_quantity, priced with price.h's formula (rating_price_sql) on the rate of
-- the kind matched on the call's to_number at the call's initiated_at:
--   transcription      milliseconds of transcribed audio (per-minute rate, increments)
--   amd                1: one detection per call; priced as one initial increment, so an
--                      AMD rate is normally micros_per_minute 0 and the price in
--                      connection_fee_micros (or minimum_charge_micros)
--   recording_storage  milliseconds of recorded audio kept (the recording's duration),
--                      charged once when the recording is stored: a one-off price per
--                      minute recorded, not a monthly rent
CREATE TABLE usage_charges (
    call_id        text NOT NULL REFERENCES calls(id),
    kind           text NOT NULL CHECK (kind IN ('transcription', 'amd', 'recording_storage')),
    tenant_id      text NOT NULL REFERENCES tenants(id),
    quantity       bigint NOT NULL CHECK (quantity >= 0),
    status         text NOT NULL CHECK (status IN ('rated', 'failed')),
    rate_id        text,
    billed_seconds bigint,
    cost_micros    bigint,
    cost_cents     bigint,              -- NULL when failed; 0 only when free
    error          text,
    txn_id         text,                -- the usage_charge ledger transaction, NULL when 0
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (call_id, kind),
    CHECK ((status = 'rated') = (cost_cents IS NOT NULL))
);
CREATE INDEX usage_charges_tenant ON usage_charges (tenant_id, created_at);

-- Charge p_quantity of p_kind for p_call, once per (call, kind). Returns outcome
-- 'charged' (cost_cents may be 0), 'unpriced' (no rate, or a price beyond bigint: the
-- row is kept as failed and nothing moves) or 'already_charged' (an earlier call got here
-- first: its figures are returned, the second quantity is ignored). Money moves as one
-- ledger_transfer(kind 'usage_charge', ref_type p_kind, ref_id p_call).
CREATE FUNCTION rating_charge_usage(p_call text, p_kind text, p_quantity bigint)
RETURNS TABLE (outcome text, cost_cents bigint, billed_seconds bigint, rate_id text,
               txn_id text)
LANGUAGE plpgsql AS $$
DECLARE
    c calls;
    r rates;
    u usage_charges;
    v_billed bigint;
    v_micros bigint;
    v_cents bigint;
    v_err text;
BEGIN
    IF p_kind IS NULL OR p_kind NOT IN ('transcription', 'amd', 'recording_storage') THEN
        PERFORM voepy_raise('invalid_parameter', 'kind',
                            'kind must be transcription, amd or recording_storage.');
    END IF;
    IF p_quantity IS NULL OR p_quantity < 0 OR (p_kind = 'amd' AND p_quantity <> 1) THEN
        PERFORM voepy_raise('invalid_parameter', 'quantity',
                            'quantity is milliseconds (>= 0), or 1 for amd.');
    END IF;
    SELECT * INTO c FROM calls WHERE id = p_call;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', 'call_id', 'No such call.');
    END IF;
    SELECT * INTO u FROM usage_charges x WHERE x.call_id = p_call AND x.kind = p_kind;
    IF FOUND THEN
        RETURN QUERY SELECT 'already_charged'::text, u.cost_cents, u.billed_seconds, u.rate_id, u.txn_id;
        RETURN;
    END IF;
    r := rating_find_rate_kind(c.tenant_id, p_kind, c.to_number, c.initiated_at);
    IF r.id IS NULL THEN
        v_err := 'no ' || p_kind || ' rate matches ' || c.to_number;
    ELSE
        BEGIN
            SELECT * INTO v_billed, v_micros, v_cents FROM rating_price_rate(r, p_quantity);
        EXCEPTION WHEN numeric_value_out_of_range THEN
            v_err := 'the price does not fit in 64 bits';
        END;
    END IF;
    INSERT INTO usage_charges (call_id, kind, tenant_id, quantity, status, rate_id,
                               billed_seconds, cost_micros, cost_cents, error)
    VALUES (p_call, p_kind, c.tenant_id, p_quantity, CASE WHEN v_err IS NULL THEN 'rated' ELSE 'failed' END,
            r.id, v_billed, v_micros, v_cents, v_err)
    ON CONFLICT DO NOTHING
    RETURNING * INTO u;
    IF u.call_id IS NULL THEN -- a concurrent charge won the race: report its figures
        SELECT * INTO u FROM usage_charges x WHERE x.call_id = p_call AND x.kind = p_kind;
        RETURN QUERY SELECT 'already_charged'::text, u.cost_cents, u.billed_seconds, u.rate_id, u.txn_id;
        RETURN;
    END IF;
    IF v_err IS NOT NULL THEN
        RETURN QUERY SELECT 'unpriced'::text, NULL::bigint, NULL::bigint, r.id, NULL::text;
        RETURN;
    END IF;
    IF u.cost_cents > 0 THEN
        -- revenue before the tenant's balance, as every rating write locks them (0036)
        PERFORM 1 FROM ledger_accounts a WHERE a.id = ledger_account(NULL, 'platform_revenue')
           FOR UPDATE;
        u.txn_id := ledger_transfer(c.tenant_id, 'usage_charge', p_kind, p_call,
                                    ledger_account(c.tenant_id, 'tenant_balance'),
                                    ledger_account(NULL, 'platform_revenue'), u.cost_cents,
                                    format('%s for call %s: %s', p_kind, p_call, p_quantity));
        UPDATE usage_charges x SET txn_id = u.txn_id WHERE x.call_id = p_call AND x.kind = p_kind;
    END IF;
    RETURN QUERY SELECT 'charged'::text, u.cost_cents, u.billed_seconds, u.rate_id, u.txn_id;
END $$;

-- ---------------------------------------------------------------------------------------
-- Operator API (services/api-gateway/admin_rates.c, admin_catalog.c): conventions of
-- 0010_api.sql. Rates are rendered by api_rate_json (0010): money as decimal cents text,
-- an open start or end of the effective period null.

CREATE FUNCTION api_rate_tenant_must_exist(p_tenant text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_tenant IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = p_tenant) THEN
        PERFORM voepy_raise('invalid_parameter', 'tenant_id', 'tenant_id names no tenant.');
    END IF;
END $$;

-- POST /admin/v1/rates with every field (the gateway fills the defaults). p_from NULL is
-- "always" (-infinity).
CREATE FUNCTION api_admin_rate_add(p_tenant text, p_kind text, p_prefix text, p_mpm bigint,
                                   p_fee bigint, p_initial int, p_subsequent int,
                                   p_minimum bigint, p_from timestamptz, p_to timestamptz,
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
    PERFORM api_rate_tenant_must_exist(p_tenant);
    IF p_to IS NOT NULL AND p_to <= coalesce(p_from, '-infinity') THEN
        PERFORM voepy_raise('invalid_parameter', 'effective_to', 'effective_to must be after effective_from.');
    END IF;
    BEGIN
        INSERT INTO rates (id, tenant_id, kind, prefix, micros_per_minute, connection_fee_micros,
                           initial_increment_s, subsequent_increment_s, minimum_charge_micros,
                           effective_from, effective_to)
        VALUES (voepy_id('rate'), p_tenant, p_kind, p_prefix, p_mpm, p_fee, p_initial,
                p_subsequent, p_minimum, coalesce(p_from, '-infinity'), p_to)
        RETURNING * INTO r;
    EXCEPTION WHEN unique_violation THEN
        PERFORM voepy_raise('conflict', 'prefix',
                            'A rate of this kind for this prefix and effective_from already exists.');
    END;
    v_body := api_rate_json(r)::text;
    PERFORM idem_finish('admin', 'POST', p_path, p_key, 201, v_body);
    RETURN QUERY SELECT 201, v_body, false;
END $$;

-- POST /admin/v1/rates/import: p_rows is the parsed CSV, one object per data line:
-- {"line", "prefix", "kind", "mpm", "fee", "initial", "subsequent", "minimum", "from_ms",
-- "to_ms"} (every cell checked by the gateway; from_ms/to_ms null when open). All or
-- nothing. A line that repeats (kind, prefix, effective_from) of an earlier line, or of an
-- existing rate of the deck with other values, is refused naming its line; a line equal to
-- an existing rate in every price column is counted as unchanged (importing a deck twice
-- changes nothing). Answers 200 {"tenant_id", "rows", "imported", "unchanged", "by_kind"}.
CREATE FUNCTION api_admin_rates_import(p_tenant text, p_rows jsonb, p_path text, p_key text,
                                       p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    v_line int;
    v_rows int;
    v_new int;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin('admin', 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    PERFORM api_rate_tenant_must_exist(p_tenant);
    CREATE TEMP TABLE rate_import ON COMMIT DROP AS
    SELECT x.line, x.kind, regexp_replace(x.prefix, '^\+', '') AS prefix, x.mpm, x.fee, x.initial,
           x.subsequent, x.minimum,
           coalesce(voepy_ms(x.from_ms), '-infinity') AS effective_from, voepy_ms(x.to_ms) AS effective_to
      FROM jsonb_to_recordset(p_rows) AS x(line int, kind text, prefix text, mpm bigint, fee bigint,
                                           initial int, subsequent int, minimum bigint,
                                           from_ms bigint, to_ms bigint);
    SELECT count(*) INTO v_rows FROM rate_import;
    SELECT min(d.line) INTO v_line FROM (
        SELECT i.line, row_number() OVER (PARTITION BY i.kind, i.prefix, i.effective_from ORDER BY i.line) AS n
          FROM rate_import i) d WHERE d.n > 1;
    IF v_line IS NOT NULL THEN
        PERFORM voepy_raise('invalid_parameter', format('line %s', v_line),
                            format('line %s repeats the kind, prefix and effective_from of an earlier line.', v_line));
    END IF;
    SELECT min(i.line) INTO v_line FROM rate_import i JOIN rates r
        ON coalesce(r.tenant_id, '') = coalesce(p_tenant, '') AND r.kind = i.kind
       AND r.prefix = i.prefix AND r.effective_from = i.effective_from
     WHERE (r.micros_per_minute, r.connection_fee_micros, r.initial_increment_s,
            r.subsequent_increment_s, r.minimum_charge_micros)
           IS DISTINCT FROM (i.mpm, i.fee, i.initial, i.subsequent, i.minimum)
        OR r.effective_to IS DISTINCT FROM i.effective_to;
    IF v_line IS NOT NULL THEN
        PERFORM voepy_raise('conflict', format('line %s', v_line),
                            format('line %s: a different rate of this kind for this prefix and '
                                   'effective_from is already in the deck; give a new effective_from.', v_line));
    END IF;
    INSERT INTO rates (id, tenant_id, kind, prefix, micros_per_minute, connection_fee_micros,
                       initial_increment_s, subsequent_increment_s, minimum_charge_micros,
                       effective_from, effective_to)
    SELECT voepy_id('rate'), p_tenant, i.kind, i.prefix, i.mpm, i.fee, i.initial, i.subsequent,
           i.minimum, i.effective_from, i.effective_to
      FROM rate_import i ORDER BY i.line
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS v_new = ROW_COUNT;
    SELECT json_build_object('tenant_id', p_tenant, 'rows', v_rows, 'imported', v_new,
                             'unchanged', v_rows - v_new,
                             'by_kind', coalesce((SELECT json_object_agg(k.kind, k.n ORDER BY k.kind)
                                                    FROM (SELECT i.kind, count(*) AS n FROM rate_import i
                                                           GROUP BY i.kind) k), '{}'::json))::text
      INTO v_body;
    DROP TABLE rate_import;
    PERFORM idem_finish('admin', 'POST', p_path, p_key, 200, v_body);
    RETURN QUERY SELECT 200, v_body, false;
END $$;

-- GET /admin/v1/rates: the platform deck (p_tenant NULL) or a tenant's own, optionally of
-- one kind, under a prefix (rates whose prefix starts with p_prefix), and with p_at only
-- the rates in effect at that moment (per kind and prefix, the one rating would use).
-- Ordered by (created_at, id), cursor-paginated.
CREATE FUNCTION api_admin_rate_list(p_tenant text, p_kind text, p_prefix text, p_at timestamptz,
                                    p_cursor text, p_limit int)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur record;
BEGIN
    cur := api_cursor_parse(p_cursor);
    RETURN QUERY SELECT 200, api_page(ARRAY(
        SELECT ROW(r.created_at, r.id, api_rate_json(r))::api_page_row
          FROM rates r
         WHERE coalesce(r.tenant_id, '') = coalesce(p_tenant, '')
           AND (p_kind IS NULL OR r.kind = p_kind)
           AND (p_prefix IS NULL OR starts_with(r.prefix, p_prefix))
           AND (p_at IS NULL OR r.id IN (
                SELECT DISTINCT ON (e.kind, e.prefix) e.id FROM rates e
                 WHERE coalesce(e.tenant_id, '') = coalesce(p_tenant, '')
                   AND e.effective_from <= p_at AND (e.effective_to IS NULL OR e.effective_to > p_at)
                 ORDER BY e.kind, e.prefix, e.effective_from DESC))
           AND (cur.t IS NULL OR (r.created_at, r.id) > (cur.t, cur.id))
         ORDER BY r.created_at, r.id
         LIMIT p_limit + 1), p_limit);
END $$;

-- GET /admin/v1/rates/lookup: the rate rating would use for p_number (tenant's deck, else
-- the platform's) at p_at (now when NULL), with which deck it came from; 404 when none.
CREATE FUNCTION api_admin_rate_lookup(p_tenant text, p_kind text, p_number text, p_at timestamptz)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r rates;
    v_at timestamptz := coalesce(p_at, now());
BEGIN
    PERFORM api_rate_tenant_must_exist(p_tenant);
    r := rating_find_rate_kind(p_tenant, p_kind, p_number, v_at);
    IF r.id IS NULL THEN
        PERFORM voepy_raise('not_found', 'number',
                            format('No %s rate matches %s at %s.', p_kind, p_number, voepy_ts(v_at)));
    END IF;
    RETURN QUERY SELECT 200, json_build_object(
        'kind', p_kind, 'number', p_number, 'tenant_id', p_tenant, 'at', voepy_ts(v_at),
        'deck', CASE WHEN r.tenant_id IS NULL THEN 'platform' ELSE 'tenant' END,
        'rate', api_rate_json(r))::text;
END $$;
