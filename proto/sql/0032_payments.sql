-- Payments (issue 6): payment methods, top-ups, the payment provider interface and
-- auto-recharge (services/api-gateway/billing_payments.c, admin_payments.c; docs/billing.md
-- "Top-ups, payment methods and auto-recharge"). Conventions as in 0010_api.sql: one
-- function per API operation answering (http_status, http_body[, replayed]), idempotency
-- claimed with idem_begin() and stored with idem_finish() in the same transaction, every
-- lookup filtered on the tenant (another tenant's id is not_found).
--
-- Money moves only when a top-up succeeds: one ledger_transfer() payments_clearing ->
-- tenant_balance of kind 'top_up', ref ('top_up', <top-up id>), so a top-up is credited at
-- most once whatever happens (the ledger's unique (ref_type, ref_id, kind)).

-- ---------------------------------------------------------------------------------------
-- The provider interface
--
-- A payment provider is a row here and a branch in pay_provider_submit(). A payment
-- method names its provider and, for providers that hold the customer's instrument, the
-- provider's own reference to it (a card provider's customer/payment-method token). voepy
-- never stores card numbers: the label refuses anything that looks like one.
--
-- The life of a top-up, whatever the provider:
--   pay_top_up_start()   inserts it (pending_approval) and asks pay_provider_submit()
--                        what happens next; submit may only record (it runs inside the
--                        caller's transaction, possibly inside a call charge's ledger
--                        update, so it must neither raise nor talk to the network);
--   pay_top_up_settle()  ends it: succeeded (credits the ledger, once) or declined.
-- The bundled provider 'operator_approved' leaves the top-up pending until an operator
-- approves or declines it (/admin/v1/top_ups/{id}/approve|decline, which call settle).
-- A card provider would return 'pending_approval' too (meaning "waiting for the
-- provider"), be driven after commit by a worker that charges the card with
-- provider_ref and an idempotency key of the top-up id, and call pay_top_up_settle()
-- with the outcome (and its charge id in top_ups.provider_ref).
CREATE TABLE payment_providers (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{1,39}$'),
    description text NOT NULL
);
INSERT INTO payment_providers (name, description)
VALUES ('operator_approved', 'An operator confirms each top-up (bank transfer, invoice, ...).');

CREATE TABLE payment_methods (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants(id),
    provider     text NOT NULL REFERENCES payment_providers(name),
    provider_ref text CHECK (provider_ref IS NULL OR length(provider_ref) BETWEEN 1 AND 255),
    label        text NOT NULL CHECK (length(label) BETWEEN 1 AND 200
                                      AND label !~ '[0-9]([ -]?[0-9]){11,}'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz          -- soft delete: top-ups keep pointing at their method
);
CREATE INDEX payment_methods_tenant ON payment_methods (tenant_id, created_at, id)
    WHERE deleted_at IS NULL;

CREATE TABLE top_ups (
    id                text PRIMARY KEY,
    tenant_id         text NOT NULL REFERENCES tenants(id),
    payment_method_id text NOT NULL REFERENCES payment_methods(id),
    amount_cents      bigint NOT NULL CHECK (amount_cents > 0 AND amount_cents <= 10000000),
    status            text NOT NULL DEFAULT 'pending_approval'
                      CHECK (status IN ('pending_approval', 'succeeded', 'declined')),
    trigger           text NOT NULL CHECK (trigger IN ('manual', 'auto_recharge')),
    provider_ref      text,            -- the provider's reference of the payment, if any
    decline_reason    text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    CHECK ((status = 'pending_approval') = (completed_at IS NULL))
);
CREATE INDEX top_ups_tenant ON top_ups (tenant_id, created_at DESC, id DESC);
CREATE INDEX top_ups_pending ON top_ups (created_at, id) WHERE status = 'pending_approval';

-- Auto-recharge, one row per tenant that ever configured it. armed: the next drop of the
-- balance below threshold_cents starts a top-up; cleared when it does, set again once the
-- balance is back at or above the threshold. See pay_balance_changed() for why this fires
-- exactly once per crossing.
CREATE TABLE auto_recharge (
    tenant_id         text PRIMARY KEY REFERENCES tenants(id),
    enabled           boolean NOT NULL DEFAULT false,
    threshold_cents   bigint CHECK (threshold_cents BETWEEN 0 AND 10000000),
    amount_cents      bigint CHECK (amount_cents > 0 AND amount_cents <= 10000000),
    payment_method_id text REFERENCES payment_methods(id),
    armed             boolean NOT NULL DEFAULT true,
    last_triggered_at timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT enabled OR (threshold_cents IS NOT NULL AND amount_cents IS NOT NULL
                           AND payment_method_id IS NOT NULL))
);

-- ---------------------------------------------------------------------------------------
-- Renderers

CREATE FUNCTION api_payment_method_json(m payment_methods) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', m.id, 'type', m.provider, 'label', m.label,
                             'created_at', voepy_ts(m.created_at))
$$;

-- A TopUp; the operator's view (p_admin) adds tenant_id.
CREATE FUNCTION api_top_up_json(t top_ups, p_admin boolean) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT (json_build_object(
        'id', t.id, 'amount_cents', t.amount_cents, 'currency', 'USD', 'status', t.status,
        'payment_method_id', t.payment_method_id, 'trigger', t.trigger,
        'decline_reason', t.decline_reason, 'created_at', voepy_ts(t.created_at),
        'completed_at', voepy_ts(t.completed_at))::jsonb
        || CASE WHEN p_admin THEN jsonb_build_object('tenant_id', t.tenant_id)
                ELSE '{}'::jsonb END)::json
$$;

CREATE FUNCTION api_auto_recharge_json(p_tenant text) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'enabled', coalesce(a.enabled, false), 'threshold_cents', a.threshold_cents,
        'amount_cents', a.amount_cents, 'payment_method_id', a.payment_method_id,
        'armed', coalesce(a.armed, true), 'last_triggered_at', voepy_ts(a.last_triggered_at),
        'updated_at', voepy_ts(a.updated_at))
      FROM (SELECT 1) one LEFT JOIN auto_recharge a ON a.tenant_id = p_tenant
