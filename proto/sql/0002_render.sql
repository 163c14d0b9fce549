-- How resources look at the API (spec/voepy-calls.txt), rendered once, here, so that the
-- gateway's answers, stored idempotent replays and event payloads all agree.
-- json (not jsonb) keeps the documented field order.

-- Receiver statistics of a leg (issue 5, "RTP/RTCP per leg"; 0039_leg_stats.sql stores
-- them): added here, before the renderer below that shows them (a sql function's body is
-- checked when it is created).
ALTER TABLE call_legs ADD COLUMN rtp_packets_lost bigint,
                      ADD COLUMN rtp_jitter_ms    int,
                      ADD COLUMN rtp_rtt_ms       int;

-- A leg's `rtp` object: its counters and statistics (null when never measured).
CREATE FUNCTION voepy_leg_rtp_json(l call_legs) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('packets_in', l.rtp_packets_in, 'packets_out', l.rtp_packets_out,
                             'packets_lost', l.rtp_packets_lost, 'jitter_ms', l.rtp_jitter_ms,
                             'rtt_ms', l.rtp_rtt_ms)
$$;

CREATE FUNCTION voepy_leg_json(l call_legs) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', l.id, 'call_id', l.call_id, 'direction', l.direction, 'status', l.status,
        'from', l.from_uri, 'to', l.to_uri, 'codec', l.codec,
        'created_at', voepy_ts(l.created_at), 'answered_at', voepy_ts(l.answered_at),
        'ended_at', voepy_ts(l.ended_at), 'end_reason', l.end_reason,
        'rtp', voepy_leg_rtp_json(l))
$$;

-- The Recording resource. download_url is the API path that serves the file (fetched with
-- the same API key), present only while the recording is available and not deleted.
CREATE FUNCTION voepy_recording_json(r recordings) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', r.id, 'call_id', r.call_id, 'channels', r.channels, 'format', r.format,
        'duration_seconds', r.duration_seconds, 'size_bytes', r.size_bytes,
        'download_url', CASE WHEN r.status = 'available' AND r.deleted_at IS NULL
                             THEN '/v1/recordings/' || r.id || '/download' END,
        'status', r.status, 'created_at', voepy_ts(r.created_at))
$$;

