-- api-gateway: call action verbs (POST /v1/calls/{id}/actions/{verb}, all but hangup) and
-- the call sub-resources (GET /v1/calls/{id}/streamings, /transcription, /amd).
--
-- The gateway validates each verb's body (services/api-gateway/actions.c); this file holds
-- the state rules (the spec's "When" column), the record of every request (call_actions)
-- and its side rows (call_streams, call_transcriptions). A verb is carried out only by a
-- call-control node that advertises it in the node registry (key "verbs"); the gateway
-- passes the alive nodes that advertise the verb, and a call owned by another node answers
-- 501 not_implemented, never a silent success.

-- ---------------------------------------------------------------------------------------
-- Tables

-- Every accepted action request. params are the effective parameters (the body with the
-- defaults applied), exactly as sent to the node. The node marks the row done or failed.
CREATE TABLE call_actions (
    id           text PRIMARY KEY,                 -- voepy_act_…
    call_id      text NOT NULL REFERENCES calls(id),
    tenant_id    text NOT NULL REFERENCES tenants(id),
    verb         text NOT NULL,
    params       jsonb NOT NULL DEFAULT '{}',
    node_id      text,                             -- the node the command was sent to
    status       text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'done', 'failed')),
    requested_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    error        text,
    CHECK ((status = 'requested') = (completed_at IS NULL))
);
CREATE INDEX call_actions_call ON call_actions (call_id, requested_at);

-- Media streams to a customer's WebSocket (streaming_start, or answer with stream_url).
CREATE TABLE call_streams (
    id             text PRIMARY KEY,               -- voepy_stream_…
    call_id        text NOT NULL REFERENCES calls(id),
    tenant_id      text NOT NULL REFERENCES tenants(id),
    action_id      text REFERENCES call_actions(id),
    stream_url     text NOT NULL,
    stream_track   text NOT NULL CHECK (stream_track IN ('inbound_track', 'outbound_track', 'both_tracks')),
    stream_codec   text NOT NULL CHECK (stream_codec IN ('PCMU', 'PCMA', 'G722', 'OPUS', 'L16')),
    status         text NOT NULL DEFAULT 'requested'
                   CHECK (status IN ('requested', 'active', 'stopped', 'failed')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    stopped_at     timestamptz,
    frames_sent    bigint NOT NULL DEFAULT 0,
    frames_dropped bigint NOT NULL DEFAULT 0
);
CREATE INDEX call_streams_call ON call_streams (call_id, created_at);

-- One transcription session per call; a new transcription_start replaces its settings.
CREATE TABLE call_transcriptions (
    call_id              text PRIMARY KEY REFERENCES calls(id),
    tenant_id            text NOT NULL REFERENCES tenants(id),
    action_id            text REFERENCES call_actions(id), -- the latest start
    status               text NOT NULL DEFAULT 'requested'
                         CHECK (status IN ('requested', 'active', 'stopped')),
    language             text NOT NULL,
    engine               text NOT NULL CHECK (engine IN ('fast', 'accurate')),
    transcription_tracks text NOT NULL CHECK (transcription_tracks IN ('inbound', 'outbound', 'both')),
    requested_at         timestamptz NOT NULL DEFAULT now(),
    started_at           timestamptz,
    stopped_at           timestamptz
);

-- Phrases as the transcriber reports them (call.transcript_chunk).
CREATE TABLE call_transcript_chunks (
    id         bigserial PRIMARY KEY,
    call_id    text NOT NULL REFERENCES calls(id),
    tenant_id  text NOT NULL REFERENCES tenants(id),
    transcript text NOT NULL,
    confidence double precision,
    is_final   boolean NOT NULL DEFAULT true,
    track      text,
    started_at timestamptz,
    ended_at   timestamptz,
    words      jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX call_transcript_chunks_call ON call_transcript_chunks (call_id, started_at, id);

-- Answering-machine detection result (call.amd_complete), written by the node.
ALTER TABLE calls ADD COLUMN amd_result text CHECK (amd_result IN ('human', 'machine', 'unknown')),
                  ADD COLUMN amd_beep_detected boolean,
                  ADD COLUMN amd_completed_at timestamptz;

-- ---------------------------------------------------------------------------------------
-- Renderers

CREATE FUNCTION voepy_stream_json(s call_streams) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', s.id, 'call_id', s.call_id, 'stream_url', s.stream_url,
        'stream_track', s.stream_track, 'stream_codec', s.stream_codec, 'status', s.status,
        'started_at', voepy_ts(s.started_at), 'stopped_at', voepy_ts(s.stopped_at),
        'frames_sent', s.frames_sent, 'frames_dropped', s.frames_dropped)
$$;

CREATE FUNCTION voepy_transcription_json(p_call text) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'call_id', p_call,
        'status', coalesce(t.status, 'off'),
        'language', t.language, 'engine', t.engine,
        'transcription_tracks', t.transcription_tracks,
        'chunks', coalesce((SELECT json_agg(json_build_object(
                                'transcript', k.transcript, 'confidence', k.confidence,
                                'is_final', k.is_final, 'track', k.track,
                                'started_at', voepy_ts(k.started_at),
                                'ended_at', voepy_ts(k.ended_at), 'words', k.words)
                                ORDER BY k.started_at, k.id)
                              FROM call_transcript_chunks k WHERE k.call_id = p_call), '[]'::json),
        'text', coalesce((SELECT string_agg(k.transcript, ' ' ORDER BY k.started_at, k.id)
                            FROM call_transcript_chunks k
                           WHERE k.call_id = p_call AND k.is_final), ''))
      FROM (SELECT 1) one
      LEFT JOIN call_transcriptions t ON t.call_id = p_call
