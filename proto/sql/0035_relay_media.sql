-- Relay numbers' media (issue 5): a forwarding number (relay_enabled, 0013/0025) may ask
-- for its forwarded calls to be recorded (relay_record) and transcribed
-- (relay_transcribe). When the inbound call is bridged with its forwarded child,
-- call-control (services/call-control/call_relay.c) asks cc_relay_media what to start and
-- starts it with the machinery of the API's actions: the recording through
-- cc_recording_start (dual, mp3: the API's default format; both parties on their own
-- channel), the transcription through a call_transcriptions row like
-- transcription_start's (engine fast, tracks both, language en-US). Rows, events
-- (recording.completed, call.transcript_chunk) and charges are therefore those of
-- API-started ones.
--
-- The inbound call's call.ended carries, for a relay call only, recording_id and
-- transcript (voepy_call_event_data below). The recording is finished by media-fork when
-- the leg is released, which is after call.ended is written: call.ended names it
-- (recording_id, status still 'recording' then) and recording.completed (same id and
-- call_id) carries the file. transcript is the text of the phrases recorded so far.
--
-- Shared tables extended here: phone_numbers (relay_record, relay_transcribe). Shared
-- functions replaced here, compatibly (same signatures, members only added):
-- voepy_number_json (0002), voepy_call_event_data (0002), api_number_update (0013).

ALTER TABLE phone_numbers ADD COLUMN relay_record boolean NOT NULL DEFAULT false;
ALTER TABLE phone_numbers ADD COLUMN relay_transcribe boolean NOT NULL DEFAULT false;

-- The settings belong to the owner, like 0013's: cleared when the number changes hands.
CREATE FUNCTION phone_numbers_relay_owner_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
        NEW.relay_record := false;
        NEW.relay_transcribe := false;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER phone_numbers_relay_owner_changed BEFORE UPDATE OF tenant_id ON phone_numbers
    FOR EACH ROW EXECUTE FUNCTION phone_numbers_relay_owner_changed();

CREATE OR REPLACE FUNCTION voepy_number_json(n phone_numbers) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', n.id, 'phone_number', n.phone_number, 'country', n.country,
        'status', n.status, 'purchased_at', voepy_ts(n.purchased_at),
        'created_at', voepy_ts(n.created_at),
        'forward_to', n.forward_to, 'relay_enabled', n.relay_enabled,
        'forward_caller_id', n.forward_caller_id, 'name', n.name,
        'relay_record', n.relay_record, 'relay_transcribe', n.relay_transcribe)
$$;

-- 0013's PATCH plus relay_record and relay_transcribe (booleans, checked by the gateway;
-- they may be set whether or not the relay is on, and apply while it is).
CREATE OR REPLACE FUNCTION api_number_update(p_tenant text, p_id text, p_req jsonb, p_path text,
                                             p_key text, p_hash text)
