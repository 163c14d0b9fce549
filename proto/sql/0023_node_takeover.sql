-- call-control: nodes that die leave no calls behind (services/call-control/takeover.c).
--
-- Every call-control node writes a heartbeat row here (cc_node_beat, once a second) besides
-- its entry in the Redis node registry. The registry tells peers where to send work; this
-- row decides, in the same transaction that ends the calls, that a node is dead, so a
-- Redis restart or a lost registry entry can never make live calls look orphaned, and two
-- survivors can never both end them.
--
-- A node whose beat is older than VOEPY_CC_NODE_DEAD_MS (by the database's clock) and that
-- still owns live calls is taken over by exactly one survivor (cc_takeover_dead): its
-- cc_nodes row is locked FOR UPDATE SKIP LOCKED and marked, its live calls are ended
-- (answered or bridged: ended, else failed; system_failure, initiator system) at the
-- moment the node was last known alive, its alive_at: the node's own clock at its last
-- beat, the clock its answered_at was written with. So a call is billed for the time it
-- really ran (up to one beat interval less), never for the time detection took.
--
-- A node that comes back under the same id (cc_recover_node, at its start) ends, at the
-- same moment, the calls its earlier life still owns. Both lock the node's row first and
-- end only calls still live, so whichever comes first ends a call, once; the other finds
-- nothing left. A node that was taken over while it was still running (cut off from the
-- database for longer than the bound) learns it from its next beat and hangs up what it
-- still carries (its own ending of an already ended call changes nothing).

-- One row per node id: its current incarnation.
CREATE TABLE cc_nodes (
    node_id       text PRIMARY KEY,
    started_at    timestamptz NOT NULL, -- when this incarnation (process) started
    alive_at      timestamptz NOT NULL, -- the node's clock at its last beat: calls end here
    beat_at       timestamptz NOT NULL, -- the database's clock at its last beat: liveness
    taken_over_at timestamptz,          -- a survivor ended this incarnation's calls
    taken_over_by text
);

-- Every takeover (or recovery at restart that ended something), for operators and tests.
CREATE TABLE cc_node_takeovers (
    id         bigserial PRIMARY KEY,
    node_id    text NOT NULL,          -- the node whose calls were ended
    started_at timestamptz NOT NULL,   -- its incarnation
    alive_at   timestamptz NOT NULL,   -- the moment its calls ended
    taken_by   text NOT NULL,          -- the survivor (the node itself for a restart)
    taken_at   timestamptz NOT NULL DEFAULT now(),
    calls      int NOT NULL
);
CREATE INDEX cc_node_takeovers_node ON cc_node_takeovers (node_id, taken_at);

-- End one live call of a node that is gone, at p_at (or, when later, the call's own last
-- move: a call answered after the node's last beat ran for 0 s, not a negative time).
-- Answered or bridged: ended; initiated or ringing: failed. system_failure, initiator
-- system, call.ended emitted. The caller holds the call's row lock.
CREATE FUNCTION cc_end_orphan(p_call calls, p_at timestamptz) RETURNS calls
LANGUAGE plpgsql AS $$
DECLARE
    c calls;
    at timestamptz := greatest(p_at, p_call.initiated_at, p_call.ringing_at, p_call.answered_at);
    ms bigint := floor(extract(epoch FROM at) * 1000)::bigint;
BEGIN
    IF p_call.status NOT IN ('answered', 'bridged') THEN
        RETURN cc_fail(p_call.id, ms, 'system_failure', 'system', NULL);
    END IF;
    UPDATE calls SET status = 'ended', ended_at = at, end_reason = 'system_failure',
                     end_initiator = 'system', updated_at = now()
     WHERE id = p_call.id
    RETURNING * INTO c;
    UPDATE call_legs SET status = 'ended', ended_at = at, end_reason = 'system_failure'
     WHERE id = (cc_first_leg(c.id)).id AND status NOT IN ('ended', 'failed');
    PERFORM voepy_emit(c.tenant_id, c.id, 'call.ended', voepy_call_event_data(c));
    RETURN c;
END $$;

-- A node restarted under the same id (VOEPY_NODE_ID) lost the dialogs of its earlier life:
-- end the calls it owned before p_started_ms, at the moment its earlier life was last
-- known alive (its last beat; p_started_ms when it never beat), then register the new
-- incarnation (as its first beat). Calls claimed since the start are left alone. Returns
-- how many were ended (0 when a survivor had already taken them over).
CREATE FUNCTION cc_recover_node(p_node text, p_started_ms bigint)
RETURNS int LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n cc_nodes;
    c calls;
    at timestamptz := voepy_ms(p_started_ms);
    k int := 0;
BEGIN
    SELECT * INTO n FROM cc_nodes x WHERE x.node_id = p_node FOR UPDATE;
    IF FOUND AND n.alive_at < at THEN
        at := n.alive_at;
    END IF;
    FOR c IN SELECT * FROM calls x
              WHERE x.node_id = p_node AND x.status NOT IN ('ended', 'failed')
                AND x.updated_at < voepy_ms(p_started_ms)
              ORDER BY x.initiated_at FOR UPDATE LOOP
        PERFORM cc_end_orphan(c, at);
        k := k + 1;
    END LOOP;
    IF k > 0 THEN
        INSERT INTO cc_node_takeovers (node_id, started_at, alive_at, taken_by, calls)
        VALUES (p_node, coalesce(n.started_at, at), at, p_node, k);
    END IF;
    INSERT INTO cc_nodes (node_id, started_at, alive_at, beat_at)
    VALUES (p_node, voepy_ms(p_started_ms), voepy_ms(p_started_ms), now())
    ON CONFLICT (node_id) DO UPDATE
       SET started_at = excluded.started_at, alive_at = excluded.alive_at,
           beat_at = excluded.beat_at, taken_over_at = NULL, taken_over_by = NULL;
    RETURN k;
END $$;

-- A node's heartbeat: p_ms is its clock now, p_started_ms its incarnation. Returns true
-- when a survivor took this incarnation's calls over since its last beat (the node was
-- cut off for longer than the bound): the node then hangs up every call it still carries.
-- The mark is cleared, so that the node can be taken over again should it die later.
CREATE FUNCTION cc_node_beat(p_node text, p_started_ms bigint, p_ms bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n cc_nodes;
BEGIN
    SELECT * INTO n FROM cc_nodes x WHERE x.node_id = p_node FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO cc_nodes (node_id, started_at, alive_at, beat_at)
        VALUES (p_node, voepy_ms(p_started_ms), voepy_ms(p_ms), now());
        RETURN false;
    END IF;
    UPDATE cc_nodes x SET started_at = voepy_ms(p_started_ms), alive_at = voepy_ms(p_ms),
                          beat_at = now(), taken_over_at = NULL, taken_over_by = NULL
     WHERE x.node_id = p_node;
    RETURN n.taken_over_at IS NOT NULL AND n.started_at = voepy_ms(p_started_ms);
END $$;

-- A node leaving cleanly (the end of its drain): nothing of it is left to take over.
CREATE FUNCTION cc_node_leave(p_node text, p_started_ms bigint)
RETURNS boolean LANGUAGE sql AS $$
    DELETE FROM cc_nodes WHERE node_id = p_node AND started_at = voepy_ms(p_started_ms)
       AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.node_id = p_node
                                               AND c.status NOT IN ('ended', 'failed'))
    RETURNING true
$$;

-- Survivor p_me ends the live calls of every node whose beat is older than p_dead_ms.
-- Exactly one survivor takes each dead incarnation: its row is locked with SKIP LOCKED and
-- re-checked (taken_over_at IS NULL) once locked, and the mark commits with the endings.
-- At most p_limit nodes per call. One row per call ended: its node, its ids, the media
-- node of its first leg (the survivor asks media-fork to release the leg), its new status
-- and the moment it ended. Rows of nodes silent for a day that own nothing live are
-- dropped on the way (node ids made of a pid leave one row per process otherwise).
CREATE FUNCTION cc_takeover_dead(p_me text, p_dead_ms int, p_limit int)
RETURNS TABLE (node_id text, call_id text, tenant_id text, leg_id text, media_node text,
               status text, alive_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n cc_nodes;
    c calls;
    l call_legs;
    k int;
BEGIN
    DELETE FROM cc_nodes x
     WHERE x.beat_at < now() - interval '1 day'
       AND NOT EXISTS (SELECT 1 FROM calls y WHERE y.node_id = x.node_id
                                              AND y.status NOT IN ('ended', 'failed'));
    FOR n IN SELECT * FROM cc_nodes x
              WHERE x.node_id <> p_me AND x.taken_over_at IS NULL
                AND x.beat_at < now() - p_dead_ms * interval '1 millisecond'
                AND EXISTS (SELECT 1 FROM calls y WHERE y.node_id = x.node_id
                                                   AND y.status NOT IN ('ended', 'failed'))
              ORDER BY x.beat_at LIMIT p_limit
              FOR UPDATE SKIP LOCKED LOOP
        k := 0;
        FOR c IN SELECT * FROM calls y
                  WHERE y.node_id = n.node_id AND y.status NOT IN ('ended', 'failed')
                  ORDER BY y.initiated_at FOR UPDATE LOOP
            c := cc_end_orphan(c, n.alive_at);
            l := cc_first_leg(c.id);
            k := k + 1;
            RETURN QUERY SELECT n.node_id, c.id, c.tenant_id, l.id, l.media_node, c.status,
                                n.alive_at;
        END LOOP;
        UPDATE cc_nodes x SET taken_over_at = now(), taken_over_by = p_me
         WHERE x.node_id = n.node_id;
        INSERT INTO cc_node_takeovers (node_id, started_at, alive_at, taken_by, calls)
        VALUES (n.node_id, n.started_at, n.alive_at, p_me, k);
    END LOOP;
END $$;