-- Whole seconds of answered time (the spec's duration_seconds), NULL until answered.
-- STABLE, not IMMUTABLE: it reads now() for a live call. Declared as volatile as its body,
-- PostgreSQL inlines it instead of parsing it again on every call (tests/bench/api).
CREATE FUNCTION voepy_call_duration(c calls) RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN c.answered_at IS NULL THEN NULL
                ELSE floor(extract(epoch FROM (coalesce(c.ended_at, now()) - c.answered_at)))::int END
$$;

-- The Call resource; p_full adds legs and recordings (GET /v1/calls/{id}). json_build_object
-- keeps the field order of the spec; the two variants differ only by the trailing arrays.
CREATE FUNCTION voepy_call_json(c calls, p_full boolean) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    head text;
BEGIN
    head := json_build_object(
        'id', c.id, 'direction', c.direction, 'status', c.status,
        'from', c.from_number, 'to', c.to_number, 'route_id', c.route_id,
        'initiated_at', voepy_ts(c.initiated_at), 'answered_at', voepy_ts(c.answered_at),
        'ended_at', voepy_ts(c.ended_at), 'duration_seconds', voepy_call_duration(c),
        'end_reason', c.end_reason, 'end_initiator', c.end_initiator,
        'customer_reference', c.customer_reference, 'timeout_secs', c.timeout_secs,
        'time_limit_secs', c.time_limit_secs, 'billed_seconds', c.billed_seconds,
        'cost_cents', c.cost_cents, 'rating_status', c.rating_status)::text;
    IF NOT p_full THEN
        RETURN head::json;
    END IF;
    RETURN (left(head, -1) || ', "legs" : ' ||
            (SELECT coalesce(json_agg(voepy_leg_json(l) ORDER BY l.created_at, l.id), '[]'::json)
               FROM call_legs l WHERE l.call_id = c.id)::text ||
            ', "recordings" : ' ||
            (SELECT coalesce(json_agg(voepy_recording_json(r) ORDER BY r.created_at, r.id), '[]'::json)
               FROM recordings r WHERE r.call_id = c.id AND r.deleted_at IS NULL)::text ||
            '}')::json;
END $$;

-- Event data for call.* events: the call's fields with call_id, customer_reference echoed.
-- A relay call (options.forward_to) that has ended also gets relay_ended_members
-- (0035_relay_media.sql: recording_id, transcript), appended after these members (text, as
-- voepy_call_json does, so the members keep their order).
-- The body is not checked at creation (check_function_bodies off for this statement
-- only): relay_ended_members reads tables of later migrations (call_transcript_chunks,
-- 0012) and is created in 0035, before any call event can be rendered. Still a sql
-- function, so that PostgreSQL may inline it.
SET check_function_bodies = off;
CREATE FUNCTION voepy_call_event_data(c calls) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN c.status IN ('ended', 'failed') AND c.options ? 'forward_to'
                THEN (left(s.d::text, -1) || ', ' || substr(relay_ended_members(c)::text, 2))::json
                ELSE s.d END
      FROM (SELECT json_build_object(
                'call_id', c.id, 'direction', c.direction, 'status', c.status,
                'from', c.from_number, 'to', c.to_number, 'route_id', c.route_id,
                'customer_reference', c.customer_reference,
                'initiated_at', voepy_ts(c.initiated_at), 'answered_at', voepy_ts(c.answered_at),
                'ended_at', voepy_ts(c.ended_at), 'duration_seconds', voepy_call_duration(c),
                'end_reason', c.end_reason, 'end_initiator', c.end_initiator) AS d) s
$$;
RESET check_function_bodies;

-- A relay number's media settings (issue 5, 0035_relay_media.sql: its forwarded calls
-- recorded, transcribed), part of the owner's configuration like 0001's relay_enabled:
-- added here, before the renderer below that shows them.
ALTER TABLE phone_numbers ADD COLUMN relay_record boolean NOT NULL DEFAULT false;
ALTER TABLE phone_numbers ADD COLUMN relay_transcribe boolean NOT NULL DEFAULT false;

CREATE FUNCTION voepy_number_json(n phone_numbers) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', n.id, 'phone_number', n.phone_number, 'country', n.country,
        'status', n.status, 'purchased_at', voepy_ts(n.purchased_at),
        'created_at', voepy_ts(n.created_at),
        'forward_to', n.forward_to, 'relay_enabled', n.relay_enabled,
        'forward_caller_id', n.forward_caller_id, 'name', n.name,
        'relay_record', n.relay_record, 'relay_transcribe', n.relay_transcribe)
$$;

CREATE FUNCTION voepy_route_json(r routes) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', r.id, 'name', r.name, 'sip_uri', r.sip_uri, 'transport', r.transport,
        'platform_default', r.is_platform_default, 'created_at', voepy_ts(r.created_at))
$$;

CREATE FUNCTION voepy_tenant_json(t tenants) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', t.id, 'name', t.name, 'status', t.status, 'default_route_id', t.default_route_id,
        'credit_limit_cents', t.credit_limit_cents,
        'allow_caller_id_forwarding', t.allow_caller_id_forwarding,
        'balance_cents', (SELECT a.balance_cents FROM ledger_accounts a
                           WHERE a.tenant_id = t.id AND a.kind = 'tenant_balance'),
        'api_requests_per_second', t.api_requests_per_second,
        'calls_per_minute', t.calls_per_minute,
        'calls_per_second', t.calls_per_second,
        'max_concurrent_calls', t.max_concurrent_calls,
        'allowed_countries', to_json(t.allowed_countries),
        'blocked_countries', to_json(t.blocked_countries),
        'blocked_prefixes', to_json(t.blocked_prefixes),
        'created_at', voepy_ts(t.created_at))
$$;

