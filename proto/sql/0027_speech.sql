-- Speech: the voices speak and gather_using_speak accept, and what call-control records
-- of transcriptions (services/call-control/call_speech.c, media-fork's transcribe.c).
--
-- Voices: the gateway validates action bodies synchronously; the voice names are checked
-- here, when the action row is inserted (api_call_action, 0012), so an unknown voice is a
-- 422 invalid_parameter on field "voice" and nothing is sent to a node. tts_voices is the
-- list media-fork's espeak engine maps (services/media-fork/tts_espeak.c, `voices`):
-- the two are kept equal by hand, and tests/unit/media-fork/test_tts.c checks that every
-- voice here is one the engine speaks.

CREATE TABLE tts_voices (
    name        text PRIMARY KEY,  -- as the API takes it
    language    text NOT NULL,     -- the language it speaks (generic voices: any below)
    description text NOT NULL
);

INSERT INTO tts_voices (name, language, description) VALUES
    ('Polly.Joanna',   'en-US', 'US English, female'),
    ('Polly.Salli',    'en-US', 'US English, female'),
    ('Polly.Kendra',   'en-US', 'US English, female'),
    ('Polly.Kimberly', 'en-US', 'US English, female'),
    ('Polly.Ivy',      'en-US', 'US English, female (child)'),
    ('Polly.Matthew',  'en-US', 'US English, male'),
    ('Polly.Joey',     'en-US', 'US English, male'),
    ('Polly.Justin',   'en-US', 'US English, male'),
    ('Polly.Amy',      'en-GB', 'British English, female'),
    ('Polly.Emma',     'en-GB', 'British English, female'),
    ('Polly.Brian',    'en-GB', 'British English, male'),
    ('alice',          '*',     'female; speaks the request''s language'),
    ('woman',          '*',     'female; speaks the request''s language'),
    ('man',            '*',     'male; speaks the request''s language'),
    ('en',             'en-GB', 'espeak English'),
    ('en-us',          'en-US', 'espeak US English'),
    ('en-gb',          'en-GB', 'espeak British English'),
    ('de',             'de-DE', 'espeak German'),
    ('fr',             'fr-FR', 'espeak French'),
    ('es',             'es-ES', 'espeak Spanish'),
    ('it',             'it-IT', 'espeak Italian'),
    ('nl',             'nl-NL', 'espeak Dutch'),
    ('pt',             'pt-PT', 'espeak Portuguese'),
    ('sv',             'sv-SE', 'espeak Swedish');

-- speak / gather_using_speak with a voice not in tts_voices: refused (422) before any
-- row is kept; the whole api_call_action transaction rolls back with it.
CREATE FUNCTION speech_check_voice() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.verb IN ('speak', 'gather_using_speak')
       AND NOT EXISTS (SELECT 1 FROM tts_voices v WHERE v.name = NEW.params->>'voice') THEN
        PERFORM voepy_raise('invalid_parameter', 'voice',
                            format('voice %s is not a known voice (for example Polly.Joanna, '
                                   'Polly.Matthew, alice, man, woman, en-us).',
                                   coalesce(NEW.params->>'voice', 'null')));
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER call_actions_voice BEFORE INSERT ON call_actions
    FOR EACH ROW WHEN (NEW.verb IN ('speak', 'gather_using_speak'))
    EXECUTE FUNCTION speech_check_voice();

-- Milliseconds of audio transcribed for the call, over all its sessions (billing).
ALTER TABLE call_transcriptions ADD COLUMN audio_ms bigint NOT NULL DEFAULT 0;

-- ---------------------------------------------------------------------------------------
-- call-control

-- call-control's calling convention (store.c): the call, then the node (p_node: kept for
-- it, unused), then the arguments.

-- The transcription_start action p_action was sent to media-fork: the session is active.
CREATE FUNCTION cc_transcription_started(p_call text, p_node text, p_action text) RETURNS void
LANGUAGE sql AS $$
    UPDATE call_transcriptions t SET status = 'active', started_at = coalesce(t.started_at, now())
     WHERE t.call_id = p_call AND t.action_id = p_action AND t.status = 'requested';
$$;

