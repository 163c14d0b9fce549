-- Receiver statistics of a call's leg (issue 5, "RTP/RTCP per leg"): media-fork measures
-- the far end's RTP (RFC 3550 A.3 loss, A.8 interarrival jitter) and the RTCP round-trip
-- time, and reports them in media.released (proto/streams.md, voepy:mf); call-control
-- stores them with the release counters, and the leg resource shows them under
-- legs[].rtp (packets_lost, jitter_ms, rtt_ms; null when never measured). The columns
-- (call_legs.rtp_packets_lost, rtp_jitter_ms, rtp_rtt_ms) and the renderer that shows them
-- (voepy_leg_rtp_json, used by voepy_leg_json) are in 0002, where the leg is rendered.

-- cc_call_ended (0020) with the statistics: the leg gets them in the same transaction as
-- the end (so call.ended and the resource agree), then 0020's function does the rest. The
-- 9-argument form stays for callers without statistics. Nothing is written for a call
-- that is not this node's or already over (0020's rule: a repeat changes nothing).
CREATE FUNCTION cc_call_ended(p_call text, p_node text, p_ms bigint, p_status text,
                              p_reason text, p_initiator text, p_sip_status int,
                              p_packets_in bigint, p_packets_out bigint,
                              p_lost bigint, p_jitter_ms int, p_rtt_ms int)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    -- calls before call_legs, as 0020 locks them
    PERFORM 1 FROM calls WHERE id = p_call AND node_id = p_node
                           AND status NOT IN ('ended', 'failed') FOR UPDATE;
    IF FOUND THEN
        UPDATE call_legs
           SET rtp_packets_lost = coalesce(greatest(p_lost, 0), rtp_packets_lost),
               rtp_jitter_ms = coalesce(greatest(p_jitter_ms, 0), rtp_jitter_ms),
               rtp_rtt_ms = coalesce(greatest(p_rtt_ms, 0), rtp_rtt_ms)
         WHERE id = (cc_first_leg(p_call)).id;
    END IF;
    RETURN cc_call_ended(p_call, p_node, p_ms, p_status, p_reason, p_initiator, p_sip_status,
                         p_packets_in, p_packets_out);
END $$;
