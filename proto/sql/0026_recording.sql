-- Recordings (issue 5): call-control starts them on media-fork and records what media-fork
-- reports (services/call-control/call_record.c); the gateway serves and deletes the files
-- (services/api-gateway/recordings.c). Same conventions as 0020/0021/0024: one function per
-- operation, events emitted with voepy_emit in the transaction that changes the row,
-- idempotent against redelivered messages.
--
-- Shared table extended here: recordings.error (why a recording failed) and
-- recordings.completed_at (when media-fork finished it).
ALTER TABLE recordings ADD COLUMN error text;
ALTER TABLE recordings ADD COLUMN completed_at timestamptz;

-- A recording of call p_call starts now on node p_node: the row, status 'recording',
-- which media-fork's recording_done completes (cc_recording_done). Returns the new id,
-- its channels and format and the tenant (media-fork's storage key starts with it), or no
-- row when nothing is to be recorded:
--   p_auto false  start_recording: p_channels and p_format as asked;
--   p_auto true   the call's own choice at its answer: the answer's record-from-answer
--                 (p_channels/p_format given), else the creation's record option
--                 (calls.options: on_answer or on_ringing, with record_channels and
--                 record_format); at most once per call (a call that already has a
--                 recording is not started again: a node that re-reads its answer).
-- p_id, when given, is the new recording's id, chosen by the node: a retried statement
-- whose first try committed finds that recording (still 'recording') and answers it
-- again instead of nothing (its node never heard of it). cc_call_answered (0020) starts
-- the automatic recording this way, in the answer's transaction.
-- Only for a live call owned by p_node (else no row). A call answered at once may still be
-- 'initiated' here (early media's on_ringing start, call_record.c, runs beside the call's
-- own queue).
CREATE FUNCTION cc_recording_start(p_call text, p_node text, p_channels text, p_format text,
                                   p_auto boolean, p_id text DEFAULT NULL)
RETURNS TABLE (recording_id text, channels text, format text, tenant_id text)
LANGUAGE plpgsql AS $$
DECLARE
    c calls;
    v_channels text := p_channels;
    v_format text := p_format;
    v_id text;
BEGIN
    SELECT * INTO c FROM calls x WHERE x.id = p_call AND x.node_id = p_node
       AND x.status IN ('initiated', 'ringing', 'answered', 'bridged') FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF p_id IS NOT NULL THEN
        RETURN QUERY SELECT r.id, r.channels, r.format, r.tenant_id FROM recordings r
                      WHERE r.id = p_id AND r.call_id = c.id AND r.status = 'recording';
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    IF p_auto THEN
        IF EXISTS (SELECT 1 FROM recordings r WHERE r.call_id = p_call) THEN
            RETURN;
        END IF;
        IF v_channels IS NULL AND v_format IS NULL THEN
            IF coalesce(c.options->>'record', 'off') NOT IN ('on_answer', 'on_ringing') THEN
                RETURN;
            END IF;
            v_channels := c.options->>'record_channels';
            v_format := c.options->>'record_format';
        END IF;
    END IF;
    v_channels := coalesce(v_channels, 'single');
    v_format := coalesce(v_format, 'mp3');
    IF v_channels NOT IN ('single', 'dual') OR v_format NOT IN ('mp3', 'wav') THEN
        PERFORM voepy_raise('invalid_parameter', 'channels', 'channels or format not known');
    END IF;
    v_id := coalesce(p_id, voepy_id('rec'));
    INSERT INTO recordings (id, call_id, tenant_id, channels, format, status)
    VALUES (v_id, c.id, c.tenant_id, v_channels, v_format, 'recording');
    RETURN QUERY SELECT v_id, v_channels, v_format, c.tenant_id;
END $$;

-- media-fork's recording_done for p_recording: 'completed' makes it available with its
-- duration (whole seconds, rounded), size and storage key and emits recording.completed;
-- 'failed' marks it failed with p_error (kept in recordings.error) and emits
-- recording.failed. The event's data is the Recording resource, exactly
-- (proto/openapi.yaml, RecordingEvent). Only a recording still 'recording' changes: a
-- redelivered report emits nothing. Returns the event id or NULL.
CREATE FUNCTION cc_recording_done(p_recording text, p_status text, p_duration_ms bigint,
                                  p_size bigint, p_key text, p_error text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r recordings;
    v_ok boolean := p_status = 'completed';
BEGIN
    IF p_status NOT IN ('completed', 'failed') THEN
        PERFORM voepy_raise('invalid_parameter', 'status', 'unknown recording status');
    END IF;
    UPDATE recordings x
       SET status = CASE WHEN v_ok THEN 'available' ELSE 'failed' END,
           duration_seconds = CASE WHEN v_ok THEN ((coalesce(p_duration_ms, 0) + 500) / 1000)::int END,
           size_bytes = CASE WHEN v_ok THEN p_size END,
           storage_key = CASE WHEN v_ok THEN p_key END,
           error = CASE WHEN v_ok THEN NULL ELSE coalesce(p_error, 'failed') END,
           completed_at = now()
     WHERE x.id = p_recording AND x.status = 'recording'
    RETURNING * INTO r;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN voepy_emit(r.tenant_id, r.call_id,
                      CASE WHEN v_ok THEN 'recording.completed' ELSE 'recording.failed' END,
                      voepy_recording_json(r));
END $$;

-- The signed download (GET /v1/recordings/{id}/download?expires=&sig=, no API key): the
-- recording's tenant (the signature covers it), status, file and format, whoever asks;
-- not_found for a deleted or unknown one. The gateway checks the signature before it
-- serves anything, and answers 403 for a signature that does not match.
CREATE FUNCTION api_recording_locate(p_id text)
RETURNS TABLE (http_status int, tenant_id text, status text, storage_key text, format text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r recordings;
BEGIN
    SELECT * INTO r FROM recordings x WHERE x.id = p_id AND x.deleted_at IS NULL;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No recording with this id.');
    END IF;
    RETURN QUERY SELECT 200, r.tenant_id, r.status, r.storage_key, r.format;
END $$;

-- The gateway removed a deleted recording's file (or found it gone) after the DELETE
-- committed: storage_deleted_at. True when this call marked it.
CREATE FUNCTION api_recording_file_removed(p_id text)
RETURNS boolean LANGUAGE sql AS $$
    UPDATE recordings SET storage_deleted_at = now()
     WHERE id = p_id AND deleted_at IS NOT NULL AND storage_deleted_at IS NULL
    RETURNING true
$$;