$$;

-- ---------------------------------------------------------------------------------------
-- The provider interface (see the top of this file)

-- What happens to a just-inserted top-up: the status it should have now. Must not raise
-- for a known provider and must not do I/O (see above).
CREATE FUNCTION pay_provider_submit(p_provider text, t top_ups) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    CASE p_provider
    WHEN 'operator_approved' THEN
        RETURN 'pending_approval'; -- the operator confirms (/admin/v1/top_ups/{id}/approve)
    ELSE
        RAISE EXCEPTION 'pay_provider_submit: no provider %', p_provider;
    END CASE;
END $$;

-- A tenant's payment method that is not deleted, or not_found naming p_field.
CREATE FUNCTION pay_method_find(p_tenant text, p_id text, p_field text) RETURNS payment_methods
LANGUAGE plpgsql STABLE AS $$
DECLARE
    m payment_methods;
BEGIN
    SELECT * INTO m FROM payment_methods x
     WHERE x.id = p_id AND x.tenant_id = p_tenant AND x.deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', p_field, 'No payment method with this id.');
    END IF;
    RETURN m;
END $$;

-- Insert a top-up for method m and hand it to its provider. The caller checked that m is
-- the tenant's and not deleted.
CREATE FUNCTION pay_top_up_start(m payment_methods, p_amount bigint, p_trigger text)
RETURNS top_ups LANGUAGE plpgsql AS $$
DECLARE
    t top_ups;
    v_status text;
BEGIN
    INSERT INTO top_ups (id, tenant_id, payment_method_id, amount_cents, trigger)
    VALUES (voepy_id('topup'), m.tenant_id, m.id, p_amount, p_trigger)
    RETURNING * INTO t;
    v_status := pay_provider_submit(m.provider, t);
    IF v_status <> t.status THEN
        RAISE EXCEPTION 'pay_top_up_start: provider % may only record a pending top-up',
                        m.provider;
    END IF;
    RETURN t;
END $$;

