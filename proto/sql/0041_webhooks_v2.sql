-- Webhooks, second part (issue 7): what the endpoints and deliveries need for secret
-- rotation, Ed25519 signatures, per-call webhook URLs, slowing down for an endpoint that
-- asks for it, disabling endpoints that fail for days, and replays from the API. The
-- functions that act on these columns live in 0042 (the dispatcher's) and 0043 (the API's);
-- this file holds the schema and the claim, which every part of the delivery reads.

-- kind:
--   'subscription'  an endpoint the tenant made with POST /v1/webhooks
--   'call_url'      a hidden endpoint standing for a webhook_url given at call creation, one
--                   per (tenant, url); it receives only the events of calls created with that
--                   URL, signed with the tenant's call-URL secret (webhook_call_secrets). It
--                   is never listed by the API.
-- previous_secret is still signed with until previous_secret_expires_at (rotation overlap).
-- ed25519_secret_key ("whsk_" + base64 of libsodium's 64-byte secret key) is set when the
-- endpoint asked for v1a signatures; ed25519_public_key ("whpk_" + base64 of 32 bytes) is
-- what the tenant verifies with.
-- failing_since: the first failed attempt of the current run of failures (NULL after a
-- success); an endpoint failing for VOEPY_WEBHOOK_DISABLE_AFTER (5 days) is disabled.
-- paused_until: the endpoint asked us to slow down (429/502/504, Retry-After); nothing is
-- claimed for it before then.
ALTER TABLE webhook_endpoints
    ADD COLUMN kind text NOT NULL DEFAULT 'subscription'
        CHECK (kind IN ('subscription', 'call_url')),
    ADD COLUMN previous_secret text CHECK (previous_secret LIKE 'whsec\_%'),
    ADD COLUMN previous_secret_expires_at timestamptz,
    ADD COLUMN secret_rotated_at timestamptz,
    ADD COLUMN ed25519_secret_key text CHECK (ed25519_secret_key LIKE 'whsk\_%'),
    ADD COLUMN ed25519_public_key text CHECK (ed25519_public_key LIKE 'whpk\_%'),
    ADD COLUMN failing_since timestamptz,
    ADD COLUMN paused_until timestamptz,
    ADD COLUMN slowdowns int NOT NULL DEFAULT 0,  -- consecutive slow-down answers
    ADD COLUMN disabled_at timestamptz,
    ADD CONSTRAINT webhook_endpoints_ed25519_pair
        CHECK ((ed25519_secret_key IS NULL) = (ed25519_public_key IS NULL));
CREATE UNIQUE INDEX webhook_endpoints_call_url ON webhook_endpoints (tenant_id, url)
    WHERE kind = 'call_url';

-- The secret that signs deliveries to per-call webhook URLs (one per tenant), shown once
-- by POST /v1/webhooks/call_url_secret, which also rotates it with an overlap.
CREATE TABLE webhook_call_secrets (
    tenant_id                  text PRIMARY KEY REFERENCES tenants(id),
    secret                     text NOT NULL CHECK (secret LIKE 'whsec\_%'),
    previous_secret            text CHECK (previous_secret LIKE 'whsec\_%'),
    previous_secret_expires_at timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    rotated_at                 timestamptz
);

-- replay: the delivery was sent again on the tenant's request (retry or replay through the
-- API): one attempt, after which it is succeeded or failed, never rescheduled, and never a
-- second webhook.exhausted.
ALTER TABLE webhook_deliveries
    ADD COLUMN replay boolean NOT NULL DEFAULT false;
-- The delivery log, newest first per endpoint, and replays of failures since a time.
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);

