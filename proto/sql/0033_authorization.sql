-- Authorisation: what a tenant may still spend, the pre-call check, and the holds the rating
-- service's authorizer (services/rating/authorizer.c) keeps on live calls so that a call is
-- cut off (end_reason balance_exhausted) before it spends money the tenant does not have.
-- The pre-call check itself, api_call_check_funds, is defined once in 0010 with its caller
-- (api_call_create) and uses billing_available_cents and auth_min_answered_cents below;
-- GET /v1/billing/balance (api_billing_balance, 0013) shows billing_reserved_cents.
--
-- A reservation is a hold, not a ledger entry: no money moves until rating charges the
-- ended call (rating_apply, 0030). The hold of a call stays active until that charge, and
-- the trigger below releases it in the same transaction as the charge, so the money is
-- always counted exactly once: held while the call runs or waits to be rated, charged
-- afterwards.
--
--   available = balance + credit_limit - sum(active reservations)
--
-- See docs/billing.md ("Balance, reservations and cutoff") for the design and its bound.

-- One row per call that ever got (or was refused) a hold.
--   amount_cents  what is held now: the price of covers_ms of answered time (the minimum
--                 charge of an answered call while it rings), never lowered while active
--   covers_ms     the answered time (ms) the amount pays for
--   cutoff_at     when the authorizer decided the call must end (funds exhausted); from
--                 then on the hold never grows and a hangup is (re)sent to the owning node
--   hangup_sent_at the last hangup command sent (re-sent every few seconds while live)
--   released_at   when rating charged (or failed to price) the call: the hold is over
CREATE TABLE call_reservations (
    call_id        text PRIMARY KEY REFERENCES calls(id),
    tenant_id      text NOT NULL REFERENCES tenants(id),
    amount_cents   bigint NOT NULL DEFAULT 0 CHECK (amount_cents >= 0),
    covers_ms      bigint NOT NULL DEFAULT 0 CHECK (covers_ms >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    cutoff_at      timestamptz,
    hangup_sent_at timestamptz,
    released_at    timestamptz
);
CREATE INDEX call_reservations_active ON call_reservations (tenant_id) WHERE released_at IS NULL;

-- Rating's verdict replaces the hold: when a call leaves rating_status 'pending' (rated
-- with its charge, or failed), its reservation is released in the same transaction.
CREATE FUNCTION auth_release_on_rating() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE call_reservations SET released_at = now(), updated_at = now()
     WHERE call_id = NEW.id AND released_at IS NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER calls_release_reservation AFTER UPDATE OF rating_status ON calls
    FOR EACH ROW WHEN (OLD.rating_status = 'pending' AND NEW.rating_status <> 'pending')
    EXECUTE FUNCTION auth_release_on_rating();

CREATE FUNCTION billing_reserved_cents(p_tenant text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(amount_cents), 0)::bigint FROM call_reservations
     WHERE tenant_id = p_tenant AND released_at IS NULL
$$;

-- What a new call or a growing reservation may still use.
CREATE FUNCTION billing_available_cents(p_tenant text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT a.balance_cents FROM ledger_accounts a
                      WHERE a.tenant_id = t.id AND a.kind = 'tenant_balance'), 0)
           + t.credit_limit_cents - billing_reserved_cents(t.id)
      FROM tenants t WHERE t.id = p_tenant
$$;

-- The least an answered call at rate r costs, in cents: the minimum charge, or the
-- connection fee plus the first increment when that is more (price.h's formula at 1 ms of
-- answered time). 0 without a rate (such a call cannot be priced: rating marks it failed).
CREATE FUNCTION auth_min_answered_cents(r rates) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN r.id IS NULL THEN 0
                ELSE ceil(greatest(r.minimum_charge_micros::numeric,
                                   r.connection_fee_micros
                                   + ceil(r.initial_increment_s::numeric * r.micros_per_minute / 60))
                          / 1000000)::bigint END