-- A webhook endpoint as the API shows it: never a secret (each is shown once, when it is
-- made or rotated), only the Ed25519 public key receivers verify v1a signatures with.
-- plpgsql, not sql: it reads columns that 0041_webhooks_v2.sql adds, which a plpgsql body
-- resolves when it first runs instead of when it is created (before 0041).
CREATE FUNCTION voepy_webhook_json(w webhook_endpoints) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN json_build_object(
        'id', w.id, 'url', w.url, 'name', w.name, 'events', to_json(w.events),
        'active', w.active, 'disabled_reason', w.disabled_reason,
        'disabled_at', voepy_ts(w.disabled_at), 'failing_since', voepy_ts(w.failing_since),
        'ed25519_signing', w.ed25519_public_key IS NOT NULL,
        'ed25519_public_key', w.ed25519_public_key,
        'secret_rotated_at', voepy_ts(w.secret_rotated_at),
        'previous_secret_expires_at', voepy_ts(w.previous_secret_expires_at),
        'created_at', voepy_ts(w.created_at));
END $$;

-- Idempotency. idem_begin claims (tenant, method, path, key) for this transaction and
-- returns nothing, or returns the stored answer of an earlier request with the same key
-- (replay), or raises idempotency_key_reused when that request had another body. While a
-- request holds the claim (its transaction has not ended), another request with the same
-- key is refused with idempotency_key_in_use (409) at once rather than left waiting: the
-- claim is a transaction-scoped advisory lock on a 64-bit hash of the scope and key, taken
-- before the row, so two requests can never both act (a hash collision between two live
-- keys could only cause a spurious 409, never a double action). idem_finish stores the
-- answer, in the same transaction.
CREATE FUNCTION idem_begin(p_tenant text, p_method text, p_path text, p_key text, p_hash text)
RETURNS TABLE (status int, body text) LANGUAGE plpgsql AS $$
DECLARE
    k idempotency_keys;
BEGIN
    IF p_key IS NULL THEN
        RETURN;
    END IF;
    IF NOT pg_try_advisory_xact_lock(
               hashtextextended(p_tenant || ' ' || p_method || ' ' || p_path || ' ' || p_key, 0)) THEN
        PERFORM voepy_raise('idempotency_key_in_use', 'Idempotency-Key',
                            'A request with this Idempotency-Key is still being processed; '
                            'retry when it has finished.');
    END IF;
    DELETE FROM idempotency_keys i
     WHERE i.tenant_id = p_tenant AND i.method = p_method AND i.path = p_path AND i.key = p_key
       AND i.expires_at < now();
    INSERT INTO idempotency_keys (tenant_id, method, path, key, request_hash, response_status, response_body)
    VALUES (p_tenant, p_method, p_path, p_key, p_hash, 0, '')
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN; -- claimed: the caller acts
    END IF;
    SELECT * INTO k FROM idempotency_keys i
     WHERE i.tenant_id = p_tenant AND i.method = p_method AND i.path = p_path AND i.key = p_key;
    IF k.request_hash <> p_hash THEN
        PERFORM voepy_raise('idempotency_key_reused', 'Idempotency-Key',
                            'This Idempotency-Key was already used with a different request.');
    END IF;
    status := k.response_status;
    body := k.response_body;
    RETURN NEXT;
END $$;

CREATE FUNCTION idem_finish(p_tenant text, p_method text, p_path text, p_key text,
                            p_status int, p_body text)
RETURNS void LANGUAGE sql AS $$
    UPDATE idempotency_keys SET response_status = p_status, response_body = p_body
     WHERE p_key IS NOT NULL AND tenant_id = p_tenant AND method = p_method AND path = p_path
       AND key = p_key;
$$;

-- Forget answers older than their 24 hours, at most p_limit at a time (the gateway calls
-- this every minute; a key reused after expiry is also cleared by idem_begin). Returns the
-- number of rows removed.
CREATE FUNCTION idem_sweep(p_limit int) RETURNS int LANGUAGE sql AS $$
    WITH gone AS (
        DELETE FROM idempotency_keys
         WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE expires_at < now() LIMIT p_limit)
        RETURNING 1)
    SELECT count(*)::int FROM gone
$$;
