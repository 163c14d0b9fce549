-- WebSocket media streams (issue 5): call-control starts and stops them on media-fork
-- (services/call-control/call_stream.c) and records what media-fork reports in the
-- call_streams rows of 0012 (GET /v1/calls/{id}/streamings reads them):
--   requested  written by the gateway with the action (streaming_start, or answer with
--              stream_url);
--   active     media-fork connected to the customer's WebSocket (streaming_started);
--   stopped    it ended: streaming_stop, the call's end, or the server closed it
--              (streaming_ended with reason stopped, released or closed_by_peer);
--   failed     it could not start or broke (reason failed: a URL the policy refuses, a
--              connection that failed), or the action itself failed (cc_action_failed).
-- No events: the spec names none for streams. Both functions are idempotent against
-- redelivered replies (a finished row never changes again).

-- streaming_started: requested -> active. Returns whether the row changed.
CREATE FUNCTION cc_stream_started(p_stream text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE call_streams s SET status = 'active', started_at = now()
     WHERE s.id = p_stream AND s.status = 'requested';
    RETURN FOUND;
END $$;

-- streaming_ended: requested/active -> stopped or failed, with media-fork's counters.
CREATE FUNCTION cc_stream_ended(p_stream text, p_reason text, p_sent bigint, p_dropped bigint)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE call_streams s
       SET status = CASE WHEN p_reason = 'failed' THEN 'failed' ELSE 'stopped' END,
           stopped_at = now(),
           started_at = CASE WHEN p_reason = 'failed' THEN s.started_at
                             ELSE coalesce(s.started_at, now()) END,
           frames_sent = greatest(coalesce(p_sent, 0), 0),
           frames_dropped = greatest(coalesce(p_dropped, 0), 0)
     WHERE s.id = p_stream AND s.status IN ('requested', 'active');
    RETURN FOUND;
END $$;