$$;

CREATE FUNCTION voepy_amd_json(c calls) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'call_id', c.id,
        'status', CASE WHEN coalesce(c.options->>'answering_machine_detection', 'off') = 'off'
                       THEN 'off'
                       WHEN c.amd_completed_at IS NULL THEN 'pending'
                       ELSE 'complete' END,
        'result', c.amd_result,
        'beep_detected', c.amd_beep_detected,
        'completed_at', voepy_ts(c.amd_completed_at))
$$;

-- ---------------------------------------------------------------------------------------
-- Actions

-- The verb's defaults, applied under the body (documented in actions.c and the report).
-- answer's record/stream defaults apply only when it records or streams (see below).
CREATE FUNCTION api_action_defaults(p_verb text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_verb
        WHEN 'transfer' THEN '{"timeout_secs": 30}'
        WHEN 'play' THEN '{"loop": 1, "target_legs": "self"}'
        WHEN 'stop_playback' THEN '{"stop": "all"}'
        WHEN 'speak' THEN '{"language": "en-US"}'
        WHEN 'start_recording' THEN '{"play_beep": false}'
        WHEN 'send_dtmf' THEN '{"duration_millis": 250}'
        WHEN 'gather' THEN '{"minimum_digits": 1, "maximum_digits": 128, "terminating_digit": "#",
                             "timeout_millis": 60000, "inter_digit_timeout_millis": 5000,
                             "maximum_tries": 1}'
        WHEN 'gather_using_speak' THEN '{"minimum_digits": 1, "maximum_digits": 128,
                             "terminating_digit": "#", "timeout_millis": 60000,
                             "inter_digit_timeout_millis": 5000, "maximum_tries": 3,
                             "language": "en-US"}'
        WHEN 'gather_using_audio' THEN '{"minimum_digits": 1, "maximum_digits": 128,
                             "terminating_digit": "#", "timeout_millis": 60000,
                             "inter_digit_timeout_millis": 5000, "maximum_tries": 3}'
        WHEN 'streaming_start' THEN '{"stream_track": "inbound_track", "stream_codec": "PCMU"}'
        WHEN 'transcription_start' THEN '{"language": "en-US", "engine": "fast",
                             "transcription_tracks": "inbound"}'
        ELSE '{}' END::jsonb
$$;

