-- call-control: the media verbs' outcomes (services/call-control/call_media.c).
--
-- call-control turns the API's play, stop_playback, gather, gather_using_audio,
-- stop_gather and send_dtmf actions into media-fork commands (proto/streams.md) and
-- completes their call_actions rows with cc_action_result (0021). What media-fork reports
-- later about a gather -- its final gather_complete, after call-control's retries for
-- maximum_tries -- becomes the call.gather_complete event here, in the transaction that
-- completes the gather's action. Same conventions as 0020/0021: one function per
-- operation, voepy_emit in the same transaction, idempotent.

-- The final result of the gather action p_action of call p_call: the action done and
-- call.gather_complete emitted with data {call_id, customer_reference, digits, status}
-- (proto/openapi.yaml, GatherCompleteEvent). p_status is valid, invalid, timeout,
-- cancelled or call_hangup (cancelled because the call ended). Only a requested action
-- completes and emits: a redelivered gather_complete changes nothing. p_node is the node
-- that reports it (logged in nothing; kept for the callers' calling convention). Returns
-- the event's id, or NULL when nothing was emitted.
CREATE FUNCTION cc_gather_complete(p_call text, p_node text, p_action text, p_digits text,
                                   p_status text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c calls;
BEGIN
    IF p_status NOT IN ('valid', 'invalid', 'timeout', 'cancelled', 'call_hangup') THEN
        PERFORM voepy_raise('invalid_parameter', 'status', 'unknown gather status');
    END IF;
    UPDATE call_actions a SET status = 'done', completed_at = now(), error = NULL
     WHERE a.id = p_action AND a.call_id = p_call AND a.status = 'requested'
       AND a.verb IN ('gather', 'gather_using_audio', 'gather_using_speak');
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO c FROM calls WHERE id = p_call;
    RETURN voepy_emit(c.tenant_id, c.id, 'call.gather_complete',
                      json_build_object('call_id', c.id,
                                        'customer_reference', c.customer_reference,
                                        'digits', coalesce(p_digits, ''),
                                        'status', p_status));
END $$;