$$;

-- The authorizer's read, once per check period: every call not over, with the time it has
-- been answered (0 while it rings; measured on the database's clock, as rating measures
-- answered time from the rows), its rate (the kind of its direction, at initiated_at as
-- rating prices it; NULL columns when no rate matches) and what it holds now. Calls whose
-- hold was cut off are included (their hangup may need sending again).
CREATE FUNCTION auth_live_calls()
RETURNS TABLE (call_id text, tenant_id text, answered boolean, elapsed_ms bigint,
               rate_id text, micros_per_minute bigint, connection_fee_micros bigint,
               initial_increment_s int, subsequent_increment_s int,
               minimum_charge_micros bigint, held_cents bigint)
LANGUAGE sql STABLE AS $$
    SELECT c.id, c.tenant_id, c.answered_at IS NOT NULL,
           CASE WHEN c.answered_at IS NULL THEN 0
                ELSE greatest(0, ceil(extract(epoch FROM (clock_timestamp() - c.answered_at))
                                      * 1000))::bigint END,
           r.id, r.micros_per_minute, r.connection_fee_micros, r.initial_increment_s,
           r.subsequent_increment_s, r.minimum_charge_micros, coalesce(h.amount_cents, 0)
      FROM calls c
      LEFT JOIN LATERAL rating_find_rate_kind(c.tenant_id, c.direction, c.to_number,
                                              c.initiated_at) r ON true
      LEFT JOIN call_reservations h ON h.call_id = c.id
     WHERE c.status NOT IN ('ended', 'failed')
$$;

-- The authorizer's write: for each call (p_calls[i]) the hold it needs now (p_want[i]
-- cents, covering p_covers[i] ms of answered time). Per tenant (serialised with an
-- advisory lock, so two rating instances never grant the same money twice), answered
-- calls first, oldest answer first, then ringing calls: a hold that may grow grows; a call
-- whose hold cannot grow within the tenant's available funds is cut off. Returns the calls
-- to send a hangup to now (cut off now, or cut off earlier and still live after 3 s),
-- with their owning node. A call that ended meanwhile is left alone.
--
-- Included minutes of a voice tier (0036) lower the holds: the tenant's seconds left are
-- handed to its answered calls in the same order, and a call holds only the price of the
-- billed seconds they do not cover (a ringing call: of its first increment).
CREATE FUNCTION auth_apply(p_calls text[], p_want bigint[], p_covers bigint[])
RETURNS TABLE (call_id text, tenant_id text, node_id text)
LANGUAGE plpgsql AS $$
DECLARE
    x record;
    h call_reservations;
    v_tenant text := NULL;
    v_left bigint := 0;
    v_billed bigint;
    v_take bigint;
    v_rate rates;
