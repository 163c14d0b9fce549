-- voepy core schema: every table the services share.
--
-- Conventions (see docs/architecture.md):
--  * ids are text "voepy_<kind>_<ULID>", made by voepy_id(kind) or by the services;
--  * every row that belongs to a tenant carries tenant_id, and every query filters on it;
--  * money is integer cents (bigint); rates use micros (1/1,000,000 of a cent);
--  * times are timestamptz, rendered at the API by voepy_ts();
--  * domain events are written to `events` in the same transaction as the change they
--    describe (the outbox); a relay publishes them to Redis.

-- ULID ids: 48 bits of milliseconds then 80 random bits, Crockford base32.
CREATE FUNCTION voepy_id(kind text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    alphabet constant text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    ms bigint := floor(extract(epoch FROM clock_timestamp()) * 1000);
    u bytea := uuid_send(gen_random_uuid());
    -- bytes 0-5 and 10-13 of a v4 UUID are fully random (6 and 8 carry version/variant)
    r1 bigint := 0;
    r2 bigint := 0;
    t text := '';
    rnd text := '';
    i int;
BEGIN
    FOR i IN 0..4 LOOP
        r1 := (r1 << 8) | get_byte(u, i);
    END LOOP;
    r2 := get_byte(u, 5);
    FOR i IN 10..13 LOOP
        r2 := (r2 << 8) | get_byte(u, i);
    END LOOP;
    FOR i IN 1..10 LOOP
        t := substr(alphabet, (ms & 31)::int + 1, 1) || t;
        ms := ms >> 5;
    END LOOP;
    FOR i IN 1..8 LOOP
        rnd := substr(alphabet, (r2 & 31)::int + 1, 1) || rnd;
        r2 := r2 >> 5;
    END LOOP;
    FOR i IN 1..8 LOOP
        rnd := substr(alphabet, (r1 & 31)::int + 1, 1) || rnd;
        r1 := r1 >> 5;
    END LOOP;
    RETURN 'voepy_' || kind || '_' || t || rnd;
END $$;

-- API time format: ISO-8601 UTC with milliseconds. STABLE like to_char, its body: a SQL
-- function declared IMMUTABLE around a STABLE call is never inlined, and then each call
-- costs a function invocation (~25 us: it was most of GET /v1/calls/{id}'s database time).
CREATE FUNCTION voepy_ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- Epoch milliseconds (as passed by services) to timestamptz, without floating point.
CREATE FUNCTION voepy_ms(ms bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN ms IS NULL THEN NULL
                ELSE timestamptz 'epoch' + ms * interval '1 millisecond' END
$$;

-- Domain errors: RAISE with MESSAGE 'voepy:<code>' (err.h), DETAIL = field, HINT = message.
CREATE FUNCTION voepy_raise(code text, field text DEFAULT NULL, msg text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'voepy:' || code, DETAIL = coalesce(field, ''),
                          HINT = coalesce(msg, '');
END $$;

CREATE TABLE routes (
    id                  text PRIMARY KEY,
    name                text NOT NULL,
    sip_uri             text NOT NULL CHECK (sip_uri ~ '^sips?:'),
    transport           text NOT NULL DEFAULT 'udp' CHECK (transport IN ('udp', 'tcp')),
    is_platform_default boolean NOT NULL DEFAULT false,
    -- digest credentials answered on 401/407 (auth_password is never rendered) and the
    -- route tried once when this one fails before ringing (call-control, 0022_routes.sql)
    auth_username       text CHECK (length(auth_username) BETWEEN 1 AND 128),
    auth_password       text CHECK (length(auth_password) BETWEEN 1 AND 128),
    auth_realm          text CHECK (length(auth_realm) BETWEEN 1 AND 128),
    failover_route_id   text REFERENCES routes(id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((auth_username IS NULL) = (auth_password IS NULL)),
    CHECK (auth_realm IS NULL OR auth_username IS NOT NULL),
    CHECK (failover_route_id <> id)
);
CREATE UNIQUE INDEX routes_one_platform_default ON routes ((true)) WHERE is_platform_default;

CREATE TABLE tenants (
    id                         text PRIMARY KEY,
    name                       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status                     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    default_route_id           text REFERENCES routes(id),
    credit_limit_cents         bigint NOT NULL DEFAULT 0 CHECK (credit_limit_cents >= 0),
    allow_caller_id_forwarding boolean NOT NULL DEFAULT false,
    -- rate limits (services/api-gateway/ratelimit.c), set through the operator API
    api_requests_per_second    int NOT NULL DEFAULT 100 CHECK (api_requests_per_second BETWEEN 1 AND 100000),
    calls_per_minute           int NOT NULL DEFAULT 60 CHECK (calls_per_minute BETWEEN 1 AND 100000),
    -- outbound call rules (0014_api_call_rules.sql, which says what each means)
    allowed_countries          text[] CHECK (cardinality(allowed_countries) >= 1),
    blocked_countries          text[] NOT NULL DEFAULT '{}',
    blocked_prefixes           text[] NOT NULL DEFAULT '{}',
    max_concurrent_calls       int CHECK (max_concurrent_calls BETWEEN 1 AND 100000),
    calls_per_second           int CHECK (calls_per_second BETWEEN 1 AND 10000),
    created_at                 timestamptz NOT NULL DEFAULT now()
);

-- API keys: only a SHA-256 of the key is kept; the key itself is shown once.
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants(id),
    key_hash     text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    prefix       text NOT NULL,                -- first characters, to recognise a key in lists
    name         text,
    scopes       text[] NOT NULL DEFAULT '{*}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- Phone numbers: the operator's inventory and, once bought, its owner.
CREATE TABLE phone_numbers (
    id           text PRIMARY KEY,
    phone_number text NOT NULL UNIQUE CHECK (phone_number ~ '^\+[1-9][0-9]{5,14}$'),
    country      text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    calling_code text NOT NULL CHECK (calling_code ~ '^[1-9][0-9]{0,2}$'),
    route_id     text REFERENCES routes(id),   -- trunk that delivers its inbound calls
    tenant_id    text REFERENCES tenants(id),  -- NULL while in inventory
    status       text NOT NULL DEFAULT 'available'
                 CHECK (status IN ('available', 'active', 'disabled')),
    purchased_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- The owner's configuration (PATCH /v1/phone_numbers/{id}; cleared when the number
    -- changes hands, 0013). relay_enabled forwards inbound calls to forward_to, an E.164
    -- number or a sip:/sips: URI (checked in full by the gateway; the CHECK keeps its
    -- shape), showing the original caller's ID ("caller") or this number's ("number").
    name              text CHECK (length(name) BETWEEN 1 AND 64),
    forward_to        text CHECK (forward_to ~ '^\+[1-9][0-9]{5,14}$'
                                  OR (forward_to ~ '^sips?:' AND length(forward_to) <= 256)),
    relay_enabled     boolean NOT NULL DEFAULT false,
    forward_caller_id text NOT NULL DEFAULT 'caller' CHECK (forward_caller_id IN ('caller', 'number')),
    CHECK ((status = 'active') = (tenant_id IS NOT NULL)),
    CONSTRAINT phone_numbers_relay_needs_target CHECK (NOT relay_enabled OR forward_to IS NOT NULL)
);
CREATE INDEX phone_numbers_tenant ON phone_numbers (tenant_id, created_at, id) WHERE tenant_id IS NOT NULL;
CREATE INDEX phone_numbers_available ON phone_numbers (country, phone_number) WHERE status = 'available';

CREATE TABLE calls (
    id                  text PRIMARY KEY,
    tenant_id           text NOT NULL REFERENCES tenants(id),
    direction           text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    status              text NOT NULL DEFAULT 'initiated'
                        CHECK (status IN ('initiated', 'ringing', 'answered', 'bridged', 'ended', 'failed')),
    from_number         text NOT NULL,
    to_number           text NOT NULL,
    route_id            text REFERENCES routes(id),
    node_id             text,                  -- call-control node that owns the dialog
    options             jsonb NOT NULL DEFAULT '{}', -- record, amd, audio_url, ... as requested
    timeout_secs        int NOT NULL DEFAULT 60 CHECK (timeout_secs BETWEEN 1 AND 600),
    time_limit_secs     int CHECK (time_limit_secs BETWEEN 1 AND 86400),
    customer_reference  text CHECK (length(customer_reference) <= 128),
    initiated_at        timestamptz NOT NULL DEFAULT now(),
    ringing_at          timestamptz,
    answered_at         timestamptz,
    ended_at            timestamptz,
    end_reason          text,
    end_initiator       text,
    sip_status          int,                   -- final SIP status of the first leg
    hangup_requested_at timestamptz,
    billed_seconds      int,
    cost_cents          bigint,                -- NULL until rated; 0 only for a free call
    rating_status       text NOT NULL DEFAULT 'pending' CHECK (rating_status IN ('pending', 'rated', 'failed')),
    rating_error        text,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((status IN ('ended', 'failed')) = (ended_at IS NOT NULL))
) WITH (fillfactor = 80); -- a call's row is rewritten at each state change (ringing,
                          -- answered, ended, rated): room on its page makes those HOT
                          -- updates, which write no index entries
CREATE INDEX calls_tenant_recent ON calls (tenant_id, initiated_at DESC, id DESC);
CREATE INDEX calls_live_by_node ON calls (node_id) WHERE status NOT IN ('ended', 'failed');
CREATE INDEX calls_unclaimed ON calls (initiated_at) WHERE node_id IS NULL AND status = 'initiated';

CREATE TABLE call_legs (
    id                text PRIMARY KEY,
    call_id           text NOT NULL REFERENCES calls(id),
    tenant_id         text NOT NULL REFERENCES tenants(id),
    direction         text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    status            text NOT NULL DEFAULT 'initiated'
                      CHECK (status IN ('initiated', 'ringing', 'answered', 'ended', 'failed')),
    from_uri          text NOT NULL,
    to_uri            text NOT NULL,
    sip_call_id       text,
    media_node        text,
    local_media       text,                    -- "ip:port" on media-fork
    remote_media      text,                    -- "ip:port" of the far end
    codec             text,
    rtp_packets_in    bigint,
    rtp_packets_out   bigint,
    created_at        timestamptz NOT NULL DEFAULT now(),
    answered_at       timestamptz,
    ended_at          timestamptz,
    end_reason        text
);
CREATE INDEX call_legs_call ON call_legs (call_id, created_at);

CREATE TABLE recordings (
    id               text PRIMARY KEY,
    call_id          text NOT NULL REFERENCES calls(id),
    tenant_id        text NOT NULL REFERENCES tenants(id),
    channels         text NOT NULL CHECK (channels IN ('single', 'dual')),
    format           text NOT NULL CHECK (format IN ('mp3', 'wav')),
    status           text NOT NULL DEFAULT 'recording'
                     CHECK (status IN ('recording', 'available', 'archived', 'expired', 'failed')),
    duration_seconds int,
    size_bytes       bigint,
    storage_key      text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz
);
CREATE INDEX recordings_call ON recordings (tenant_id, call_id);

-- The outbox of domain events. published_at is set by the relay once the event is on its
-- Redis stream; lease_until keeps two relays from publishing one batch at the same time.
CREATE TABLE events (
    seq          bigserial PRIMARY KEY,
    id           text NOT NULL UNIQUE,
    tenant_id    text NOT NULL,
    call_id      text,
    type         text NOT NULL,
    occurred_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    data         json NOT NULL,
    published_at timestamptz,
    lease_until  timestamptz
);
CREATE INDEX events_unpublished ON events (seq) WHERE published_at IS NULL;
CREATE INDEX events_tenant ON events (tenant_id, seq);

-- Record an event in the outbox; returns its id.
CREATE FUNCTION voepy_emit(p_tenant text, p_call text, p_type text, p_data json)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_id text := voepy_id('evt');
BEGIN
    INSERT INTO events (id, tenant_id, call_id, type, data)
    VALUES (v_id, p_tenant, p_call, p_type, p_data);
    RETURN v_id;
END $$;

CREATE TABLE webhook_endpoints (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants(id),
    url             text NOT NULL CHECK (url ~* '^https?://'),
    name            text,
    events          text[] NOT NULL DEFAULT '{*}',
    secret          text NOT NULL CHECK (secret LIKE 'whsec\_%'),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    disabled_reason text
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id) WHERE deleted_at IS NULL;

-- One delivery per (endpoint, event); attempts are recorded in webhook_attempts.
CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY,
    tenant_id        text NOT NULL REFERENCES tenants(id),
    endpoint_id      text NOT NULL REFERENCES webhook_endpoints(id),
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    payload          text NOT NULL,            -- the exact body sent on every attempt
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'succeeded', 'failed', 'exhausted')),
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    last_status_code int,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    UNIQUE (endpoint_id, event_id)
) WITH (fillfactor = 50); -- updated twice per attempt (the claim, HOT, then the result):
                          -- room on its page keeps the claim's new version there
