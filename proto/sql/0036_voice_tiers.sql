-- Voice subscription tiers (spec/peer-ai-calls-intents.txt, "Billing"): a tenant
-- subscribes to a tier with included minutes for a monthly fee; answered call time (both
-- directions) draws the included minutes first and only the rest is priced from the rate
-- deck. docs/billing.md, "Subscription tiers".
--
-- The money rules:
-- - Subscribing charges the first period's fee from the balance at once (402
--   balance_insufficient when the available funds, balance + credit limit - holds, do
--   not cover it). A period is one calendar month from its start.
-- - At a period's end the subscription renews (the next fee is charged, included minutes
--   start again; unused ones do not carry over), ends when it was canceled (cancel takes
--   effect at period end, as the spec says), or lapses when the funds do not cover the
--   fee. Renewal runs in the rating service (voice_sub_renew, every few seconds) and
--   before rating a call of a tenant whose period has ended, so no call is priced against
--   a stale period.
-- - A call draws from the period its ended_at falls in, in the order calls end: covered
--   = min(billed_seconds, what is left). Included minutes cover airtime only: the rate's
--   connection fee and minimum charge still apply, so a call fully covered costs
--   max(minimum charge, connection fee) (0 on the usual decks) and a call partly covered
--   pays its uncovered billed seconds at its rate (rating_cost_cents). The call row keeps
--   included_seconds; cost_cents is what was charged.
-- - Changing tier while subscribed takes effect at the next period (next_tier).
--
-- Locks: every function here that may charge locks the platform_revenue account first
-- and then the tenant (advisory lock 'voepy_vsub:<tenant>'), the order rating batches
-- use (revenue, calls, then the tenant's subscription and balance), so none of them can
-- deadlock with another.

CREATE TABLE voice_tiers (
    tier             text PRIMARY KEY CHECK (tier ~ '^[a-z][a-z0-9_]{1,31}$'),
    included_seconds bigint NOT NULL CHECK (included_seconds >= 0),
    fee_cents        bigint NOT NULL CHECK (fee_cents >= 0),
    available        boolean NOT NULL DEFAULT true  -- false: no new subscriptions
);
-- The spec's three tiers; operators change figures with SQL (a new figure applies from
-- each subscription's next period: a period keeps what it was sold with).
INSERT INTO voice_tiers (tier, included_seconds, fee_cents) VALUES
    ('starter', 100 * 60, 1000),
    ('growth', 1000 * 60, 8000),
    ('scale', 5000 * 60, 35000);

CREATE TABLE voice_subscriptions (
    id                   text PRIMARY KEY,          -- voepy_vsub_<ULID>
    tenant_id            text NOT NULL REFERENCES tenants(id),
    tier                 text NOT NULL REFERENCES voice_tiers(tier),
    next_tier            text REFERENCES voice_tiers(tier),
    status               text NOT NULL CHECK (status IN ('active', 'canceled', 'lapsed')),
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    current_period_id    text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    ended_at             timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'active') = (ended_at IS NULL))
);
CREATE UNIQUE INDEX voice_subscriptions_active ON voice_subscriptions (tenant_id)
    WHERE status = 'active';
CREATE INDEX voice_subscriptions_tenant ON voice_subscriptions (tenant_id, created_at DESC);

-- One billing period of a subscription: what it was sold with and how much is used.
CREATE TABLE voice_periods (
    id               text PRIMARY KEY,              -- voepy_vper_<ULID>
    subscription_id  text NOT NULL REFERENCES voice_subscriptions(id),
    tenant_id        text NOT NULL REFERENCES tenants(id),
    tier             text NOT NULL,
    period_start     timestamptz NOT NULL,
    period_end       timestamptz NOT NULL,
    included_seconds bigint NOT NULL CHECK (included_seconds >= 0),
    used_seconds     bigint NOT NULL DEFAULT 0,
    fee_cents        bigint NOT NULL CHECK (fee_cents >= 0),
    txn_id           text,                          -- the subscription_fee transaction
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subscription_id, period_start),
    CHECK (period_end > period_start),
    CHECK (used_seconds BETWEEN 0 AND included_seconds)
);
CREATE INDEX voice_periods_tenant ON voice_periods (tenant_id, period_start DESC);

