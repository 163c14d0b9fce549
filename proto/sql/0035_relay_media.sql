-- Relay numbers' media (issue 5): a forwarding number (relay_enabled, 0013/0025) may ask
-- for its forwarded calls to be recorded (relay_record) and transcribed
-- (relay_transcribe). When the inbound call is answered, cc_inbound_answered (0021) asks
-- cc_relay_media what to start, in the answer's transaction, and call-control
-- (services/call-control/call_relay.c) starts it once the call's bridge with its
-- forwarded child is sent, with the machinery of the API's actions: the recording through
-- cc_recording_start (dual, mp3: the API's default format; both parties on their own
-- channel), the transcription through a call_transcriptions row like
-- transcription_start's (engine fast, tracks both, language en-US). Rows, events
-- (recording.completed, call.transcript_chunk) and charges are therefore those of
-- API-started ones.
--
-- The inbound call's call.ended carries, for a relay call only, recording_id and
-- transcript (relay_ended_members below, which 0002's voepy_call_event_data appends). The
-- recording is finished by media-fork when the leg is released, which is after call.ended
-- is written: call.ended names it (recording_id, status still 'recording' then) and
-- recording.completed (same id and call_id) carries the file. transcript is the text of
-- the phrases recorded so far.
--
-- The number's settings relay_record and relay_transcribe are columns of phone_numbers
-- added in 0002, with the renderer that shows them (voepy_number_json); PATCH sets them
-- (api_number_update, 0013).

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

-- ---------------------------------------------------------------------------------------
-- call-control (call_relay.c); calling convention of store.c: the call, then the node.

-- The forwarded (inbound) call p_call is answered on p_node (cc_inbound_answered, 0021):
-- what its number asks for now. For transcribe, the call_transcriptions row is written here
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
-- text (0012) joins them, or null when there are none). voepy_call_event_data (0002)
-- appends them to call.ended's data of a relay call (options.forward_to). plpgsql for
-- its plans kept across transactions (see cc_first_leg, 0020).
CREATE FUNCTION relay_ended_members(c calls) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN json_build_object(
        'recording_id', (SELECT r.id FROM recordings r WHERE r.call_id = c.id
                          ORDER BY r.created_at, r.id LIMIT 1),
        'transcript', (SELECT string_agg(k.transcript, ' ' ORDER BY k.started_at, k.id)
                         FROM call_transcript_chunks k
                        WHERE k.call_id = c.id AND k.is_final));
END $$;