-- Claim up to p_limit due deliveries for p_lease_ms, at most p_per_endpoint in flight per
-- endpoint (counting every dispatcher's leases in webhook_leases), skipping endpoints that
-- asked us to slow down. SKIP LOCKED: concurrent dispatchers never claim the same delivery.
-- Returns what is needed to send each one; attempt is the number of this attempt (1 =
-- first), to be passed back with the result.
-- One statement. The UPDATE sets only attempts and lease_until, which no index of
-- webhook_deliveries holds, so it is a HOT update (fillfactor, 0040); the lease rows are
-- written beside it. The secrets are looked up once per endpoint, not per delivery. The
-- count of an endpoint's leases walks its index entries in order (not a bitmap scan), which
-- marks those of deleted leases dead. plpgsql, not sql: its plan is kept from call to call
-- (a sql function's is made again on every call).
CREATE FUNCTION wh_claim(p_limit int, p_per_endpoint int, p_lease_ms int)
RETURNS TABLE (delivery_id text, tenant_id text, endpoint_id text, url text, secret text,
               previous_secret text, ed25519_secret_key text, event_id text, payload text,
               attempt int, replay boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH cand AS (
        SELECT x.id, x.next_attempt_at
          FROM webhook_endpoints e
          CROSS JOIN LATERAL (
              SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
               WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= now()
                 AND (d.lease_until IS NULL OR d.lease_until <= now())
               ORDER BY d.next_attempt_at, d.id
               LIMIT greatest(p_per_endpoint - (
                   SELECT count(*) FROM (SELECT FROM webhook_leases l
                                          WHERE l.endpoint_id = e.id AND l.lease_until > now()
                                          ORDER BY l.delivery_id
                                          LIMIT p_per_endpoint) running), 0)
               FOR UPDATE SKIP LOCKED) x
         WHERE e.active AND e.deleted_at IS NULL
           AND (e.paused_until IS NULL OR e.paused_until <= now())
         ORDER BY x.next_attempt_at
         LIMIT greatest(p_limit, 0)),
    upd AS (
        UPDATE webhook_deliveries w
           SET attempts = w.attempts + 1,
               lease_until = now() + p_lease_ms * interval '1 millisecond'
          FROM cand
         WHERE w.id = cand.id
        RETURNING w.id, w.tenant_id, w.endpoint_id, w.event_id, w.payload, w.attempts, w.replay,
                  w.lease_until),
    -- a first attempt's delivery cannot have a lease row yet: a plain insert, much cheaper
    -- than ON CONFLICT's speculative one, which later attempts take (a lease that expired,
    -- or one whose lease_until was cleared by hand, is taken over)
    lease AS (
        INSERT INTO webhook_leases (endpoint_id, delivery_id, lease_until)
        SELECT upd.endpoint_id, upd.id, upd.lease_until FROM upd WHERE upd.attempts = 1),
    relet AS (
        INSERT INTO webhook_leases (endpoint_id, delivery_id, lease_until)
        SELECT upd.endpoint_id, upd.id, upd.lease_until FROM upd WHERE upd.attempts > 1
        ON CONFLICT (endpoint_id, delivery_id) DO UPDATE SET lease_until = excluded.lease_until),
    -- the secrets an attempt signs with now: the endpoint's (a call_url endpoint: the
    -- tenant's call-URL secret), the current one first, the previous one while its
    -- overlap lasts
    ep AS (
        SELECT e.id, e.url, e.ed25519_secret_key,
               CASE e.kind WHEN 'call_url' THEN c.secret ELSE e.secret END AS secret,
               CASE e.kind
               WHEN 'call_url' THEN CASE WHEN c.previous_secret_expires_at > now()
                                         THEN c.previous_secret END
               ELSE CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END
               END AS previous_secret
          FROM webhook_endpoints e
          LEFT JOIN webhook_call_secrets c ON c.tenant_id = e.tenant_id AND e.kind = 'call_url'
         WHERE e.id IN (SELECT upd.endpoint_id FROM upd))
    SELECT upd.id, upd.tenant_id, upd.endpoint_id, ep.url, ep.secret, ep.previous_secret,
           ep.ed25519_secret_key, upd.event_id, upd.payload, upd.attempts, upd.replay
      FROM upd JOIN ep ON ep.id = upd.endpoint_id;
END $$;
