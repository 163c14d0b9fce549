-- What a call's media node was doing when it was lost (issue 5). media-fork reports the
-- end of each recording, stream and transcription itself (recording_done,
-- streaming_ended, transcription_ended), at the latest when the leg is released. When it
-- never answers the release (VOEPY_MEDIA_TIMEOUT_MS: it died, or Redis to it did), nobody
-- will: call-control calls cc_media_lost before it writes the call's end, and every row
-- still running is closed here, so that nothing stays "recording" or "active" forever.

-- Call p_call, carried by node p_node, lost its media node:
--   recordings still 'recording' become failed (error media_lost, recording.failed);
--   streams still requested or active become failed (their frame counts are unknown: 0);
--   the transcription session becomes stopped, with the audio of the phrases it already
--   delivered as its length (what the tenant received, no more), charged with the call's
--   end as any session's (speech_charge, 0027), and a transcription_start still waiting
--   for media-fork's confirmation fails (error media_lost).
-- A report from media-fork arriving later changes nothing (each report only moves rows
-- that are still running). Returns how many rows were closed.
CREATE FUNCTION cc_media_lost(p_call text, p_node text)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    r recordings;
    n int := 0;
    k int;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM calls c WHERE c.id = p_call AND c.node_id = p_node) THEN
        RETURN 0;
    END IF;
    FOR r IN UPDATE recordings x SET status = 'failed', error = 'media_lost', completed_at = now()
              WHERE x.call_id = p_call AND x.status = 'recording'
             RETURNING *
    LOOP
        PERFORM voepy_emit(r.tenant_id, r.call_id, 'recording.failed', voepy_recording_json(r));
        n := n + 1;
    END LOOP;
    UPDATE call_streams s SET status = 'failed', stopped_at = now()
     WHERE s.call_id = p_call AND s.status IN ('requested', 'active');
    GET DIAGNOSTICS k = ROW_COUNT;
    n := n + k;
    UPDATE call_transcriptions t
       SET status = 'stopped', stopped_at = now(),
           audio_ms = greatest(t.audio_ms,
                               (SELECT coalesce(sum((extract(epoch FROM ch.ended_at - ch.started_at)
                                                     * 1000)::bigint), 0)
                                  FROM call_transcript_chunks ch WHERE ch.call_id = p_call))
     WHERE t.call_id = p_call AND t.status IN ('requested', 'active');
    GET DIAGNOSTICS k = ROW_COUNT;
    n := n + k;
    -- A transcription_start is done once media-fork confirms it: none will come now.
    UPDATE call_actions a SET status = 'failed', completed_at = now(), error = 'media_lost'
     WHERE a.call_id = p_call AND a.verb = 'transcription_start' AND a.status = 'requested';
    PERFORM speech_charge(p_call);
    RETURN n;
END $$;