-- Billed seconds of the call that included minutes covered; NULL when the tenant had no
-- period the call could draw from.
ALTER TABLE calls ADD COLUMN included_seconds bigint;

-- price.h's formula for a number of already billed seconds (no increments applied):
-- max(minimum, fee + ceil(seconds * per-minute / 60)) micros, rounded up to cents.
CREATE FUNCTION rating_cost_cents(p_mpm bigint, p_fee bigint, p_min bigint, p_seconds bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT ceil(greatest(p_min::numeric, p_fee + ceil(p_seconds::numeric * p_mpm / 60))
                / 1000000)::bigint
$$;

-- The period whose [start, end) holds p_at, if any.
CREATE FUNCTION voice_period_at(p_tenant text, p_at timestamptz) RETURNS voice_periods
LANGUAGE sql STABLE AS $$
    SELECT v.* FROM voice_periods v
     WHERE v.tenant_id = p_tenant AND v.period_start <= p_at AND p_at < v.period_end
     ORDER BY v.period_start DESC LIMIT 1
$$;

-- Included seconds left now (0 without a current period).
CREATE FUNCTION voice_included_left(p_tenant text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT v.included_seconds - v.used_seconds
                       FROM voice_period_at(p_tenant, now()) v WHERE v.id IS NOT NULL), 0)
$$;

