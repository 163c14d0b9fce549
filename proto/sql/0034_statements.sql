-- Statements: usage summaries and monthly invoices, read from the ledger (docs/billing.md,
-- "Usage and invoices"). Nothing here writes: every figure is derived from ledger rows,
-- which are immutable, so a past month's invoice can never change.
--
-- Time: a charge belongs to the moment its ledger transaction was posted
-- (ledger_transactions.created_at), in UTC. A rated call that cost nothing has no
-- transaction and belongs to its end (calls.ended_at). So a usage summary over a calendar
-- month adds up to that month's invoice charges exactly.
--
-- Destination of a call: the prefix of the rate that priced it (calls.rate_id), shown as
-- "+<prefix>" for outbound calls, "inbound +<prefix>" for inbound ones; a catch-all rate
-- (prefix '') shows as "other", a call without a rate as "unknown".

CREATE INDEX IF NOT EXISTS ledger_transactions_ref ON ledger_transactions (ref_id)
    WHERE ref_type = 'call';

-- The label of the destination a call was priced for (see above).
CREATE FUNCTION stmt_destination(p_rate text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT CASE WHEN r.kind = 'inbound' THEN 'inbound ' ELSE '' END ||
                            CASE WHEN r.prefix = '' THEN 'other' ELSE '+' || r.prefix END
                       FROM rates r WHERE r.id = p_rate), 'unknown')
$$;

