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

-- The secrets an attempt signs with now: the current one first, the previous one while its
-- overlap lasts (NULL otherwise).
CREATE FUNCTION wh_signing_secrets(e webhook_endpoints, OUT secret text, OUT previous_secret text)
LANGUAGE sql STABLE AS $$
    SELECT CASE e.kind WHEN 'call_url' THEN s.secret ELSE e.secret END,
           CASE WHEN (CASE e.kind WHEN 'call_url' THEN s.previous_secret_expires_at
                                  ELSE e.previous_secret_expires_at END) > now()
                THEN (CASE e.kind WHEN 'call_url' THEN s.previous_secret
                                  ELSE e.previous_secret END) END
      FROM (SELECT 1) one
      LEFT JOIN webhook_call_secrets s ON s.tenant_id = e.tenant_id AND e.kind = 'call_url'
$$;

-- Claim up to p_limit due deliveries for p_lease_ms, at most p_per_endpoint in flight per
-- endpoint (counting every dispatcher's leases), skipping endpoints that asked us to slow
-- down. SKIP LOCKED: concurrent dispatchers never claim the same delivery. Returns what is
-- needed to send each one; attempt is the number of this attempt (1 = first), to be passed
-- back with the result.
CREATE FUNCTION wh_claim(p_limit int, p_per_endpoint int, p_lease_ms int)
RETURNS TABLE (delivery_id text, tenant_id text, endpoint_id text, url text, secret text,
               previous_secret text, ed25519_secret_key text, event_id text, payload text,
               attempt int, replay boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_until timestamptz := now() + p_lease_ms * interval '1 millisecond';
BEGIN
    RETURN QUERY
    WITH busy AS (
        SELECT d.endpoint_id, count(*) AS n FROM webhook_deliveries d
         WHERE d.status = 'pending' AND d.lease_until IS NOT NULL AND d.lease_until > now()
         GROUP BY d.endpoint_id),
    cand AS (
        SELECT x.id, x.next_attempt_at
          FROM webhook_endpoints e
          LEFT JOIN busy b ON b.endpoint_id = e.id
          CROSS JOIN LATERAL (
              SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
               WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= now()
               ORDER BY d.next_attempt_at, d.id
               LIMIT greatest(p_per_endpoint - coalesce(b.n, 0), 0)
               FOR UPDATE SKIP LOCKED) x
         WHERE e.active AND e.deleted_at IS NULL
           AND (e.paused_until IS NULL OR e.paused_until <= now())
         ORDER BY x.next_attempt_at
         LIMIT greatest(p_limit, 0))
    UPDATE webhook_deliveries w
       SET attempts = w.attempts + 1, lease_until = v_until, next_attempt_at = v_until
      FROM cand, webhook_endpoints e, LATERAL wh_signing_secrets(e) s
     WHERE w.id = cand.id AND e.id = w.endpoint_id
    RETURNING w.id, w.tenant_id, w.endpoint_id, e.url, s.secret, s.previous_secret,
              e.ed25519_secret_key, w.event_id, w.payload, w.attempts, w.replay;
END $$;
