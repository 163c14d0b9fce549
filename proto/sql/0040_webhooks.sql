-- Webhook deliveries: fan every event out to the tenant's subscribed endpoints, then
-- deliver each at least once with retries. Deliveries live here, not in a dispatcher's
-- memory: a dispatcher that dies loses nothing, its leases expire and another one (or
-- itself, restarted) sends again. Used by services/webhook-dispatcher.
--
-- A claimed delivery is leased: lease_until and next_attempt_at both move to the end of
-- the lease, so an expired lease makes the delivery due again without any sweeper, and
-- attempts is incremented at claim time so that it also fences late results: a result
-- is applied only if no newer claim happened since (attempts still equals its attempt).

-- Due deliveries of one endpoint, oldest first (the claim probes endpoint by endpoint).
CREATE INDEX webhook_deliveries_endpoint_due ON webhook_deliveries (endpoint_id, next_attempt_at)
    WHERE status = 'pending';
-- Deliveries in flight (leased), counted per endpoint to cap its concurrency.
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (endpoint_id)
    WHERE status = 'pending' AND lease_until IS NOT NULL;

-- The body customers receive for an event (the webhook envelope). json keeps the order.
CREATE FUNCTION wh_envelope(p_event json) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object('id', p_event->>'id', 'type', p_event->>'type',
                             'created_at', p_event->>'occurred_at', 'data', p_event->'data')::text
$$;

-- Insert one delivery per active endpoint of the event's tenant subscribed to its type
-- (or to '*'), first due after p_delay_ms. A redelivered event inserts nothing new
-- (UNIQUE (endpoint_id, event_id)). Returns the number of deliveries created.
CREATE FUNCTION wh_fanout(p_event json, p_delay_ms bigint DEFAULT 0) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_id text := p_event->>'id';
    v_type text := p_event->>'type';
    v_tenant text := p_event->>'tenant_id';
    n int;
BEGIN
    IF v_id IS NULL OR v_type IS NULL OR v_tenant IS NULL THEN
        PERFORM voepy_raise('invalid_request', 'event', 'An event needs id, type and tenant_id.');
    END IF;
    INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, event_type, payload,
                                    next_attempt_at)
    SELECT voepy_id('dlv'), e.tenant_id, e.id, v_id, v_type, wh_envelope(p_event),
           now() + greatest(p_delay_ms, 0) * interval '1 millisecond'
      FROM webhook_endpoints e
     WHERE e.tenant_id = v_tenant AND e.active AND e.deleted_at IS NULL
       AND (v_type = ANY (e.events) OR '*' = ANY (e.events))
     ORDER BY e.created_at, e.id
    ON CONFLICT (endpoint_id, event_id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Claim up to p_limit due deliveries for p_lease_ms, at most p_per_endpoint in flight per
-- endpoint (counting every dispatcher's leases). SKIP LOCKED: concurrent dispatchers
-- never claim the same delivery. Returns what is needed to send each one; attempt is the
-- number of this attempt (1 = first), to be passed back to wh_record().
CREATE FUNCTION wh_claim(p_limit int, p_per_endpoint int, p_lease_ms int)
RETURNS TABLE (delivery_id text, tenant_id text, endpoint_id text, url text, secret text,
               event_id text, payload text, attempt int)
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
         ORDER BY x.next_attempt_at
         LIMIT greatest(p_limit, 0))
    UPDATE webhook_deliveries w
       SET attempts = w.attempts + 1, lease_until = v_until, next_attempt_at = v_until
      FROM cand, webhook_endpoints e
     WHERE w.id = cand.id AND e.id = w.endpoint_id
    RETURNING w.id, w.tenant_id, w.endpoint_id, e.url, e.secret, w.event_id, w.payload,
              w.attempts;
END $$;

-- Record one attempt and apply its outcome, decided by the dispatcher:
--   'succeeded'  2xx
--   'retry'      try again in p_retry_ms
--   'exhausted'  the retry schedule is used up
--   'gone'       410: this delivery fails and the endpoint is deactivated (with its other
--                pending deliveries failed), as the customer asked us to stop
-- The attempt row is always written. Returns p_outcome, or 'stale' when the delivery was
-- claimed again, finished or already given a result since this attempt was claimed (then
-- only the attempt row is written).
CREATE FUNCTION wh_record(p_delivery text, p_attempt int, p_status_code int, p_error text,
                          p_duration_ms int, p_response text, p_outcome text, p_retry_ms bigint)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    d webhook_deliveries;
BEGIN
    IF p_outcome NOT IN ('succeeded', 'retry', 'exhausted', 'gone') THEN
        PERFORM voepy_raise('invalid_parameter', 'outcome', 'Unknown delivery outcome.');
    END IF;
    SELECT * INTO d FROM webhook_deliveries WHERE id = p_delivery FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', 'delivery_id', 'No such delivery.');
    END IF;
    INSERT INTO webhook_attempts (delivery_id, tenant_id, attempt, duration_ms, status_code,
                                  error, response_body)
    VALUES (d.id, d.tenant_id, p_attempt, p_duration_ms, p_status_code, left(p_error, 500),
            left(p_response, 1024));
    IF d.status <> 'pending' OR d.attempts <> p_attempt OR d.lease_until IS NULL THEN
        RETURN 'stale';
    END IF;
    IF p_outcome = 'retry' THEN
        UPDATE webhook_deliveries
           SET next_attempt_at = now() + greatest(p_retry_ms, 0) * interval '1 millisecond',
               lease_until = NULL, last_status_code = p_status_code, last_error = left(p_error, 500)
         WHERE id = d.id;
        RETURN p_outcome;
    END IF;
    UPDATE webhook_deliveries
       SET status = CASE p_outcome WHEN 'gone' THEN 'failed' ELSE p_outcome END,
           completed_at = now(), lease_until = NULL, last_status_code = p_status_code,
           last_error = left(p_error, 500)
     WHERE id = d.id;
    IF p_outcome = 'gone' THEN
        PERFORM wh_disable_endpoint(d.endpoint_id,
                                    'The endpoint answered 410 Gone at ' || voepy_ts(now()) || '.');
    END IF;
    RETURN p_outcome;
END $$;

-- Deactivate an endpoint and fail what was still waiting for it.
CREATE FUNCTION wh_disable_endpoint(p_endpoint text, p_reason text) RETURNS void
LANGUAGE sql AS $$
    UPDATE webhook_endpoints SET active = false, disabled_reason = p_reason
     WHERE id = p_endpoint AND active;
    UPDATE webhook_deliveries
       SET status = 'failed', completed_at = now(), lease_until = NULL,
           last_error = 'endpoint disabled'
     WHERE endpoint_id = p_endpoint AND status = 'pending';
$$;

-- Deliveries waiting to be sent (due or scheduled), for the pending gauge.
CREATE FUNCTION wh_pending_count() RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'
$$;