RETURNS TABLE (http_status int, http_body text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_body text;
    n phone_numbers;
BEGIN
    RETURN QUERY SELECT i.status, i.body, true FROM idem_begin(p_tenant, 'PATCH', p_path, p_key, p_hash) i;
    IF FOUND THEN
        RETURN; -- a replay
    END IF;
    SELECT * INTO n FROM phone_numbers x WHERE x.id = p_id AND x.tenant_id = p_tenant FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM voepy_raise('not_found', NULL, 'No phone number with this id.');
    END IF;
    IF p_req ? 'name' THEN n.name := p_req->>'name'; END IF;
    IF p_req ? 'forward_to' THEN n.forward_to := p_req->>'forward_to'; END IF;
    IF p_req ? 'relay_enabled' THEN n.relay_enabled := (p_req->>'relay_enabled')::boolean; END IF;
    IF p_req ? 'forward_caller_id' THEN n.forward_caller_id := p_req->>'forward_caller_id'; END IF;
    IF p_req ? 'relay_record' THEN n.relay_record := (p_req->>'relay_record')::boolean; END IF;
    IF p_req ? 'relay_transcribe' THEN
        n.relay_transcribe := (p_req->>'relay_transcribe')::boolean;
    END IF;
    IF n.relay_enabled AND n.forward_to IS NULL THEN
        PERFORM voepy_raise('invalid_parameter',
                            CASE WHEN p_req ? 'relay_enabled' THEN 'relay_enabled' ELSE 'forward_to' END,
                            'relay_enabled needs a forward_to: set forward_to, or turn the relay off.');
    END IF;
    UPDATE phone_numbers x SET name = n.name, forward_to = n.forward_to,
                               relay_enabled = n.relay_enabled,
                               forward_caller_id = n.forward_caller_id,
                               relay_record = n.relay_record,
                               relay_transcribe = n.relay_transcribe
     WHERE x.id = n.id
    RETURNING * INTO n;
    v_body := voepy_number_json(n)::text;
    PERFORM idem_finish(p_tenant, 'PATCH', p_path, p_key, 200, v_body);
    RETURN QUERY SELECT 200, v_body, false;
END $$;

-- ---------------------------------------------------------------------------------------
-- call-control (call_relay.c); calling convention of store.c: the call, then the node.

-- The forwarded (inbound) call p_call was bridged with its child on p_node: what its
-- number asks for now. For transcribe, the call_transcriptions row is written here
-- (status requested; action_id NULL: no API action started it), as
-- api_action_side_rows writes transcription_start's. The recording's row is written by
-- cc_recording_start when call-control asks for it (record true). No row for a call
-- that is not a live relay call of this node; a retried statement finds the transcription
-- it wrote and answers the same.
CREATE FUNCTION cc_relay_media(p_call text, p_node text)
RETURNS TABLE (record boolean, transcribe boolean)
LANGUAGE plpgsql AS $$
DECLARE
    c calls;
    n phone_numbers;
BEGIN
    SELECT * INTO c FROM calls x
     WHERE x.id = p_call AND x.node_id = p_node AND x.options ? 'forward_to'
       AND x.status IN ('initiated', 'ringing', 'answered', 'bridged');
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT * INTO n FROM phone_numbers x
     WHERE x.phone_number = c.to_number AND x.tenant_id = c.tenant_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF n.relay_transcribe THEN
        INSERT INTO call_transcriptions (call_id, tenant_id, action_id, language, engine,
                                         transcription_tracks)
        VALUES (c.id, c.tenant_id, NULL, 'en-US', 'fast', 'both')
        ON CONFLICT (call_id) DO NOTHING;
    END IF;
    RETURN QUERY SELECT n.relay_record, n.relay_transcribe;
END $$;

-- The relay's transcription_start was sent to media-fork: the session is active (as
-- cc_transcription_started for an action's).
CREATE FUNCTION cc_relay_transcription_started(p_call text, p_node text) RETURNS void
LANGUAGE sql AS $$
    UPDATE call_transcriptions t SET status = 'active', started_at = coalesce(t.started_at, now())
     WHERE t.call_id = p_call AND t.action_id IS NULL AND t.status = 'requested';
$$;

-- ---------------------------------------------------------------------------------------
-- call.ended of a relay call

-- The relay's members of an ended forwarded call: recording_id (its first recording, or
-- null) and transcript (the final phrases so far, joined as voepy_transcription_json's
-- text (0012) joins them, or null when there are none).
CREATE FUNCTION relay_ended_members(c calls) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'recording_id', (SELECT r.id FROM recordings r WHERE r.call_id = c.id
                          ORDER BY r.created_at, r.id LIMIT 1),
        'transcript', (SELECT string_agg(k.transcript, ' ' ORDER BY k.started_at, k.id)
                         FROM call_transcript_chunks k
                        WHERE k.call_id = c.id AND k.is_final))
$$;

-- 0002's call.* event data; a relay call (options.forward_to) that has ended also gets
-- relay_ended_members, appended after 0002's members (text, as voepy_call_json does, so
-- the members keep their order). Every other call and event is rendered exactly as before.
CREATE OR REPLACE FUNCTION voepy_call_event_data(c calls) RETURNS json
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
