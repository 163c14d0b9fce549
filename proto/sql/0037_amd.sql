-- Answering-machine detection (issue 5): `answering_machine_detection: "premium"` on a
-- call's creation (calls.options) makes call-control start media-fork's detector on the
-- answered leg (services/call-control/call_amd.c, services/media-fork/amd.h); its result
-- lands here once, as the call's amd_* columns (0012), a call.amd_complete event and an
-- `amd` usage charge (rating_charge_usage, 0031).

-- At answer: whether the call asked for detection and has no result yet (part of
-- cc_call_answered's result, 0020: no statement of its own).
-- plpgsql for its plan kept across transactions (see cc_first_leg, 0020).
CREATE FUNCTION cc_amd_wanted(p_call text, p_node text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce((SELECT bool_or(c.options->>'answering_machine_detection' = 'premium'
                                    AND c.amd_completed_at IS NULL)
                       FROM calls c WHERE c.id = p_call AND c.node_id = p_node), false);
END $$;

-- media-fork's amd_complete: record it, emit call.amd_complete, charge one detection when
-- any audio was analysed (p_elapsed_ms > 0). A redelivered result changes nothing and
-- answers NULL; else the event's id. The charge comes before the call's row is locked:
-- rating locks the books, then calls (0036), and so must this.
CREATE FUNCTION cc_amd_complete(p_call text, p_node text, p_result text, p_beep boolean,
                                p_elapsed_ms bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c calls;
BEGIN
    IF p_result IS NULL OR p_result NOT IN ('human', 'machine', 'unknown') THEN
        PERFORM voepy_raise('invalid_parameter', 'result', 'result must be human, machine or unknown.');
    END IF;
    SELECT * INTO c FROM calls x WHERE x.id = p_call AND x.node_id = p_node;
    IF NOT FOUND OR c.amd_completed_at IS NOT NULL THEN
        RETURN NULL;
    END IF;
    IF coalesce(p_elapsed_ms, 0) > 0 THEN
        PERFORM rating_charge_usage(c.id, 'amd', 1);
    END IF;
    UPDATE calls x SET amd_result = p_result, amd_beep_detected = coalesce(p_beep, false),
                       amd_completed_at = clock_timestamp(), updated_at = now()
     WHERE x.id = c.id AND x.amd_completed_at IS NULL
    RETURNING * INTO c;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN voepy_emit(c.tenant_id, c.id, 'call.amd_complete',
                      json_build_object('call_id', c.id, 'customer_reference', c.customer_reference,
                                        'result', c.amd_result,
                                        'beep_detected', c.amd_beep_detected));
END $$;