-- (the dispatcher's indexes are 0040's and 0041's: what its claim and the delivery log read)

CREATE TABLE webhook_attempts (
    id            bigserial PRIMARY KEY,
    delivery_id   text NOT NULL REFERENCES webhook_deliveries(id),
    tenant_id     text NOT NULL,
    attempt       int NOT NULL,
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms   int,
    status_code   int,                         -- NULL when no response arrived
    error         text,
    response_body text                         -- truncated
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);

-- Rates: per tenant, or the platform's (tenant_id NULL); longest prefix wins.
CREATE TABLE rates (
    id                     text PRIMARY KEY,
    tenant_id              text REFERENCES tenants(id),
    prefix                 text NOT NULL CHECK (prefix ~ '^[0-9]{0,15}$'),
    micros_per_minute      bigint NOT NULL CHECK (micros_per_minute >= 0),
    connection_fee_micros  bigint NOT NULL DEFAULT 0 CHECK (connection_fee_micros >= 0),
    initial_increment_s    int NOT NULL DEFAULT 1 CHECK (initial_increment_s >= 1),
    subsequent_increment_s int NOT NULL DEFAULT 1 CHECK (subsequent_increment_s >= 1),
    effective_from         timestamptz NOT NULL DEFAULT '-infinity',
    created_at             timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX rates_key ON rates (coalesce(tenant_id, ''), prefix, effective_from);

-- Double-entry ledger. An entry's amount raises (>0) or lowers (<0) its account's balance;
-- the entries of one transaction sum to zero; rows are never updated or deleted.
CREATE TABLE ledger_accounts (
    id            text PRIMARY KEY,
    tenant_id     text REFERENCES tenants(id),
    kind          text NOT NULL CHECK (kind IN ('tenant_balance', 'platform_revenue', 'payments_clearing')),
    balance_cents bigint NOT NULL DEFAULT 0,  -- cache of the sum of its entries
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'tenant_balance') = (tenant_id IS NOT NULL))
);
CREATE UNIQUE INDEX ledger_accounts_key ON ledger_accounts (coalesce(tenant_id, ''), kind);