-- The statuses (and direction) a verb may act from: the spec's "When" column.
CREATE FUNCTION api_action_state_ok(p_verb text, c calls) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_verb IN ('answer', 'reject')
            THEN c.direction = 'inbound' AND c.status IN ('initiated', 'ringing')
        WHEN p_verb IN ('bridge', 'refer', 'start_recording')
            THEN c.status = 'answered'
        ELSE c.status IN ('answered', 'bridged')
    END
$$;

CREATE FUNCTION api_action_state_text(p_verb text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_verb IN ('answer', 'reject') THEN 'an inbound call before it is answered'
        WHEN p_verb IN ('bridge', 'refer', 'start_recording') THEN 'an answered call'
        ELSE 'an answered or bridged call' END
$$;

-- The side rows of a verb, and params completed with their ids (stream_id).
CREATE FUNCTION api_action_side_rows(c calls, p_verb text, p_action text, p_params jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_stream text;
BEGIN
    IF p_verb = 'answer' AND p_params ? 'stream_url' OR p_verb = 'streaming_start' THEN
        v_stream := voepy_id('stream');
        INSERT INTO call_streams (id, call_id, tenant_id, action_id, stream_url, stream_track,
                                  stream_codec)
        VALUES (v_stream, c.id, c.tenant_id, p_action, p_params->>'stream_url',
                p_params->>'stream_track', p_params->>'stream_codec');
        RETURN p_params || jsonb_build_object('stream_id', v_stream);
    ELSIF p_verb = 'transcription_start' THEN
        INSERT INTO call_transcriptions AS t (call_id, tenant_id, action_id, language, engine,
                                              transcription_tracks)
        VALUES (c.id, c.tenant_id, p_action, p_params->>'language', p_params->>'engine',
                p_params->>'transcription_tracks')
        ON CONFLICT (call_id) DO UPDATE
           SET action_id = excluded.action_id, status = 'requested',
               language = excluded.language, engine = excluded.engine,
               transcription_tracks = excluded.transcription_tracks,
               requested_at = now(), stopped_at = NULL;
    END IF;
    RETURN p_params;
END $$;

-- The effective parameters: defaults under the body (null members count as absent).
CREATE FUNCTION api_action_params(p_verb text, p_req jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api_action_defaults(p_verb)
        || CASE WHEN p_verb = 'answer' AND p_req ? 'record' AND p_req->>'record' IS NOT NULL
                THEN '{"record_channels": "single", "record_format": "mp3"}'::jsonb
                ELSE '{}'::jsonb END
        || CASE WHEN p_verb = 'answer' AND p_req->>'stream_url' IS NOT NULL
                THEN '{"stream_track": "inbound_track", "stream_codec": "PCMU"}'::jsonb
                ELSE '{}'::jsonb END
        || jsonb_strip_nulls(coalesce(p_req, '{}'::jsonb))
$$;

-- bridge: leg_id must be a leg of another live call of the same tenant.
CREATE FUNCTION api_action_bridge_check(c calls, p_leg text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM call_legs l JOIN calls o ON o.id = l.call_id
                    WHERE l.id = p_leg AND l.tenant_id = c.tenant_id AND o.tenant_id = c.tenant_id
                      AND o.id <> c.id AND o.status NOT IN ('ended', 'failed')) THEN
        PERFORM voepy_raise('not_found', 'leg_id',
                            'leg_id names no leg of another live call on this account.');
    END IF;
END $$;

-- POST /v1/calls/{id}/actions/{verb} (all verbs but hangup). p_req is the validated body;
-- p_nodes the alive call-control nodes that advertise p_verb. Answers the latest Call
-- resource (200) and, unless replayed, the node to command, the action id and the
-- effective params (the command's "params").
CREATE FUNCTION api_call_action(p_tenant text, p_id text, p_verb text, p_req jsonb,
                                p_nodes text[], p_path text, p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean, node_id text,
               action_id text, params text)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    v_action text := voepy_id('act');
    v_params jsonb;
    c calls;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true, NULL::text, NULL::text, NULL::text
                   FROM idem_begin(p_tenant, 'POST', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    SELECT * INTO c FROM calls x WHERE x.id = p_id AND x.tenant_id = p_tenant FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No call with this id.');
    END IF;
    IF c.status IN ('ended', 'failed') THEN
        PERFORM voepy_raise('call_already_ended', NULL, 'The call has already ended.');
    END IF;
    IF NOT api_action_state_ok(p_verb, c) THEN
        PERFORM voepy_raise('call_not_in_required_state', 'status',
                            p_verb || ' needs ' || api_action_state_text(p_verb) || '; the call is '
                            || c.direction || ' and ' || c.status || '.');
    END IF;
    IF p_verb = 'bridge' THEN
        PERFORM api_action_bridge_check(c, p_req->>'leg_id');
    END IF;
    IF c.node_id IS NULL OR NOT (c.node_id = ANY (coalesce(p_nodes, '{}'))) THEN
        PERFORM voepy_raise('not_implemented', NULL,
                            p_verb || ' is not carried out by this platform yet: the node that '
                            'carries this call does not support it.');
    END IF;
    v_params := api_action_params(p_verb, p_req);
    INSERT INTO call_actions (id, call_id, tenant_id, verb, params, node_id)
    VALUES (v_action, c.id, p_tenant, p_verb, v_params, c.node_id);
    v_params := api_action_side_rows(c, p_verb, v_action, v_params);
    UPDATE call_actions a SET params = v_params WHERE a.id = v_action;
    v_body := voepy_call_json(c, true)::text;
    PERFORM idem_finish(p_tenant, 'POST', p_path, p_key, 200, v_body);
    RETURN QUERY SELECT 200, v_body, false, c.node_id, v_action, v_params::text;
END $$;

-- ---------------------------------------------------------------------------------------
-- Sub-resources

CREATE FUNCTION api_call_must_exist(p_tenant text, p_id text) RETURNS calls
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c calls;
BEGIN
    SELECT * INTO c FROM calls x WHERE x.id = p_id AND x.tenant_id = p_tenant;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No call with this id.');
    END IF;
    RETURN c;
END $$;

-- GET /v1/calls/{id}/streamings: every stream of the call, newest first.
CREATE FUNCTION api_call_streamings(p_tenant text, p_id text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM api_call_must_exist(p_tenant, p_id);
    RETURN QUERY SELECT 200, json_build_object('data', coalesce(
        (SELECT json_agg(voepy_stream_json(s) ORDER BY s.created_at DESC, s.id DESC)
           FROM call_streams s WHERE s.call_id = p_id AND s.tenant_id = p_tenant),
        '[]'::json))::text;
END $$;

-- GET /v1/calls/{id}/transcription: status "off" (nulls, no chunks) until one is started.
CREATE FUNCTION api_call_transcription(p_tenant text, p_id text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM api_call_must_exist(p_tenant, p_id);
    RETURN QUERY SELECT 200, voepy_transcription_json(p_id)::text;
END $$;

-- GET /v1/calls/{id}/amd
CREATE FUNCTION api_call_amd(p_tenant text, p_id text)
RETURNS TABLE (http_status int, http_body text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT 200, voepy_amd_json(api_call_must_exist(p_tenant, p_id))::text;
END $$;

-- ---------------------------------------------------------------------------------------
-- call-control

-- A node could not carry out an action (an op it does not know, or it failed): the
-- request is marked failed with the reason, and its side rows with it. Idempotent (only a
-- requested action changes). Returns whether a row changed.
CREATE FUNCTION cc_action_failed(p_action text, p_call text, p_error text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE call_actions a SET status = 'failed', completed_at = now(), error = p_error
     WHERE a.id = p_action AND a.call_id = p_call AND a.status = 'requested';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE call_streams s SET status = 'failed', stopped_at = now()
     WHERE s.action_id = p_action AND s.status = 'requested';
    UPDATE call_transcriptions t SET status = 'stopped', stopped_at = now()
     WHERE t.action_id = p_action AND t.status = 'requested';
    RETURN true;
END $$;