-- One phrase from media-fork (transcript_chunk): kept for GET /v1/calls/{id}/transcription
-- and emitted as call.transcript_chunk with data {call_id, customer_reference,
-- transcript, confidence, is_final, track, started_at, ended_at, words: [{word, start,
-- end}]} (openapi's TranscriptChunk; a word's start/end are seconds from the start of
-- the transcription session). Times: p_base_ms is the session's start (Unix ms), the
-- others milliseconds from it. Returns the event id, NULL when the call has no transcription.
CREATE FUNCTION cc_transcript_chunk(p_call text, p_node text, p_track text, p_text text, p_confidence float8,
                                    p_base_ms bigint, p_start_ms bigint, p_end_ms bigint,
                                    p_words jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c calls;
    v_words jsonb;
    v_start timestamptz := to_timestamp((p_base_ms + p_start_ms) / 1000.0);
    v_end timestamptz := to_timestamp((p_base_ms + p_end_ms) / 1000.0);
BEGIN
    SELECT * INTO c FROM calls WHERE id = p_call;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM call_transcriptions t WHERE t.call_id = p_call) THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'word', w->>'word',
               'start', round((w->>'start_ms')::numeric / 1000, 3),
               'end', round((w->>'end_ms')::numeric / 1000, 3))),
           '[]'::jsonb)
      INTO v_words FROM jsonb_array_elements(coalesce(p_words, '[]'::jsonb)) w;
    INSERT INTO call_transcript_chunks (call_id, tenant_id, transcript, confidence, is_final,
                                        track, started_at, ended_at, words)
    VALUES (c.id, c.tenant_id, p_text, p_confidence, true, p_track, v_start, v_end, v_words);
    UPDATE call_transcriptions t SET status = 'active', started_at = coalesce(t.started_at, now())
     WHERE t.call_id = p_call AND t.status = 'requested';
    RETURN voepy_emit(c.tenant_id, c.id, 'call.transcript_chunk',
                      json_build_object('call_id', c.id,
                                        'customer_reference', c.customer_reference,
                                        'transcript', p_text, 'confidence', p_confidence,
                                        'is_final', true, 'track', p_track,
                                        'started_at', voepy_ts(v_start),
                                        'ended_at', voepy_ts(v_end), 'words', v_words));
END $$;

-- Charge the call's transcribed minutes once, when the call has ended and no session
-- is active any more (rating_charge_usage is once per call and kind).
CREATE FUNCTION speech_charge(p_call text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t call_transcriptions;
BEGIN
    SELECT * INTO t FROM call_transcriptions x WHERE x.call_id = p_call;
    IF NOT FOUND OR t.status = 'active' OR t.audio_ms <= 0
       OR NOT EXISTS (SELECT 1 FROM calls c WHERE c.id = p_call
                         AND c.status IN ('ended', 'failed')) THEN
        RETURN;
    END IF;
    PERFORM rating_charge_usage(p_call, 'transcription', t.audio_ms);
END $$;

-- media-fork's transcription_ended: the session stopped (p_reason stopped, released,
-- replaced, closing) after p_audio_ms of audio. A "replaced" session's successor is
-- still active. Charged now when the call has ended already, else at its end (trigger
-- below). Idempotence: a redelivered report adds its milliseconds again; media-fork
-- sends it once per session, and call-control writes it once per message.
CREATE FUNCTION cc_transcription_ended(p_call text, p_node text, p_audio_ms bigint,
                                       p_reason text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE call_transcriptions t
       SET audio_ms = t.audio_ms + greatest(coalesce(p_audio_ms, 0), 0),
           status = CASE WHEN p_reason = 'replaced' THEN t.status ELSE 'stopped' END,
           stopped_at = CASE WHEN p_reason = 'replaced' THEN t.stopped_at ELSE now() END
     WHERE t.call_id = p_call;
    PERFORM speech_charge(p_call);
END $$;

-- The call ended: charge what was transcribed, unless a session is still reporting (its
-- transcription_ended charges then).
CREATE FUNCTION speech_call_ended() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM speech_charge(NEW.id);
    RETURN NEW;
END $$;

CREATE TRIGGER calls_speech_charge AFTER UPDATE OF status ON calls
    FOR EACH ROW WHEN (NEW.status IN ('ended', 'failed') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION speech_call_ended();