-- Lock order of every charging function here: revenue, then the tenant.
CREATE FUNCTION voice_lock(p_tenant text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM ledger_accounts a WHERE a.id = ledger_account(NULL, 'platform_revenue')
       FOR UPDATE;
    PERFORM pg_advisory_xact_lock(hashtext('voepy_vsub:' || p_tenant));
END $$;

-- Open the period of subscription s that starts at p_start, on tier p_tier, and charge
-- its fee. Returns NULL (nothing written) when the available funds do not cover the fee.
-- Call with voice_lock(tenant) held.
CREATE FUNCTION voice_period_open(s voice_subscriptions, p_tier text, p_start timestamptz)
RETURNS voice_periods
LANGUAGE plpgsql AS $$
DECLARE
    t voice_tiers;
    v voice_periods;
BEGIN
    SELECT * INTO STRICT t FROM voice_tiers x WHERE x.tier = p_tier;
    IF t.fee_cents > billing_available_cents(s.tenant_id) THEN
        RETURN NULL;
    END IF;
    INSERT INTO voice_periods (id, subscription_id, tenant_id, tier, period_start, period_end,
                               included_seconds, fee_cents)
    VALUES (voepy_id('vper'), s.id, s.tenant_id, t.tier, p_start, p_start + interval '1 month',
            t.included_seconds, t.fee_cents)
    RETURNING * INTO v;
    IF t.fee_cents > 0 THEN
        v.txn_id := ledger_transfer(s.tenant_id, 'subscription_fee', 'voice_period', v.id,
                                    ledger_account(s.tenant_id, 'tenant_balance'),
                                    ledger_account(NULL, 'platform_revenue'), t.fee_cents,
                                    format('voice tier %s, %s to %s', t.tier,
                                           voepy_ts(v.period_start), voepy_ts(v.period_end)));
        UPDATE voice_periods x SET txn_id = v.txn_id WHERE x.id = v.id;
    END IF;
    UPDATE voice_subscriptions x SET tier = t.tier, next_tier = NULL, current_period_id = v.id,
                                     updated_at = now()
     WHERE x.id = s.id;
    RETURN v;
END $$;

-- Settle every active subscription (of p_tenant, or all when NULL) whose period has
-- ended: renew it from the old end (catching up at most 36 periods), end it when it was
-- canceled, or let it lapse when the funds do not cover the fee. Returns how many
-- subscriptions changed. The rating service calls it every few seconds.
CREATE FUNCTION voice_sub_renew(p_tenant text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    s voice_subscriptions;
    v voice_periods;
    n int := 0;
    i int;
BEGIN
    FOR s IN SELECT x.* FROM voice_subscriptions x JOIN voice_periods p ON p.id = x.current_period_id
              WHERE x.status = 'active' AND p.period_end <= now()
                AND (p_tenant IS NULL OR x.tenant_id = p_tenant)
              ORDER BY x.tenant_id LOOP
        PERFORM voice_lock(s.tenant_id);
        FOR i IN 1..36 LOOP
            SELECT * INTO s FROM voice_subscriptions x WHERE x.id = s.id FOR UPDATE;
            SELECT * INTO v FROM voice_periods p WHERE p.id = s.current_period_id;
            EXIT WHEN s.status <> 'active' OR v.period_end > now();
            IF s.cancel_at_period_end THEN
                UPDATE voice_subscriptions x SET status = 'canceled', ended_at = v.period_end,
                                                 updated_at = now()
                 WHERE x.id = s.id;
            ELSIF voice_period_open(s, coalesce(s.next_tier, s.tier), v.period_end) IS NULL THEN
                UPDATE voice_subscriptions x SET status = 'lapsed', ended_at = v.period_end,
                                                 updated_at = now()
                 WHERE x.id = s.id;
            END IF;
        END LOOP;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- ---------------------------------------------------------------------------------------
-- Tenant API (services/api-gateway/billing_voice.c): /v1/billing/voice.

CREATE FUNCTION api_voice_tier_json(t voice_tiers) RETURNS json
LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object('tier', t.tier, 'included_minutes', t.included_seconds / 60,
                             'fee_cents', t.fee_cents)
$$;

-- The state of the tenant's newest subscription and its current period, plus the tiers on
-- sale. status "none" when the tenant never subscribed.
CREATE FUNCTION api_voice_json(p_tenant text) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'status', coalesce(s.status, 'none'),
        'tier', s.tier,
        'next_tier', s.next_tier,
        'cancel_at_period_end', coalesce(s.cancel_at_period_end, false),
        'subscription_id', s.id,
        'current_period_start', CASE WHEN s.status = 'active' THEN voepy_ts(v.period_start) END,
        'current_period_end', CASE WHEN s.status = 'active' THEN voepy_ts(v.period_end) END,
        'fee_cents', CASE WHEN s.status = 'active' THEN v.fee_cents END,
        'included_seconds', CASE WHEN s.status = 'active' THEN v.included_seconds ELSE 0 END,
        'included_minutes', CASE WHEN s.status = 'active' THEN v.included_seconds / 60 ELSE 0 END,
        'used_seconds', CASE WHEN s.status = 'active' THEN v.used_seconds ELSE 0 END,
        'minutes_used', CASE WHEN s.status = 'active' THEN ceil(v.used_seconds / 60.0)::bigint
                             ELSE 0 END,
        'remaining_seconds', CASE WHEN s.status = 'active'
                                  THEN v.included_seconds - v.used_seconds ELSE 0 END,
        'tiers', (SELECT coalesce(json_agg(api_voice_tier_json(t) ORDER BY t.fee_cents, t.tier), '[]')
                    FROM voice_tiers t WHERE t.available))
      FROM (SELECT 1) one
      LEFT JOIN LATERAL (SELECT x.* FROM voice_subscriptions x WHERE x.tenant_id = p_tenant
                          ORDER BY x.status = 'active' DESC, x.created_at DESC, x.id DESC
                          LIMIT 1) s ON true
      LEFT JOIN voice_periods v ON v.id = s.current_period_id
$$;

CREATE FUNCTION api_voice_get(p_tenant text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE sql STABLE AS $$
    SELECT 200, api_voice_json(p_tenant)::text
$$;

-- POST subscribe {"tier"}: 201 with a new subscription (first fee charged); 200 when one
-- is active: the same tier resumes it (a pending cancel is withdrawn), another tier is
-- taken at the next period. 422 for a tier not on sale, 402 when the fee is not covered.
CREATE FUNCTION api_voice_subscribe(p_tenant text, p_tier text, p_path text, p_key text,
                                    p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    s voice_subscriptions;
    v_status int := 200;
    v_body text;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM voice_tiers t WHERE t.tier = p_tier AND t.available) THEN
        PERFORM voepy_raise('invalid_parameter', 'tier',
                            format('tier must be one of: %s.',
                                   (SELECT string_agg(t.tier, ', ' ORDER BY t.fee_cents, t.tier)
                                      FROM voice_tiers t WHERE t.available)));
    END IF;
    PERFORM voice_sub_renew(p_tenant);
    PERFORM voice_lock(p_tenant);
    SELECT * INTO s FROM voice_subscriptions x
     WHERE x.tenant_id = p_tenant AND x.status = 'active' FOR UPDATE;
    IF FOUND THEN
        UPDATE voice_subscriptions x
           SET cancel_at_period_end = false,
               next_tier = CASE WHEN p_tier = x.tier THEN NULL ELSE p_tier END, updated_at = now()
         WHERE x.id = s.id;
    ELSE
        INSERT INTO voice_subscriptions (id, tenant_id, tier, status)
        VALUES (voepy_id('vsub'), p_tenant, p_tier, 'active') RETURNING * INTO s;
        IF voice_period_open(s, p_tier, now()) IS NULL THEN
            PERFORM voepy_raise('balance_insufficient', 'tier',
                                format('The available balance does not cover the %s tier''s '
                                       'fee of %s cents; top up, then subscribe.', p_tier,
                                       (SELECT t.fee_cents FROM voice_tiers t WHERE t.tier = p_tier)));
        END IF;
        v_status := 201;
    END IF;
    v_body := api_voice_json(p_tenant)::text;
    PERFORM idem_finish(p_tenant, 'POST', p_path, p_key, v_status, v_body);
    RETURN QUERY SELECT v_status, v_body, false;
END $$;

-- POST cancel: the subscription ends at the end of the current period (its included
-- minutes stay usable until then). 404 when voice is not active for the tenant.
CREATE FUNCTION api_voice_cancel(p_tenant text, p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN;
    END IF;
    PERFORM voice_sub_renew(p_tenant);
    PERFORM voice_lock(p_tenant);
    UPDATE voice_subscriptions x SET cancel_at_period_end = true, next_tier = NULL,
                                     updated_at = now()
     WHERE x.tenant_id = p_tenant AND x.status = 'active';
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'Voice is not active for this tenant.');
    END IF;
    v_body := api_voice_json(p_tenant)::text;
    PERFORM idem_finish(p_tenant, 'POST', p_path, p_key, 200, v_body);
    RETURN QUERY SELECT 200, v_body, false;
END $$;

-- ---------------------------------------------------------------------------------------
-- Rating in batches, with included minutes (moved here from 0031, which it follows).
--
-- Batching (services/rating/rate_job.c): the rating service loads many calls in one
-- statement (rating_load over a jsonb array of ids), prices them in C (price.c), and
-- applies every verdict with one call of this function: one round trip and one commit for
-- the whole batch instead of one per call. Per call it does what rating_apply does (or
-- rating_fail for an item with "error"), and never raises for one call: the outcome says
-- what happened. p_items: [{"call_id", "rate_id", "billed", "cents"} | {"call_id",
-- "error"}]. Outcomes: rated, already_rated, failed (marked unpriced), not_found,
-- not_ended, invalid (a negative price: nothing done).
--
-- "cents" is the price without included minutes. A call of a tenant with a voice
-- subscription period covering its ended_at draws the period's included seconds first
-- (in the order the batch's calls ended) and is charged rating_cost_cents for the rest
-- (see the head of this file); the period's used_seconds moves in the same statement.
--
-- p_items may also carry "txn": the id of the call's call_charge transaction, made by the
-- caller (ids in C are far cheaper than voepy_id() in plpgsql); voepy_id('txn') otherwise.
--
-- Set-based: a handful of statements for the whole batch, however large, instead of a
-- plpgsql loop of per-call statements. Every charge credits the one platform_revenue
-- account, whose row every rating transaction updates: it is locked first, so batches
-- run one after another past this point and never hold it while waiting for a tenant
-- row another batch holds (no deadlock: whoever else moves money between a tenant and
-- revenue locks revenue first too); the calls are locked in id order. Each tenant
-- balance moves once per batch by the sum of its calls, so an auto-recharge threshold
-- crossed inside a batch is still seen once.
CREATE FUNCTION rating_apply_batch(p_items jsonb)
RETURNS TABLE (call_id text, outcome text, txn_id text)
LANGUAGE plpgsql AS $$
DECLARE
    v_revenue text := ledger_account(NULL, 'platform_revenue');
    v_ids text[] := ARRAY(SELECT x.call_id FROM jsonb_to_recordset(p_items) AS x(call_id text));
    v_tenants text[];
BEGIN
    PERFORM 1 FROM ledger_accounts a WHERE a.id = v_revenue FOR UPDATE;
    PERFORM 1 FROM calls k
     WHERE k.id = ANY (v_ids)
     ORDER BY k.id FOR UPDATE;
    v_tenants := ARRAY(SELECT DISTINCT k.tenant_id FROM calls k WHERE k.id = ANY (v_ids));
    -- the balance accounts exist before the statement below reads them (it could not see
    -- an account created inside itself)
    PERFORM ledger_account(t.tenant_id, 'tenant_balance')
       FROM unnest(v_tenants) AS t(tenant_id)
      WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a
                         WHERE coalesce(a.tenant_id, '') = t.tenant_id AND a.kind = 'tenant_balance');
    -- a period that has ended is renewed (or closed) before calls draw from periods
    PERFORM voice_sub_renew(t.tenant_id)
       FROM unnest(v_tenants) AS t(tenant_id)
      WHERE EXISTS (SELECT 1 FROM voice_subscriptions s
                      JOIN voice_periods v ON v.id = s.current_period_id
                     WHERE s.tenant_id = t.tenant_id AND s.status = 'active'
                       AND v.period_end <= now());
    PERFORM 1 FROM voice_periods v
     WHERE v.id IN (SELECT (voice_period_at(k.tenant_id, k.ended_at)).id FROM calls k
                     WHERE k.id = ANY (v_ids))
     ORDER BY v.id FOR UPDATE;
    RETURN QUERY
    WITH it AS (
        SELECT x.*, row_number() OVER (PARTITION BY x.call_id) = 1 AS first
          FROM jsonb_to_recordset(p_items)
               AS x(call_id text, rate_id text, billed int, cents bigint, error text, txn text)),
    b AS (
        SELECT it.*, k.tenant_id, k.to_number, k.ended_at,
               CASE WHEN k.id IS NULL THEN 'not_found'
                    WHEN k.rating_status = 'rated' THEN 'already_rated'
                    WHEN k.status NOT IN ('ended', 'failed') THEN 'not_ended'
                    WHEN it.error IS NOT NULL THEN 'failed'
                    WHEN it.cents IS NULL OR it.cents < 0 OR it.billed IS NULL OR it.billed < 0
                        THEN 'invalid'
                    -- a call listed twice is done once: the second listing says so
                    WHEN NOT it.first THEN 'already_rated'
                    ELSE 'rated' END AS verdict
          FROM it LEFT JOIN calls k ON k.id = it.call_id),
    -- included minutes: each priced call's period, and what is left there before it
    per AS (
        SELECT b.call_id, b.billed, b.ended_at, v.id AS period,
               v.included_seconds - v.used_seconds AS left0
          FROM b CROSS JOIN LATERAL voice_period_at(b.tenant_id, b.ended_at) v
         WHERE b.verdict = 'rated' AND b.billed > 0 AND b.rate_id IS NOT NULL AND v.id IS NOT NULL),
    draw AS (
        SELECT per.call_id, per.period,
               greatest(0, least(per.billed, per.left0 - coalesce(sum(per.billed) OVER (
                   PARTITION BY per.period ORDER BY per.ended_at, per.call_id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))) AS covered
          FROM per),
    priced AS (
        SELECT b.*, d.covered,
               CASE WHEN d.covered > 0
                    THEN rating_cost_cents(r.micros_per_minute, r.connection_fee_micros,
                                           r.minimum_charge_micros, b.billed - d.covered)
                    ELSE b.cents END AS charge
          FROM b LEFT JOIN draw d ON d.call_id = b.call_id AND b.verdict = 'rated'
          LEFT JOIN rates r ON r.id = b.rate_id AND d.covered > 0),
    used AS (
        UPDATE voice_periods v SET used_seconds = v.used_seconds + s.total
          FROM (SELECT draw.period, sum(draw.covered) AS total FROM draw GROUP BY draw.period) s
         WHERE v.id = s.period AND s.total > 0),
    pay AS (
        SELECT priced.*, coalesce(priced.txn, voepy_id('txn')) AS tid, a.id AS account
          FROM priced JOIN ledger_accounts a
            ON coalesce(a.tenant_id, '') = priced.tenant_id AND a.kind = 'tenant_balance'
         WHERE priced.verdict = 'rated' AND priced.charge > 0),
    -- one transaction per call; one that exists already (ON CONFLICT) moves nothing again
    ins AS (
        INSERT INTO ledger_transactions (id, tenant_id, kind, ref_type, ref_id, description)
        SELECT pay.tid, pay.tenant_id, 'call_charge', 'call', pay.call_id,
               format('call %s to %s: %s s', pay.call_id, pay.to_number, pay.billed)
          FROM pay
        ON CONFLICT (ref_type, ref_id, kind) DO NOTHING
        RETURNING id, ref_id),
    paid AS (
        SELECT pay.call_id, pay.charge AS cents, pay.account, ins.id AS txn
          FROM pay JOIN ins ON ins.ref_id = pay.call_id),
    ent AS (
        INSERT INTO ledger_entries (txn_id, account_id, amount_cents)
        SELECT paid.txn, e.account, e.amount
          FROM paid CROSS JOIN LATERAL (VALUES (paid.account, -paid.cents),
                                               (v_revenue, paid.cents)) AS e(account, amount)),
    debit AS (
        UPDATE ledger_accounts a SET balance_cents = a.balance_cents - s.total
          FROM (SELECT paid.account, sum(paid.cents) AS total FROM paid GROUP BY paid.account) s
         WHERE a.id = s.account),
    credit AS (
        UPDATE ledger_accounts a SET balance_cents = a.balance_cents + s.total
          FROM (SELECT sum(paid.cents) AS total FROM paid HAVING count(*) > 0) s
         WHERE a.id = v_revenue),
    marked AS (
        UPDATE calls k
           SET cost_cents = CASE WHEN b.verdict = 'rated' THEN b.charge ELSE k.cost_cents END,
               billed_seconds = CASE WHEN b.verdict = 'rated' THEN b.billed ELSE k.billed_seconds END,
               included_seconds = CASE WHEN b.verdict = 'rated' THEN b.covered
                                       ELSE k.included_seconds END,
               rate_id = CASE WHEN b.verdict = 'rated' THEN b.rate_id ELSE k.rate_id END,
               rating_status = CASE WHEN b.verdict = 'rated' THEN 'rated' ELSE 'failed' END,
               rating_error = CASE WHEN b.verdict = 'rated' THEN NULL ELSE left(b.error, 500) END,
               updated_at = now()
          FROM priced b
         WHERE k.id = b.call_id AND b.first AND b.verdict IN ('rated', 'failed'))
    SELECT b.call_id, b.verdict, paid.txn
      FROM b LEFT JOIN paid ON paid.call_id = b.call_id AND b.first;
END $$;