-- End a pending top-up (locked by the caller): succeeded credits payments_clearing ->
-- tenant_balance once and emits billing.top_up_succeeded; declined records the reason and
-- emits billing.top_up_declined. A top-up that already ended is returned unchanged when
-- the outcome is the same (an operator's retry), and is a conflict otherwise.
CREATE FUNCTION pay_top_up_settle(t top_ups, p_succeeded boolean, p_reason text)
RETURNS top_ups LANGUAGE plpgsql AS $$
DECLARE
    v_balance bigint;
BEGIN
    IF t.status <> 'pending_approval' THEN
        IF (t.status = 'succeeded') = p_succeeded THEN
            RETURN t;
        END IF;
        PERFORM voepy_raise('conflict', NULL,
                            format('The top-up was already %s; it can no longer be %s.',
                                   t.status, CASE WHEN p_succeeded THEN 'approved'
                                                  ELSE 'declined' END));
    END IF;
    IF p_succeeded THEN
        PERFORM ledger_transfer(t.tenant_id, 'top_up', 'top_up', t.id,
                                ledger_account(NULL, 'payments_clearing'),
                                ledger_account(t.tenant_id, 'tenant_balance'), t.amount_cents,
                                CASE t.trigger WHEN 'auto_recharge' THEN 'Auto-recharge top-up'
                                               ELSE 'Top-up' END);
    END IF;
    UPDATE top_ups x SET status = CASE WHEN p_succeeded THEN 'succeeded' ELSE 'declined' END,
                         decline_reason = CASE WHEN p_succeeded THEN NULL
                                               ELSE coalesce(p_reason, 'Declined.') END,
                         completed_at = now()
     WHERE x.id = t.id
    RETURNING * INTO t;
    IF p_succeeded THEN
        SELECT a.balance_cents INTO v_balance FROM ledger_accounts a
         WHERE a.tenant_id = t.tenant_id AND a.kind = 'tenant_balance';
        PERFORM voepy_emit(t.tenant_id, NULL, 'billing.top_up_succeeded',
                           json_build_object('top_up', api_top_up_json(t, false),
                                             'balance_cents', v_balance));
    ELSE
        PERFORM voepy_emit(t.tenant_id, NULL, 'billing.top_up_declined',
                           json_build_object('top_up', api_top_up_json(t, false)));
    END IF;
    RETURN t;
END $$;

-- ---------------------------------------------------------------------------------------
-- Auto-recharge: fires once per crossing below the threshold
--
-- Why exactly once, under any number of concurrent transactions:
--  * every change of a tenant's balance is an UPDATE of its one tenant_balance row in
--    ledger_accounts (ledger_transfer), and pay_balance_changed() runs as an AFTER UPDATE
--    trigger of that row, i.e. while the transaction holds the row's lock until it ends;
--  * so all balance changes of one tenant are serialised: under READ COMMITTED a waiting
--    UPDATE re-reads the row its predecessor committed, and OLD/NEW form one chain;
--  * every writer of auto_recharge.armed (this trigger, and api_auto_recharge_put, which
--    first takes the same row lock with SELECT ... FOR UPDATE) holds that lock when it
--    reads and writes the settings, and each statement of a plpgsql function takes a new
--    snapshot after the lock was granted, so it sees the predecessor's committed armed;
--  * armed goes true -> false only together with the creation of one auto top-up, in the
--    same transaction: a rolled-back charge takes both back. Twenty charges that cross
--    the threshold at once therefore queue on the row, the first one below the threshold
--    disarms and starts the top-up, the others see armed = false and do nothing.
--  * re-arming happens in the same serialised chain: the first change that leaves the
--    balance at or above the threshold sets armed again.
-- Lock order is the same everywhere (tenant_balance row, then auto_recharge row), so this
-- adds no deadlock. A transaction at REPEATABLE READ or above that raced would fail with
-- a serialisation error rather than fire twice.

-- The decision for one balance value; s is the tenant's settings row, read while the
-- caller holds the tenant_balance row lock. Returns the auto top-up it started, or NULL.
CREATE FUNCTION pay_auto_recharge_check(s auto_recharge, p_balance bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    t top_ups;
BEGIN
    IF NOT s.enabled THEN
        RETURN NULL;
    END IF;
    IF p_balance >= s.threshold_cents THEN
        IF NOT s.armed THEN
            UPDATE auto_recharge SET armed = true WHERE tenant_id = s.tenant_id;
        END IF;
        RETURN NULL;
    END IF;
    IF NOT s.armed THEN
        RETURN NULL; -- this crossing already started its top-up
    END IF;
    UPDATE auto_recharge SET armed = false, last_triggered_at = now()
     WHERE tenant_id = s.tenant_id;
    t := pay_top_up_start((SELECT m FROM payment_methods m WHERE m.id = s.payment_method_id),
                          s.amount_cents, 'auto_recharge');
    PERFORM voepy_emit(s.tenant_id, NULL, 'billing.auto_recharge_triggered',
                       json_build_object('top_up', api_top_up_json(t, false),
                                         'threshold_cents', s.threshold_cents,
                                         'balance_cents', p_balance));
    RETURN t.id;
END $$;

CREATE FUNCTION pay_balance_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    s auto_recharge;
BEGIN
    SELECT * INTO s FROM auto_recharge a WHERE a.tenant_id = NEW.tenant_id;
    IF FOUND THEN
        PERFORM pay_auto_recharge_check(s, NEW.balance_cents);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_accounts_auto_recharge AFTER UPDATE OF balance_cents ON ledger_accounts
    FOR EACH ROW
    WHEN (NEW.kind = 'tenant_balance' AND NEW.balance_cents <> OLD.balance_cents)
    EXECUTE FUNCTION pay_balance_changed();

-- ---------------------------------------------------------------------------------------
-- Tenant API: payment methods (/v1/billing/payment_methods)

-- POST: p_req is the validated body {type, label}.
CREATE FUNCTION api_payment_method_create(p_tenant text, p_req jsonb, p_path text, p_key text,
                                          p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    m payment_methods;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    IF NOT EXISTS (SELECT 1 FROM payment_providers p WHERE p.name = p_req->>'type') THEN
        PERFORM voepy_raise('invalid_parameter', 'type',
                            'type must be a payment provider voepy offers: operator_approved.');
    END IF;
    IF (p_req->>'label') ~ '[0-9]([ -]?[0-9]){11,}' THEN
        PERFORM voepy_raise('invalid_parameter', 'label',
                            'label must not contain a card or account number.');
    END IF;
    INSERT INTO payment_methods (id, tenant_id, provider, label)
    VALUES (voepy_id('pm'), p_tenant, p_req->>'type', p_req->>'label')
    RETURNING * INTO m;
    v_body := api_payment_method_json(m)::text;
    PERFORM idem_finish(p_tenant, 'POST', p_path, p_key, 201, v_body);
    RETURN QUERY SELECT 201, v_body, false;
END $$;

-- GET: the tenant's methods that are not deleted, oldest first.
CREATE FUNCTION api_payment_methods_list(p_tenant text, p_cursor text, p_limit int)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur record;
BEGIN
    SELECT * INTO cur FROM api_cursor_parse(p_cursor);
    RETURN QUERY SELECT 200, api_page(ARRAY(
        SELECT (m.created_at, m.id, api_payment_method_json(m))::api_page_row
          FROM payment_methods m
         WHERE m.tenant_id = p_tenant AND m.deleted_at IS NULL
           AND (cur.t IS NULL OR (m.created_at, m.id) > (cur.t, cur.id))
         ORDER BY m.created_at, m.id
         LIMIT p_limit + 1), p_limit);
END $$;

-- DELETE: 204. The method auto-recharge uses (enabled or not) is a conflict: change or
-- clear auto-recharge's payment method first. Pending top-ups keep their method (it is
-- soft-deleted) and can still be approved or declined. The row lock (NO KEY UPDATE)
-- orders this with api_auto_recharge_put, which takes FOR SHARE on the method it sets.
CREATE FUNCTION api_payment_method_delete(p_tenant text, p_id text, p_path text, p_key text,
                                          p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'DELETE', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    PERFORM 1 FROM payment_methods x
     WHERE x.id = p_id AND x.tenant_id = p_tenant AND x.deleted_at IS NULL FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No payment method with this id.');
    END IF;
    IF EXISTS (SELECT 1 FROM auto_recharge a WHERE a.tenant_id = p_tenant
                  AND a.payment_method_id = p_id) THEN
        PERFORM voepy_raise('conflict', NULL,
                            'Auto-recharge uses this payment method; set another '
                            'payment_method_id with PUT /v1/billing/auto_recharge first.');
    END IF;
    UPDATE payment_methods x SET deleted_at = now() WHERE x.id = p_id;
    PERFORM idem_finish(p_tenant, 'DELETE', p_path, p_key, 204, '');
    RETURN QUERY SELECT 204, ''::text, false;
END $$;

-- ---------------------------------------------------------------------------------------
-- Tenant API: top-ups (/v1/billing/top_ups)

-- POST: a manual top-up {amount_cents, payment_method_id}; 201 with the TopUp.
CREATE FUNCTION api_top_up_create(p_tenant text, p_amount bigint, p_method text, p_path text,
                                  p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    t top_ups;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    t := pay_top_up_start(pay_method_find(p_tenant, p_method, 'payment_method_id'), p_amount,
                          'manual');
    v_body := api_top_up_json(t, false)::text;
    PERFORM idem_finish(p_tenant, 'POST', p_path, p_key, 201, v_body);
    RETURN QUERY SELECT 201, v_body, false;
END $$;

-- GET [?status=]: newest first.
CREATE FUNCTION api_top_ups_list(p_tenant text, p_status text, p_cursor text, p_limit int)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur record;
BEGIN
    SELECT * INTO cur FROM api_cursor_parse(p_cursor);
    RETURN QUERY SELECT 200, api_page(ARRAY(
        SELECT (t.created_at, t.id, api_top_up_json(t, false))::api_page_row FROM top_ups t
         WHERE t.tenant_id = p_tenant
           AND (p_status IS NULL OR t.status = p_status)
           AND (cur.t IS NULL OR (t.created_at, t.id) < (cur.t, cur.id))
         ORDER BY t.created_at DESC, t.id DESC
         LIMIT p_limit + 1), p_limit);
END $$;

CREATE FUNCTION api_top_up_get(p_tenant text, p_id text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t top_ups;
BEGIN
    SELECT * INTO t FROM top_ups x WHERE x.id = p_id AND x.tenant_id = p_tenant;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No top-up with this id.');
    END IF;
    RETURN QUERY SELECT 200, api_top_up_json(t, false)::text;
END $$;

-- ---------------------------------------------------------------------------------------
-- Tenant API: auto-recharge (/v1/billing/auto_recharge)

CREATE FUNCTION api_auto_recharge_get(p_tenant text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE sql STABLE AS $$
    SELECT 200, api_auto_recharge_json(p_tenant)::text
$$;

-- PUT: p_req is the validated body; "enabled" is required, the other members replace
-- the stored ones when present and keep them when absent (so {"enabled": false} pauses
-- auto-recharge without forgetting it). Enabled settings need all three. Enabling, or
-- changing the threshold, arms it again and checks the balance at once: a balance already
-- below the new threshold starts one auto top-up now (the same path as a crossing).
CREATE FUNCTION api_auto_recharge_put(p_tenant text, p_req jsonb, p_path text, p_key text,
                                      p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    v_balance bigint;
    v_account text := ledger_account(p_tenant, 'tenant_balance');
    old auto_recharge;
    s auto_recharge;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'PUT', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    -- The lock every writer of auto_recharge holds first (see pay_balance_changed).
    SELECT a.balance_cents INTO v_balance FROM ledger_accounts a
     WHERE a.id = v_account FOR UPDATE;
    IF p_req ? 'payment_method_id' AND jsonb_typeof(p_req->'payment_method_id') = 'string' THEN
        PERFORM 1 FROM payment_methods x
         WHERE x.id = p_req->>'payment_method_id' AND x.tenant_id = p_tenant
           AND x.deleted_at IS NULL FOR SHARE;
        IF NOT FOUND THEN
            PERFORM voepy_raise('not_found', 'payment_method_id', 'No payment method with this id.');
        END IF;
    END IF;
    SELECT * INTO old FROM auto_recharge a WHERE a.tenant_id = p_tenant;
    s.tenant_id := p_tenant;
    s.enabled := (p_req->>'enabled')::boolean;
    s.threshold_cents := CASE WHEN p_req ? 'threshold_cents' THEN (p_req->>'threshold_cents')::bigint
                              ELSE old.threshold_cents END;
    s.amount_cents := CASE WHEN p_req ? 'amount_cents' THEN (p_req->>'amount_cents')::bigint
                           ELSE old.amount_cents END;
    s.payment_method_id := CASE WHEN p_req ? 'payment_method_id' THEN p_req->>'payment_method_id'
                                ELSE old.payment_method_id END;
    IF s.enabled THEN
        IF s.threshold_cents IS NULL THEN
            PERFORM voepy_raise('invalid_parameter', 'threshold_cents',
                                'threshold_cents is required to enable auto-recharge.');
        ELSIF s.amount_cents IS NULL THEN
            PERFORM voepy_raise('invalid_parameter', 'amount_cents',
                                'amount_cents is required to enable auto-recharge.');
        ELSIF s.payment_method_id IS NULL THEN
            PERFORM voepy_raise('invalid_parameter', 'payment_method_id',
                                'payment_method_id is required to enable auto-recharge.');
        END IF;
    END IF;
    s.armed := CASE WHEN s.enabled AND (old.tenant_id IS NULL OR NOT old.enabled
                                        OR old.threshold_cents IS DISTINCT FROM s.threshold_cents)
                    THEN true ELSE coalesce(old.armed, true) END;
    s.last_triggered_at := old.last_triggered_at;
    s.updated_at := now();
    INSERT INTO auto_recharge VALUES (s.*)
    ON CONFLICT (tenant_id) DO UPDATE
       SET enabled = EXCLUDED.enabled, threshold_cents = EXCLUDED.threshold_cents,
           amount_cents = EXCLUDED.amount_cents, payment_method_id = EXCLUDED.payment_method_id,
           armed = EXCLUDED.armed, updated_at = EXCLUDED.updated_at;
    PERFORM pay_auto_recharge_check(s, v_balance);
    v_body := api_auto_recharge_json(p_tenant)::text;
    PERFORM idem_finish(p_tenant, 'PUT', p_path, p_key, 200, v_body);
    RETURN QUERY SELECT 200, v_body, false;
END $$;

-- ---------------------------------------------------------------------------------------
-- Operator API: the bundled operator_approved provider (/admin/v1/top_ups)

-- GET [?status=][&tenant_id=]: oldest first (the approval queue).
CREATE FUNCTION api_admin_top_ups_list(p_status text, p_tenant text, p_cursor text, p_limit int)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur record;
BEGIN
    SELECT * INTO cur FROM api_cursor_parse(p_cursor);
    RETURN QUERY SELECT 200, api_page(ARRAY(
        SELECT (t.created_at, t.id, api_top_up_json(t, true))::api_page_row FROM top_ups t
         WHERE (p_status IS NULL OR t.status = p_status)
           AND (p_tenant IS NULL OR t.tenant_id = p_tenant)
           AND (cur.t IS NULL OR (t.created_at, t.id) > (cur.t, cur.id))
         ORDER BY t.created_at, t.id
         LIMIT p_limit + 1), p_limit);
END $$;

-- POST .../approve and .../decline: settle the top-up (approving twice credits once and
-- answers the same top-up; approving a declined one, or declining a succeeded one, is a
-- conflict). 200 with the operator's view of the TopUp.
CREATE FUNCTION api_admin_top_up_settle(p_id text, p_succeeded boolean, p_reason text,
                                        p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    t top_ups;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin('admin', 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    SELECT * INTO t FROM top_ups x WHERE x.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No top-up with this id.');
    END IF;
    t := pay_top_up_settle(t, p_succeeded, p_reason);
    v_body := api_top_up_json(t, true)::text;
    PERFORM idem_finish('admin', 'POST', p_path, p_key, 200, v_body);
    RETURN QUERY SELECT 200, v_body, false;
END $$;