CREATE TABLE ledger_transactions (
    id          text PRIMARY KEY,
    tenant_id   text REFERENCES tenants(id),
    kind        text NOT NULL,                 -- call_charge, credit, ...
    ref_type    text NOT NULL,                 -- call, admin_credit, ...
    ref_id      text NOT NULL,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ref_type, ref_id, kind)            -- one transaction per (thing, kind): never twice
);
CREATE INDEX ledger_transactions_tenant ON ledger_transactions (tenant_id, created_at DESC, id DESC);

CREATE TABLE ledger_entries (
    id           bigserial PRIMARY KEY,
    txn_id       text NOT NULL REFERENCES ledger_transactions(id),
    account_id   text NOT NULL REFERENCES ledger_accounts(id),
    amount_cents bigint NOT NULL CHECK (amount_cents <> 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_txn ON ledger_entries (txn_id);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id);

CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are immutable (% on %)', TG_OP, TG_TABLE_NAME;
END $$;
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER ledger_transactions_immutable BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();

-- Every transaction must balance. Checked once per INSERT statement over the transactions
-- it wrote entries for (a transition table), not once per entry at commit: a rating batch
-- writes hundreds of transactions in one statement. So a transaction's entries are
-- written by one INSERT (ledger_transfer, rating_apply_batch); a transaction written in
-- two statements fails at the first.
CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    -- per transaction, through ledger_entries_txn (a join would scan the whole table)
    SELECT n.txn_id, s.total INTO bad
      FROM (SELECT DISTINCT x.txn_id FROM new_entries x) n
     CROSS JOIN LATERAL (SELECT sum(e.amount_cents) AS total FROM ledger_entries e
                          WHERE e.txn_id = n.txn_id) s
     WHERE s.total <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (sum %)', bad.txn_id, bad.total;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_balanced();

-- The account of a kind for a tenant (or the platform), created on first use.
CREATE FUNCTION ledger_account(p_tenant text, p_kind text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_id text;
BEGIN
    SELECT id INTO v_id FROM ledger_accounts
     WHERE coalesce(tenant_id, '') = coalesce(p_tenant, '') AND kind = p_kind;
    IF v_id IS NULL THEN
        INSERT INTO ledger_accounts (id, tenant_id, kind) VALUES (voepy_id('acct'), p_tenant, p_kind)
        ON CONFLICT DO NOTHING;
        SELECT id INTO v_id FROM ledger_accounts
         WHERE coalesce(tenant_id, '') = coalesce(p_tenant, '') AND kind = p_kind;
    END IF;
    RETURN v_id;
END $$;

-- Post a two-entry transfer of amount from one account to another, once per
-- (ref_type, ref_id, kind). Returns the transaction id, or NULL when it already existed.
CREATE FUNCTION ledger_transfer(p_tenant text, p_kind text, p_ref_type text, p_ref_id text,
                                p_from text, p_to text, p_amount bigint, p_description text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_txn text := voepy_id('txn');
BEGIN
    IF p_amount <= 0 THEN
        RAISE EXCEPTION 'ledger_transfer: amount must be positive (got %)', p_amount;
    END IF;
    INSERT INTO ledger_transactions (id, tenant_id, kind, ref_type, ref_id, description)
    VALUES (v_txn, p_tenant, p_kind, p_ref_type, p_ref_id, p_description)
    ON CONFLICT (ref_type, ref_id, kind) DO NOTHING;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO ledger_entries (txn_id, account_id, amount_cents)
    VALUES (v_txn, p_from, -p_amount), (v_txn, p_to, p_amount);
    UPDATE ledger_accounts SET balance_cents = balance_cents - p_amount WHERE id = p_from;
    UPDATE ledger_accounts SET balance_cents = balance_cents + p_amount WHERE id = p_to;
    RETURN v_txn;
END $$;

-- Idempotency-Key records: scoped to tenant + method + path, kept 24 hours. The record is
-- written in the same transaction as the side effect, so two requests can never both act.
CREATE TABLE idempotency_keys (
    tenant_id       text NOT NULL,
    method          text NOT NULL,
    path            text NOT NULL,
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash    text NOT NULL,
    response_status int NOT NULL,
    response_body   text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (tenant_id, method, path, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
