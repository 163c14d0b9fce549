-- Webhook deliveries: fan every event out to the tenant's subscribed endpoints, then
-- deliver each at least once with retries. Deliveries live here, not in a dispatcher's
-- memory: a dispatcher that dies loses nothing, its leases expire and another one (or
-- itself, restarted) sends again. Used by services/webhook-dispatcher.
--
-- A claimed delivery is leased until lease_until (and a row in webhook_leases counts it
-- against its endpoint's concurrency); a delivery is due when next_attempt_at has passed
-- and it has no lease that is still running, so an expired lease makes it due again without
-- any sweeper. attempts is incremented at claim time so that it also fences late results:
-- a result is applied only if no newer claim happened since (attempts still equals its
-- attempt).

-- Due deliveries of one endpoint, oldest first (the claim probes endpoint by endpoint).
-- It carries id, which the claim orders by too: without it every claim sorts all due rows.
CREATE INDEX webhook_deliveries_endpoint_due ON webhook_deliveries (endpoint_id, next_attempt_at, id)
    WHERE status = 'pending';

-- Leases, counted per endpoint to cap its concurrency: one row per delivery in flight,
-- written by wh_claim (0041) beside the delivery's own lease_until and deleted when its
-- result is recorded (wh_record, 0042) or its endpoint disabled. They live in this narrow
-- table, not in an index on webhook_deliveries (lease_until), so that a claim changes no
-- indexed column of the wide delivery row: its UPDATE is HOT (no index entry written), and
-- counting an endpoint's leases reads a few index entries. An expired lease row (its
-- dispatcher died) is taken over by the next claim of its delivery.
CREATE TABLE webhook_leases (
    endpoint_id text NOT NULL,
    delivery_id text NOT NULL,
    lease_until timestamptz NOT NULL,
    PRIMARY KEY (endpoint_id, delivery_id)
);


-- The body customers receive for an event (the webhook envelope). json keeps the order.
CREATE FUNCTION wh_envelope(p_event json) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object('id', p_event->>'id', 'type', p_event->>'type',
                             'created_at', p_event->>'occurred_at', 'data', p_event->'data')::text
$$;

-- wh_fanout, wh_record and wh_disable_endpoint are in 0042_webhook_dispatch.sql, wh_claim
-- in 0041_webhooks_v2.sql (they use that file's columns).

-- Deliveries waiting to be sent (due or scheduled), for the pending gauge.
CREATE FUNCTION wh_pending_count() RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'
$$;
