-- Rating: price every ended call from the rate decks and charge it to the tenant's balance
-- with a double-entry ledger transaction. The price itself is computed by the rating
-- service (services/rating/price.c, integers only); SQL finds the rate and applies the
-- result, each in one function: one round trip, one transaction.

-- Which rate priced a call (audit: the deck may change afterwards).
ALTER TABLE calls ADD COLUMN rate_id text;

-- Answered time in whole milliseconds (rounded up from the timestamps' microseconds);
-- 0 for a call never answered, failed, or not ended.
CREATE FUNCTION rating_answered_ms(c calls) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN c.status = 'failed' OR c.answered_at IS NULL OR c.ended_at IS NULL
                     OR c.ended_at <= c.answered_at THEN 0
                ELSE ceil(extract(epoch FROM (c.ended_at - c.answered_at)) * 1000)::bigint END
$$;

-- The rate of one kind of usage (rates.kind, 0031_rate_decks.sql) for a number (any
-- spelling: its digits) at p_at: the longest prefix of its digits among the tenant's own
-- rates, else among the platform's (tenant_id NULL), in effect at p_at (started and not
-- ended; the newest effective_from first). Probes rates_key once per candidate prefix
-- instead of scanning a whole deck.
CREATE FUNCTION rating_find_rate_kind(p_tenant text, p_kind text, p_number text,
                                      p_at timestamptz) RETURNS rates
LANGUAGE sql STABLE AS $$
    WITH d AS (SELECT regexp_replace(coalesce(p_number, ''), '[^0-9]', '', 'g') AS digits)
    SELECT r.* FROM d, rates r
     WHERE coalesce(r.tenant_id, '') IN (p_tenant, '')
       AND r.kind = p_kind
       AND r.prefix IN (SELECT left(d.digits, n) FROM generate_series(0, length(d.digits)) n)
       AND r.effective_from <= p_at
       AND (r.effective_to IS NULL OR r.effective_to > p_at)
     ORDER BY r.tenant_id IS NULL, length(r.prefix) DESC, r.effective_from DESC
     LIMIT 1
$$;

-- The outbound rate (kept for its callers; the kind-aware function above decides).
CREATE FUNCTION rating_find_rate(p_tenant text, p_number text, p_at timestamptz)
RETURNS rates
LANGUAGE sql STABLE AS $$
    SELECT * FROM rating_find_rate_kind(p_tenant, 'outbound', p_number, p_at)
$$;

-- The call and its rate, as rating_price() needs them: an outbound call by the 'outbound'
-- deck on the destination, an inbound call by the 'inbound' deck on the DID it reached
-- (to_number for both), at the moment the call was initiated (a deck switch never
-- reprices older calls). No row when the call does not exist; rate_id and the rate
-- columns are NULL when no rate matches.
CREATE FUNCTION rating_load(p_call text)
RETURNS TABLE (call_id text, tenant_id text, status text, rating_status text,
               answered_ms bigint, rate_id text, micros_per_minute bigint,
               connection_fee_micros bigint, initial_increment_s int,
               subsequent_increment_s int, minimum_charge_micros bigint, kind text)
LANGUAGE sql STABLE AS $$
    SELECT c.id, c.tenant_id, c.status, c.rating_status, rating_answered_ms(c),
           r.id, r.micros_per_minute, r.connection_fee_micros, r.initial_increment_s,
           r.subsequent_increment_s, r.minimum_charge_micros, k.kind
      FROM calls c
     CROSS JOIN LATERAL (SELECT CASE c.direction WHEN 'inbound' THEN 'inbound'
                                                 ELSE 'outbound' END AS kind) k
      LEFT JOIN LATERAL rating_find_rate_kind(c.tenant_id, k.kind, c.to_number,
                                              c.initiated_at) r ON r.id IS NOT NULL
     WHERE c.id = p_call
$$;

-- Apply a computed price, once per call. Returns outcome 'rated' (and the ledger
-- transaction, NULL for a free call) or 'already_rated' when an earlier delivery of the
-- event got here first: rating the same call twice never moves money twice (the call row
-- is locked, rating_status checked, and ledger_transfer is unique per call as well).
CREATE FUNCTION rating_apply(p_call text, p_rate text, p_billed_seconds int,
                             p_cost_cents bigint)
RETURNS TABLE (outcome text, txn_id text)
LANGUAGE plpgsql AS $$
DECLARE
    c calls;
BEGIN
    SELECT * INTO c FROM calls WHERE id = p_call FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', 'call_id', 'No such call.');
    END IF;
    IF c.rating_status = 'rated' THEN
        RETURN QUERY SELECT 'already_rated'::text, NULL::text;
        RETURN;
    END IF;
    IF c.status NOT IN ('ended', 'failed') THEN
        PERFORM voepy_raise('call_not_in_required_state', 'status', 'The call has not ended.');
    END IF;
    IF p_cost_cents IS NULL OR p_cost_cents < 0 OR p_billed_seconds IS NULL OR p_billed_seconds < 0 THEN
        PERFORM voepy_raise('invalid_parameter', 'cost_cents', 'A price is never negative.');
    END IF;
    IF p_cost_cents > 0 THEN
        txn_id := ledger_transfer(c.tenant_id, 'call_charge', 'call', c.id,
                                  ledger_account(c.tenant_id, 'tenant_balance'),
                                  ledger_account(NULL, 'platform_revenue'), p_cost_cents,
                                  format('call %s to %s: %s s', c.id, c.to_number, p_billed_seconds));
    END IF;
    UPDATE calls SET cost_cents = p_cost_cents, billed_seconds = p_billed_seconds,
                     rate_id = p_rate, rating_status = 'rated', rating_error = NULL,
                     updated_at = now()
     WHERE id = p_call;
    outcome := 'rated';
    RETURN NEXT;
END $$;

-- A call that cannot be priced (no rate for its destination, a price out of range):
-- rating_status 'failed' with the reason; cost_cents stays NULL. A call already rated is
-- left alone. Returns whether the call was marked.
CREATE FUNCTION rating_fail(p_call text, p_error text) RETURNS boolean
LANGUAGE sql AS $$
    WITH u AS (
        UPDATE calls SET rating_status = 'failed', rating_error = left(p_error, 500),
                         updated_at = now()
         WHERE id = p_call AND rating_status <> 'rated'
        RETURNING 1)
    SELECT count(*) > 0 FROM u
$$;