-- What a usage charge (ledger kind usage_charge) is called on invoices, by its ref_type.
CREATE FUNCTION stmt_usage_label(p_ref_type text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_ref_type WHEN 'transcription' THEN 'Transcription'
                           WHEN 'amd' THEN 'Answering machine detection'
                           WHEN 'recording_storage' THEN 'Recording storage'
                           ELSE p_ref_type END
$$;

-- Every priced item of a tenant in [p_from, p_to): rated calls (kind 'call', with their
-- destination and billed seconds), usage charges (kind = the charge's ref_type) and voice
-- tier fees (kind 'voice_subscription', 0036).
-- cost_cents is what left the balance: the tenant_balance entry, sign flipped.
CREATE FUNCTION stmt_usage_items(p_tenant text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (at timestamptz, kind text, destination text, billed_seconds bigint,
               cost_cents bigint)
LANGUAGE sql STABLE AS $$
    WITH acct AS (
        SELECT id FROM ledger_accounts WHERE tenant_id = p_tenant AND kind = 'tenant_balance'),
    charged AS (
        SELECT x.created_at, x.kind AS txn_kind, x.ref_type, x.ref_id, -e.amount_cents AS cents
          FROM ledger_transactions x
          JOIN ledger_entries e ON e.txn_id = x.id AND e.account_id = (SELECT id FROM acct)
         WHERE x.tenant_id = p_tenant AND x.created_at >= p_from AND x.created_at < p_to
           AND ((x.kind = 'call_charge' AND x.ref_type = 'call')
                OR x.kind IN ('usage_charge', 'subscription_fee')))
    SELECT ch.created_at, 'call', stmt_destination(c.rate_id), coalesce(c.billed_seconds, 0),
           ch.cents
      FROM charged ch JOIN calls c ON c.id = ch.ref_id
     WHERE ch.txn_kind = 'call_charge'
    UNION ALL
    SELECT ch.created_at, ch.ref_type, NULL, 0, ch.cents
      FROM charged ch WHERE ch.txn_kind = 'usage_charge'
    UNION ALL
    SELECT ch.created_at, 'voice_subscription', NULL, 0, ch.cents
      FROM charged ch WHERE ch.txn_kind = 'subscription_fee'
    UNION ALL
    SELECT c.ended_at, 'call', stmt_destination(c.rate_id), coalesce(c.billed_seconds, 0), 0
      FROM calls c
     WHERE c.tenant_id = p_tenant AND c.rating_status = 'rated' AND c.cost_cents = 0
       AND c.initiated_at < p_to AND c.ended_at >= p_from AND c.ended_at < p_to
$$;

-- A from/to query value as a time: a date (YYYY-MM-DD, midnight UTC; for "to" the end of
-- that day, so to=2026-01-31 includes the 31st) or an RFC 3339 timestamp with a zone
-- (exclusive for "to"). NULL stays NULL; anything else is invalid_parameter naming p_field.
CREATE FUNCTION stmt_parse_time(p_value text, p_field text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v timestamptz;
BEGIN
    IF p_value IS NULL THEN
        RETURN NULL;
    END IF;
    BEGIN
        IF p_value ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
            v := (p_value::date)::timestamp AT TIME ZONE 'UTC';
            IF p_field = 'to' THEN
                v := v + interval '1 day';
            END IF;
        ELSIF p_value ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN
            v := p_value::timestamptz;
        END IF;
    EXCEPTION WHEN others THEN
        v := NULL;
    END;
    IF v IS NULL OR v < timestamptz '2000-01-01Z' OR v > timestamptz '2200-01-01Z' THEN
        PERFORM voepy_raise('invalid_parameter', p_field,
                            format('%s must be a date (2026-01-31) or a timestamp with a zone '
                                   '(2026-01-31T12:00:00Z).', p_field));
    END IF;
    RETURN v;
END $$;

-- GET /v1/billing/usage?from=&to=&group_by=day|destination. from defaults to the start of
-- the current UTC month, to to now; to must follow from by at most 366 days. Groups are
-- (group, kind): per day (YYYY-MM-DD, UTC) or per destination; usage charges are their own
-- rows (kind transcription/amd/recording_storage; grouped by destination their group is
-- their kind). calls counts rated calls, charges counts usage charges.
CREATE FUNCTION api_billing_usage(p_tenant text, p_from text, p_to text, p_group text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_from timestamptz := coalesce(stmt_parse_time(p_from, 'from'),
                                   date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC');
    v_to timestamptz := coalesce(stmt_parse_time(p_to, 'to'), now());
    v_group text := coalesce(p_group, 'day');
BEGIN
    IF v_group NOT IN ('day', 'destination') THEN
        PERFORM voepy_raise('invalid_parameter', 'group_by', 'group_by must be day or destination.');
    END IF;
    IF v_to <= v_from THEN
        PERFORM voepy_raise('invalid_parameter', 'to', 'to must be later than from.');
    END IF;
    IF v_to - v_from > interval '366 days' THEN
        PERFORM voepy_raise('invalid_parameter', 'to',
                            'from and to may be at most 366 days apart.');
    END IF;
    RETURN QUERY
    WITH items AS (
        SELECT CASE WHEN v_group = 'day' THEN to_char(i.at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
                    ELSE coalesce(i.destination, i.kind) END AS grp, i.*
          FROM stmt_usage_items(p_tenant, v_from, v_to) i),
    groups AS (
        SELECT grp, kind,
               count(*) FILTER (WHERE kind = 'call') AS calls,
               count(*) FILTER (WHERE kind <> 'call') AS charges,
               sum(billed_seconds)::bigint AS billed_seconds, sum(cost_cents)::bigint AS cost_cents
          FROM items GROUP BY grp, kind)
    SELECT 200, json_build_object(
        'object', 'usage', 'from', voepy_ts(v_from), 'to', voepy_ts(v_to),
        'group_by', v_group, 'currency', 'USD',
        'data', coalesce((SELECT json_agg(json_build_object(
                              'group', g.grp, 'kind', g.kind, 'calls', g.calls,
                              'charges', g.charges, 'billed_seconds', g.billed_seconds,
                              'cost_cents', g.cost_cents)
                            ORDER BY g.grp, g.kind <> 'call', g.kind) FROM groups g), '[]'),
        'total', (SELECT json_build_object(
                      'calls', coalesce(sum(g.calls), 0)::bigint,
                      'charges', coalesce(sum(g.charges), 0)::bigint,
                      'billed_seconds', coalesce(sum(g.billed_seconds), 0)::bigint,
                      'cost_cents', coalesce(sum(g.cost_cents), 0)::bigint) FROM groups g))::text;
END $$;

-- ---------------------------------------------------------------------------------------
-- Invoices: one per tenant and calendar month (UTC), from the tenant's first month (its
-- creation or its first ledger transaction, whichever is earlier) to the current one. The
-- current month is 'draft', earlier ones 'final'. The id names the tenant and the month,
-- voepy_inv_<tenant ULID>_<YYYYMM>, so it is the same every time it is computed.

CREATE FUNCTION stmt_invoice_id(p_tenant text, p_month date) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT 'voepy_inv_' || substr(p_tenant, length('voepy_tenant_') + 1) || '_' ||
           to_char(p_month, 'YYYYMM')
$$;

-- The tenant's first invoice month (NULL for an unknown tenant).
CREATE FUNCTION stmt_first_month(p_tenant text) RETURNS date
LANGUAGE sql STABLE AS $$
    SELECT date_trunc('month', least(t.created_at,
                                     (SELECT min(x.created_at) FROM ledger_transactions x
                                       WHERE x.tenant_id = p_tenant)) AT TIME ZONE 'UTC')::date
      FROM tenants t WHERE t.id = p_tenant
$$;

CREATE FUNCTION stmt_month_start(p_month date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_month::timestamp AT TIME ZONE 'UTC'
$$;

-- The month an invoice id of this tenant stands for, or NULL (another tenant's id, a
-- month before the tenant's first or after the current one, or not an invoice id).
CREATE FUNCTION stmt_invoice_month(p_tenant text, p_id text) RETURNS date
LANGUAGE plpgsql STABLE AS $$
DECLARE
    m text[] := regexp_match(p_id, '^voepy_inv_([0-9A-Za-z]+)_([0-9]{4})([0-9]{2})$');
    v date;
BEGIN
    IF m IS NULL OR m[3]::int NOT BETWEEN 1 AND 12 OR m[2]::int < 2000 THEN
        RETURN NULL;
    END IF;
    v := make_date(m[2]::int, m[3]::int, 1);
    IF stmt_invoice_id(p_tenant, v) <> p_id OR v < stmt_first_month(p_tenant)
       OR v > date_trunc('month', now() AT TIME ZONE 'UTC')::date THEN
        RETURN NULL;
    END IF;
    RETURN v;
END $$;

-- The movements of the tenant's balance account, with their transactions.
CREATE FUNCTION stmt_balance_moves(p_tenant text, p_before timestamptz)
RETURNS TABLE (created_at timestamptz, kind text, ref_type text, ref_id text,
               description text, amount_cents bigint)
LANGUAGE sql STABLE AS $$
    SELECT x.created_at, x.kind, x.ref_type, x.ref_id, x.description, e.amount_cents
      FROM ledger_accounts a
      JOIN ledger_entries e ON e.account_id = a.id
      JOIN ledger_transactions x ON x.id = e.txn_id
     WHERE a.tenant_id = p_tenant AND a.kind = 'tenant_balance' AND x.created_at < p_before
$$;

-- The lines of a month: charges (negative movements) grouped -- call charges by
-- destination, usage charges by kind, anything else by transaction kind -- then payments
-- (positive movements: top-ups, credits, ...) one by one in time order. Amounts are
-- positive; type says which way they moved the balance.
CREATE FUNCTION stmt_invoice_lines(p_tenant text, p_start timestamptz, p_end timestamptz)
RETURNS json
LANGUAGE sql STABLE AS $$
    WITH m AS (
        SELECT mv.*, CASE WHEN mv.kind = 'call_charge' AND mv.ref_type = 'call'
                          THEN (SELECT c.billed_seconds FROM calls c WHERE c.id = mv.ref_id) END
                         AS secs,
               CASE WHEN mv.kind = 'call_charge' AND mv.ref_type = 'call'
                    THEN (SELECT stmt_destination(c.rate_id) FROM calls c WHERE c.id = mv.ref_id)
               END AS dest
          FROM stmt_balance_moves(p_tenant, p_end) mv WHERE mv.created_at >= p_start),
    charges AS (
        SELECT kind, CASE WHEN kind = 'usage_charge' THEN ref_type END AS usage_kind, dest,
               count(*) AS qty, sum(secs)::bigint AS secs, -sum(amount_cents)::bigint AS cents
          FROM m WHERE amount_cents < 0
         GROUP BY kind, CASE WHEN kind = 'usage_charge' THEN ref_type END, dest),
    lines AS (
        SELECT 0 AS part, c.kind AS k1, coalesce(c.usage_kind, c.dest, '') AS k2,
               NULL::timestamptz AS t, json_build_object(
                   'type', 'charge', 'kind', c.kind,
                   'description', CASE WHEN c.dest IS NOT NULL THEN 'Calls to ' || c.dest
                                       WHEN c.usage_kind IS NOT NULL
                                       THEN stmt_usage_label(c.usage_kind)
                                       ELSE c.kind END,
                   'destination', c.dest, 'quantity', c.qty, 'billed_seconds', c.secs,
                   'amount_cents', c.cents, 'date', NULL, 'reference', NULL) AS j
          FROM charges c
        UNION ALL
        SELECT 1, '', m.ref_id, m.created_at, json_build_object(
                   'type', 'payment', 'kind', m.kind,
                   'description', coalesce(m.description, m.kind), 'destination', NULL,
                   'quantity', 1, 'billed_seconds', NULL, 'amount_cents', m.amount_cents,
                   'date', voepy_ts(m.created_at), 'reference', m.ref_id)
          FROM m WHERE m.amount_cents > 0)
    SELECT coalesce(json_agg(j ORDER BY part, k1 <> 'call_charge', k1, k2, t), '[]') FROM lines
$$;

-- A month that has ended can no longer change (ledger rows are posted at now()): final.
CREATE FUNCTION stmt_invoice_status(p_end timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_end > now() THEN 'draft' ELSE 'final' END
$$;

-- An invoice as the API shows it; with its lines (appended last) when p_lines. json, not
-- jsonb, so that the keys keep this order.
CREATE FUNCTION stmt_invoice_json(p_tenant text, p_month date, p_lines boolean) RETURNS json
LANGUAGE sql STABLE AS $$
    WITH b AS (SELECT stmt_month_start(p_month) AS s,
                      stmt_month_start((p_month + interval '1 month')::date) AS e),
    s AS (
        SELECT coalesce(sum(mv.amount_cents) FILTER (WHERE mv.created_at < b.s), 0)::bigint AS opening,
               coalesce(sum(mv.amount_cents) FILTER (WHERE mv.created_at >= b.s
                                                        AND mv.amount_cents > 0), 0)::bigint AS pay,
               coalesce(-sum(mv.amount_cents) FILTER (WHERE mv.created_at >= b.s
                                                         AND mv.amount_cents < 0), 0)::bigint AS chg,
               coalesce(sum(mv.amount_cents), 0)::bigint AS closing
          FROM b LEFT JOIN LATERAL stmt_balance_moves(p_tenant, b.e) mv ON true),
    o AS (
        SELECT b.s, b.e, json_build_object(
            'id', stmt_invoice_id(p_tenant, p_month), 'object', 'invoice', 'tenant_id', p_tenant,
            'period', to_char(p_month, 'YYYY-MM'), 'period_start', voepy_ts(b.s),
            'period_end', voepy_ts(b.e), 'status', stmt_invoice_status(b.e), 'currency', 'USD',
            'opening_balance_cents', s.opening, 'payments_cents', s.pay, 'charges_cents', s.chg,
            'closing_balance_cents', s.closing) AS j
          FROM b, s)
    SELECT CASE WHEN p_lines
                THEN (left(o.j::text, -1) || ', "lines" : '
                      || stmt_invoice_lines(p_tenant, o.s, o.e)::text || '}')::json
                ELSE o.j END
      FROM o
$$;

-- Invoice list cursors are api_page's "<epoch us>|<invoice id>"; the month is the position.
CREATE FUNCTION stmt_invoice_cursor_parse(p_cursor text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT api_cursor_time(api_cursor_decode(
               p_cursor, '^-?[0-9]{1,18}\|voepy_inv_[0-9A-Za-z]+_[0-9]{6}$'))
$$;

-- GET /v1/billing/invoices: newest month first, without lines.
CREATE FUNCTION api_billing_invoices_list(p_tenant text, p_cursor text, p_limit int)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_before timestamptz := stmt_invoice_cursor_parse(p_cursor);
    v_first date := stmt_first_month(p_tenant);
BEGIN
    RETURN QUERY SELECT 200, api_page(ARRAY(
        SELECT (stmt_month_start(m.d::date), stmt_invoice_id(p_tenant, m.d::date),
                stmt_invoice_json(p_tenant, m.d::date, false))::api_page_row
          FROM generate_series(date_trunc('month', now() AT TIME ZONE 'UTC'), v_first,
                               interval '-1 month') AS m(d)
         WHERE v_before IS NULL OR stmt_month_start(m.d::date) < v_before
         ORDER BY m.d DESC
         LIMIT p_limit + 1), p_limit);
END $$;

-- GET /v1/billing/invoices/{id} (and its /pdf and /csv renderings, made by the gateway
-- from this body): the invoice with its lines, or not_found.
CREATE FUNCTION api_billing_invoice_get(p_tenant text, p_id text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_month date := stmt_invoice_month(p_tenant, p_id);
BEGIN
    IF v_month IS NULL THEN
        PERFORM voepy_raise('not_found', NULL, 'No invoice with this id.');
    END IF;
    RETURN QUERY SELECT 200, stmt_invoice_json(p_tenant, v_month, true)::text;
END $$;
