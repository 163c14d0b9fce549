-- Webhook delivery, second part (issue 7): what the dispatcher does with the answers it
-- gets, in batches, and the per-call webhook URL in the fan-out. Used by
-- services/webhook-dispatcher (recorder.c, fanout.c). The schema is 0041's; the rules
-- of 0040 still hold: a claimed delivery is leased, attempts is incremented at claim time
-- and fences late results (a result is applied only if no newer claim happened since,
-- the delivery is still pending and leased); every attempt is written whatever happens.
--
-- What a result does (the dispatcher decides the outcome from the answer, retry.h):
--   succeeded  2xx: the delivery is done; the endpoint's failing_since, slowdowns and
--              paused_until are reset
--   retry      try again after p_retry_ms (the schedule's wait with jitter)
--   exhausted  the schedule is used up: status exhausted, and a webhook.exhausted event
--              (never for an event whose type starts with 'webhook.', nor for a replay)
--   failed     a replay's failure: a replay gets one attempt
--   gone       410: the delivery fails and the endpoint is disabled
--              (webhook.endpoint_disabled)
-- A replay (webhook_deliveries.replay) that would be retried or exhausted fails instead.
-- Every result but succeeded is a failure of the endpoint: failing_since is set when it
-- was NULL, and an endpoint failing for p_disable_after_s or longer is disabled
-- (webhook.endpoint_disabled). A result flagged slowdown (429/502/504, Retry-After) pauses
-- the endpoint, see wh_slow_down.

-- Deactivate an endpoint, fail what was still waiting for it, and tell the tenant with a
-- webhook.endpoint_disabled event (delivered to its other endpoints). Returns true when
-- it was active (and the event was emitted), false when it was disabled already.
CREATE FUNCTION wh_disable_endpoint(p_endpoint text, p_reason text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    e webhook_endpoints;
BEGIN
    UPDATE webhook_endpoints
       SET active = false, disabled_reason = p_reason, disabled_at = now()
     WHERE id = p_endpoint AND active
    RETURNING * INTO e;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE webhook_deliveries
       SET status = 'failed', completed_at = now(), lease_until = NULL,
           last_error = 'endpoint disabled'
     WHERE endpoint_id = p_endpoint AND status = 'pending';
    DELETE FROM webhook_leases WHERE endpoint_id = p_endpoint;
    PERFORM voepy_emit(e.tenant_id, NULL, 'webhook.endpoint_disabled',
                       json_build_object('webhook_id', e.id, 'url', e.url, 'reason', p_reason,
                                         'disabled_at', voepy_ts(e.disabled_at),
                                         'failing_since', voepy_ts(e.failing_since)));
    RETURN true;
END $$;

-- Deliveries left pending for an endpoint that was disabled: a fan-out that read the
-- endpoint as active before wh_disable_endpoint committed inserts its deliveries after
-- that function failed the pending ones it could see (the two do not lock each other:
-- the fan-out's foreign key check only key-share-locks the endpoint), and nothing would
-- ever claim them. They fail like the others. Only endpoints disabled within the last hour
-- are looked at (such a fan-out ran moments before the disable); an endpoint re-enabled
-- since has no disabled_at. Run every few seconds by the dispatcher (wh_housekeep).
-- Endpoint by endpoint, so that each probe is a range of webhook_deliveries_endpoint_due,
-- whatever the number of deliveries pending elsewhere.
CREATE FUNCTION wh_fail_orphans() RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_endpoint text;
    n int;
    total int := 0;
BEGIN
    FOR v_endpoint IN
        SELECT e.id FROM webhook_endpoints e
         WHERE NOT e.active AND e.disabled_at > now() - interval '1 hour'
    LOOP
        UPDATE webhook_deliveries d
           SET status = 'failed', completed_at = now(), lease_until = NULL,
               last_error = 'endpoint disabled'
         WHERE d.endpoint_id = v_endpoint AND d.status = 'pending';
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
    END LOOP;
    RETURN total;
END $$;

-- The dispatcher's periodic statement: fail orphans of disabled endpoints, then count
-- the deliveries waiting to be sent (the pending gauge).
CREATE FUNCTION wh_housekeep() RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wh_fail_orphans();
    RETURN wh_pending_count();
END $$;

-- Insert one delivery per active subscription of the event's tenant to its type (or to
-- '*'), and one for the hidden call_url endpoint of the event's call when the call was
-- created with a webhook_url (calls.options->>'webhook_url'); first due after p_delay_ms.
-- A redelivered event inserts nothing new (UNIQUE (endpoint_id, event_id)). Returns the
-- number of deliveries created.
CREATE FUNCTION wh_fanout(p_event json, p_delay_ms bigint DEFAULT 0) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    v_id text := p_event->>'id';
    v_type text := p_event->>'type';
    v_tenant text := p_event->>'tenant_id';
    v_call_url text;
    n int;
BEGIN
    IF v_id IS NULL OR v_type IS NULL OR v_tenant IS NULL THEN
        PERFORM voepy_raise('invalid_request', 'event', 'An event needs id, type and tenant_id.');
    END IF;
    IF p_event->>'call_id' IS NOT NULL THEN
        SELECT c.options->>'webhook_url' INTO v_call_url
          FROM calls c WHERE c.id = p_event->>'call_id' AND c.tenant_id = v_tenant;
    END IF;
    INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, event_type, payload,
                                    next_attempt_at)
    SELECT voepy_id('dlv'), e.tenant_id, e.id, v_id, v_type, wh_envelope(p_event),
           now() + greatest(p_delay_ms, 0) * interval '1 millisecond'
      FROM webhook_endpoints e
     WHERE e.tenant_id = v_tenant AND e.active AND e.deleted_at IS NULL
       AND CASE e.kind
           WHEN 'subscription' THEN v_type = ANY (e.events) OR '*' = ANY (e.events)
           WHEN 'call_url' THEN e.url = v_call_url
           END
     ORDER BY e.created_at, e.id
    ON CONFLICT (endpoint_id, event_id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- The endpoint (locked by the caller) asked us to slow down. A slow-down that starts a
-- pause counts as one more consecutive slow-down and pauses for p_retry_after_ms when the
-- answer said how long (Retry-After, capped by the dispatcher at an hour), else for
-- p_slowdown_ms doubled per consecutive slow-down before it, capped at 300 s
-- (retry.h WH_SLOWDOWN_MAX_MS). Answers to attempts that were in flight when the pause
-- began are the same slow-down: they only lengthen the pause to their Retry-After.
-- Returns the pause in milliseconds from now.
CREATE FUNCTION wh_slow_down(e webhook_endpoints, p_retry_after_ms bigint, p_slowdown_ms bigint)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_left bigint := CASE WHEN e.paused_until > now()
                          THEN ceil(extract(epoch FROM e.paused_until - now()) * 1000) END;
    v_pause bigint;
BEGIN
    IF v_left IS NULL THEN
        v_pause := coalesce(p_retry_after_ms,
                            least(p_slowdown_ms * power(2, least(e.slowdowns, 20))::bigint, 300000));
        UPDATE webhook_endpoints
           SET slowdowns = slowdowns + 1, paused_until = now() + v_pause * interval '1 millisecond'
         WHERE id = e.id;
        RETURN v_pause;
    END IF;
    IF p_retry_after_ms > v_left THEN
        UPDATE webhook_endpoints
           SET paused_until = now() + p_retry_after_ms * interval '1 millisecond'
         WHERE id = e.id;
        RETURN p_retry_after_ms;
    END IF;
    RETURN v_left;
END $$;

-- Apply one result that is not a fresh success (see the top of this file). Returns what
-- became of the delivery: 'retry', 'exhausted', 'failed', 'gone', 'disabled' (the endpoint
-- was disabled for failing too long), 'succeeded', or 'stale' (only the attempt row was
-- written, by wh_record); emitted counts the events written.
CREATE FUNCTION wh_record_one(p_delivery text, p_attempt int, p_status_code int, p_error text,
                              p_outcome text, p_retry_ms bigint, p_slowdown boolean,
                              p_retry_after_ms bigint, p_slowdown_ms bigint,
                              p_disable_after_s bigint, OUT outcome text, OUT emitted int)
LANGUAGE plpgsql AS $$
DECLARE
    d webhook_deliveries;
    e webhook_endpoints;
    v_pause bigint := 0;
    v_error text := left(p_error, 500);
BEGIN
    emitted := 0;
    outcome := CASE WHEN p_outcome IN ('succeeded', 'retry', 'exhausted', 'failed', 'gone')
                    THEN p_outcome END;
    SELECT * INTO d FROM webhook_deliveries WHERE id = p_delivery FOR UPDATE;
    IF NOT FOUND OR outcome IS NULL OR d.status <> 'pending' OR d.attempts <> p_attempt
       OR d.lease_until IS NULL THEN
        outcome := 'stale';
        RETURN;
    END IF;
    IF d.replay AND outcome IN ('retry', 'exhausted') THEN
        outcome := 'failed';
    END IF;
    DELETE FROM webhook_leases WHERE endpoint_id = d.endpoint_id AND delivery_id = d.id;
    IF outcome = 'succeeded' THEN
        UPDATE webhook_deliveries
           SET status = 'succeeded', completed_at = now(), lease_until = NULL,
               last_status_code = p_status_code, last_error = NULL
         WHERE id = d.id;
        UPDATE webhook_endpoints SET failing_since = NULL, slowdowns = 0, paused_until = NULL
         WHERE id = d.endpoint_id;
        RETURN;
    END IF;
    -- NO KEY UPDATE: serialises the results of one endpoint (and its disable) like FOR
    -- UPDATE, but does not wait for the fan-outs' foreign-key share locks on the endpoint,
    -- which can overlap without end while events flow (a 410 waited 13 s for one under
    -- AddressSanitizer)
    SELECT * INTO e FROM webhook_endpoints WHERE id = d.endpoint_id FOR NO KEY UPDATE;
    IF p_slowdown THEN
        v_pause := wh_slow_down(e, p_retry_after_ms, p_slowdown_ms);
    END IF;
    IF outcome = 'retry' THEN
        UPDATE webhook_deliveries
           SET next_attempt_at = now() + greatest(p_retry_ms, v_pause, 0) * interval '1 millisecond',
               lease_until = NULL, last_status_code = p_status_code, last_error = v_error
         WHERE id = d.id;
    ELSE
        UPDATE webhook_deliveries
           SET status = CASE outcome WHEN 'exhausted' THEN 'exhausted' ELSE 'failed' END,
               completed_at = now(), lease_until = NULL, last_status_code = p_status_code,
               last_error = v_error
         WHERE id = d.id;
    END IF;
    IF outcome = 'exhausted' AND NOT d.replay AND d.event_type NOT LIKE 'webhook.%' THEN
        PERFORM voepy_emit(d.tenant_id, NULL, 'webhook.exhausted',
                           json_build_object('webhook_id', d.endpoint_id, 'delivery_id', d.id,
                                             'event_id', d.event_id, 'event_type', d.event_type,
                                             'attempts', d.attempts,
                                             'last_status_code', p_status_code,
                                             'last_error', v_error));
        emitted := 1;
    END IF;
    IF outcome = 'gone' THEN
        IF wh_disable_endpoint(e.id, 'The endpoint answered 410 Gone at ' || voepy_ts(now()) || '.') THEN
            emitted := emitted + 1;
        END IF;
    ELSIF e.failing_since IS NULL THEN
        UPDATE webhook_endpoints SET failing_since = now() WHERE id = e.id;
    ELSIF now() - e.failing_since >= p_disable_after_s * interval '1 second' THEN
        IF wh_disable_endpoint(e.id, 'Every attempt failed since ' || voepy_ts(e.failing_since)
                                     || ' (disabled after ' || p_disable_after_s || ' s).') THEN
            emitted := emitted + 1;
            outcome := 'disabled';
        END IF;
    END IF;
END $$;

-- Record a batch of attempt results in one statement (one round trip for many attempts).
-- Element n of every array describes result n: the delivery and the attempt number its
-- claim returned, the HTTP status (NULL: no answer), the error, the time taken, the
-- response text kept, the dispatcher's outcome ('succeeded', 'retry', 'exhausted',
-- 'failed', 'gone'), the schedule's wait for 'retry', and whether the answer asked us to
-- slow down with its Retry-After in ms (NULL when it had none). p_slowdown_ms is the first
-- pause of a slow-down (VOEPY_WEBHOOK_SLOWDOWN_MS), p_disable_after_s how long an endpoint
-- may fail before it is disabled (VOEPY_WEBHOOK_DISABLE_AFTER_S).
-- Returns one row per result: i its 1-based position, outcome as wh_record_one (an
-- unknown delivery or outcome is 'stale'), emitted the events written for it (the caller
-- kicks the outbox when any was).
-- Fresh successes, the common case, are applied all at once; the rest one by one in
-- endpoint order, so that two batches lock endpoints in the same order.
CREATE FUNCTION wh_record(p_delivery text[], p_attempt int[], p_status_code int[],
                          p_error text[], p_duration_ms int[], p_response text[],
                          p_outcome text[], p_retry_ms bigint[], p_slowdown boolean[],
                          p_retry_after_ms bigint[], p_slowdown_ms bigint,
                          p_disable_after_s bigint)
RETURNS TABLE (i int, outcome text, emitted int)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_done int[];
    r record;
BEGIN
    WITH x AS (
        SELECT * FROM unnest(p_delivery, p_attempt, p_duration_ms, p_status_code, p_error,
                             p_response, p_outcome)
               WITH ORDINALITY AS x(id, attempt, duration_ms, status_code, error, response,
                                    outcome, n)),
    att AS (
        INSERT INTO webhook_attempts (delivery_id, tenant_id, attempt, duration_ms, status_code,
                                      error, response_body)
        SELECT w.id, w.tenant_id, x.attempt, x.duration_ms, x.status_code, left(x.error, 500),
               left(x.response, 1024)
          FROM x JOIN webhook_deliveries w ON w.id = x.id
         ORDER BY x.n),
    ok AS (
        UPDATE webhook_deliveries w
           SET status = 'succeeded', completed_at = now(), lease_until = NULL,
               last_status_code = x.status_code, last_error = NULL
          FROM x
         WHERE x.outcome = 'succeeded' AND w.id = x.id AND w.status = 'pending'
           AND w.attempts = x.attempt AND w.lease_until IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM webhook_endpoints e
                WHERE e.id = w.endpoint_id
                  AND (e.failing_since IS NOT NULL OR e.slowdowns <> 0 OR e.paused_until IS NOT NULL))
        RETURNING x.n, w.id, w.endpoint_id),
    unlease AS (
        DELETE FROM webhook_leases l USING ok
         WHERE l.endpoint_id = ok.endpoint_id AND l.delivery_id = ok.id)
    SELECT array_agg(ok.n::int) INTO v_done FROM ok;
    RETURN QUERY SELECT n, 'succeeded'::text, 0 FROM unnest(v_done) AS n;
    IF coalesce(array_length(v_done, 1), 0) = coalesce(array_length(p_delivery, 1), 0) THEN
        RETURN; -- all were fresh successes
    END IF;
    FOR r IN
        SELECT x.*, w.endpoint_id
          FROM unnest(p_delivery, p_attempt, p_status_code, p_error, p_outcome, p_retry_ms,
                      p_slowdown, p_retry_after_ms)
               WITH ORDINALITY AS x(id, attempt, status_code, error, outcome, retry_ms, slowdown,
                                    retry_after_ms, n)
          LEFT JOIN webhook_deliveries w ON w.id = x.id
         WHERE NOT (x.n = ANY (coalesce(v_done, '{}')))
         ORDER BY w.endpoint_id, x.id
    LOOP
        RETURN QUERY
        SELECT r.n::int, o.outcome, o.emitted
          FROM wh_record_one(r.id, r.attempt, r.status_code, r.error, r.outcome, r.retry_ms,
                             coalesce(r.slowdown, false), r.retry_after_ms, p_slowdown_ms,
                             p_disable_after_s) o;
    END LOOP;
END $$;