BEGIN
    FOR x IN SELECT c.id, c.tenant_id AS tid, c.node_id AS node, u.want, u.covers,
                    c.answered_at IS NOT NULL AS answered, c.direction, c.to_number,
                    c.initiated_at
               FROM unnest(p_calls, p_want, p_covers) AS u(id, want, covers)
               JOIN calls c ON c.id = u.id
              WHERE c.status NOT IN ('ended', 'failed')
              ORDER BY c.tenant_id, c.answered_at NULLS LAST, c.initiated_at, c.id LOOP
        IF v_tenant IS DISTINCT FROM x.tid THEN
            v_tenant := x.tid;
            PERFORM pg_advisory_xact_lock(hashtext('voepy_auth:' || x.tid));
            v_left := voice_included_left(x.tid);
        END IF;
        -- the rate is looked up again only for a tenant with included seconds left (the
        -- round's other calls keep the hold the service priced)
        IF v_left > 0 THEN
            v_rate := rating_find_rate_kind(x.tid, x.direction, x.to_number, x.initiated_at);
        END IF;
        IF v_left > 0 AND v_rate.id IS NOT NULL THEN
            v_billed := CASE WHEN x.answered THEN x.covers / 1000 ELSE v_rate.initial_increment_s END;
            v_take := least(v_left, v_billed);
            IF x.answered THEN
                v_left := v_left - v_take;
            END IF;
            x.want := least(x.want, rating_cost_cents(v_rate.micros_per_minute,
                                                      v_rate.connection_fee_micros,
                                                      v_rate.minimum_charge_micros,
                                                      v_billed - v_take));
        END IF;
        -- The loop's snapshot may be older than the call's ending and rating: a hold
        -- written now would never be released (rating releases holds as it rates). So
        -- the call must still await rating, under a share lock that rating's update of
        -- it waits for; a call whose row is locked (being ended or rated right now) is
        -- skipped this round instead of waited for, so this never deadlocks with a
        -- rating batch (seen: 2 holds left active after a node's takeover, under ASan).
        PERFORM 1 FROM calls c WHERE c.id = x.id AND c.rating_status = 'pending'
            FOR SHARE SKIP LOCKED;
        IF NOT FOUND THEN
            CONTINUE;
        END IF;
        INSERT INTO call_reservations AS r (call_id, tenant_id) VALUES (x.id, x.tid)
        ON CONFLICT ON CONSTRAINT call_reservations_pkey DO NOTHING;
        SELECT * INTO h FROM call_reservations r WHERE r.call_id = x.id FOR UPDATE;
        IF h.released_at IS NOT NULL THEN
            CONTINUE; -- rated already (a row written by hand): nothing to hold
        ELSIF h.cutoff_at IS NULL AND x.want <= h.amount_cents THEN
            UPDATE call_reservations r SET covers_ms = greatest(r.covers_ms, x.covers)
             WHERE r.call_id = x.id AND x.covers > r.covers_ms;
        ELSIF h.cutoff_at IS NULL AND x.want - h.amount_cents <= billing_available_cents(x.tid) THEN
            UPDATE call_reservations r SET amount_cents = x.want,
                                           covers_ms = greatest(r.covers_ms, x.covers),
                                           updated_at = now()
             WHERE r.call_id = x.id;
        ELSIF x.node IS NOT NULL
              AND (h.hangup_sent_at IS NULL OR h.hangup_sent_at < now() - interval '3 seconds') THEN
            UPDATE call_reservations r SET cutoff_at = coalesce(r.cutoff_at, now()),
                                           hangup_sent_at = now(), updated_at = now()
             WHERE r.call_id = x.id;
            call_id := x.id;
            tenant_id := x.tid;
            node_id := x.node;
            RETURN NEXT;
        END IF;
    END LOOP;
END $$;

-- The books' invariants, one row each: name, whether it holds, and its figures (what
-- voepy-ledger-check prints; tools/ledger-check). Read-only; run any time.
--   transactions_balanced  every ledger transaction's entries sum to zero (and it has some)
--   entries_sum_zero       the sum of all entries is zero (debits = credits)
--   balances_cached        every account's balance_cents is the sum of its entries
--   balances_within_credit no tenant balance is below minus its credit limit
--   ended_calls_rated      every ended call has left rating_status 'pending'
--   calls_charged_once     no call has two call_charge transactions; a rated call costing
--                          more than 0 has exactly one, of its cost_cents; a free or failed
--                          call has none
--   top_ups_credited_once  no top-up has two top_up transactions
--   holds_released         no rated or failed call still holds funds
CREATE FUNCTION billing_check_invariants()
RETURNS TABLE (name text, ok boolean, figures text)
LANGUAGE sql STABLE AS $$
    WITH t AS (SELECT x.id, coalesce(sum(e.amount_cents), 0) AS total, count(e.id) AS n
                 FROM ledger_transactions x LEFT JOIN ledger_entries e ON e.txn_id = x.id
                GROUP BY x.id)
    SELECT 'transactions_balanced', count(*) FILTER (WHERE total <> 0 OR n = 0) = 0,
           format('%s transactions, %s unbalanced or empty', count(*),
                  count(*) FILTER (WHERE total <> 0 OR n = 0))
      FROM t
    UNION ALL
    SELECT 'entries_sum_zero', coalesce(sum(amount_cents), 0) = 0,
           format('%s entries, debits %s, credits %s, sum %s cents', count(*),
                  coalesce(-sum(amount_cents) FILTER (WHERE amount_cents < 0), 0),
                  coalesce(sum(amount_cents) FILTER (WHERE amount_cents > 0), 0),
                  coalesce(sum(amount_cents), 0))
      FROM ledger_entries
    UNION ALL
    SELECT 'balances_cached', count(*) FILTER (WHERE a.balance_cents <> s.total) = 0,
           format('%s accounts, %s whose cached balance differs from its entries', count(*),
                  count(*) FILTER (WHERE a.balance_cents <> s.total))
      FROM ledger_accounts a
     CROSS JOIN LATERAL (SELECT coalesce(sum(e.amount_cents), 0) AS total
                           FROM ledger_entries e WHERE e.account_id = a.id) s
    UNION ALL
    SELECT 'balances_within_credit', count(*) FILTER (WHERE a.balance_cents < -t.credit_limit_cents) = 0,
           format('%s tenant balances, %s below minus their credit limit (lowest margin %s cents)',
                  count(*), count(*) FILTER (WHERE a.balance_cents < -t.credit_limit_cents),
                  coalesce(min(a.balance_cents + t.credit_limit_cents), 0))
      FROM ledger_accounts a JOIN tenants t ON t.id = a.tenant_id
     WHERE a.kind = 'tenant_balance'
    UNION ALL
    SELECT 'ended_calls_rated', count(*) FILTER (WHERE rating_status = 'pending') = 0,
           format('%s ended calls: %s rated, %s failed, %s not yet rated', count(*),
                  count(*) FILTER (WHERE rating_status = 'rated'),
                  count(*) FILTER (WHERE rating_status = 'failed'),
                  count(*) FILTER (WHERE rating_status = 'pending'))
      FROM calls WHERE status IN ('ended', 'failed')
    UNION ALL
    SELECT 'calls_charged_once', count(*) FILTER (WHERE NOT good) = 0,
           format('%s calls rated or charged, %s with a wrong number or amount of call_charge transactions',
                  count(*), count(*) FILTER (WHERE NOT good))
      FROM (SELECT c.id,
                   CASE WHEN c.rating_status = 'rated' AND c.cost_cents > 0
                        THEN coalesce(x.n, 0) = 1 AND x.amount = c.cost_cents
                        ELSE coalesce(x.n, 0) = 0 END AS good
              FROM calls c
              LEFT JOIN (SELECT lt.ref_id, count(DISTINCT lt.id) AS n,
                                sum(e.amount_cents) FILTER (WHERE e.amount_cents > 0) AS amount
                           FROM ledger_transactions lt JOIN ledger_entries e ON e.txn_id = lt.id
                          WHERE lt.kind = 'call_charge' AND lt.ref_type = 'call'
                          GROUP BY lt.ref_id) x ON x.ref_id = c.id
             WHERE c.rating_status <> 'pending' OR x.n IS NOT NULL) k
    UNION ALL
    SELECT 'top_ups_credited_once', count(*) FILTER (WHERE n > 1) = 0,
           format('%s top-ups credited, %s more than once', count(*), count(*) FILTER (WHERE n > 1))
      FROM (SELECT ref_id, count(*) AS n FROM ledger_transactions
             WHERE kind = 'top_up' GROUP BY ref_id) u
    UNION ALL
    SELECT 'holds_released', count(*) = 0,
           format('%s holds still active on rated or failed calls', count(*))
      FROM call_reservations h JOIN calls c ON c.id = h.call_id
     WHERE h.released_at IS NULL AND c.rating_status <> 'pending'
$$;
