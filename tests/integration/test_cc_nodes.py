"""call-control nodes that die (issue 4, "Nodes"): a survivor ends their calls.

Node A (the harness's call-control, node id call-control-it) carries answered calls to a
SIPp far end that answers and waits; one or two more call-control nodes (their own node
id, SIP and ops ports) run beside it. A is SIGKILLed: within VOEPY_CC_NODE_DEAD_MS plus a
beat interval plus slack exactly one survivor ends A's calls (ended, system_failure,
system) at the moment A was last known alive (its last heartbeat), publishes call.ended,
and rating bills them for answered_at -> that moment, not for the detection delay. A
restarted A changes nothing about them. The heartbeat table's fence (a node taken over
while cut off learns it on its next beat) is checked on the SQL functions themselves.
"""
import math
import os
import subprocess
import time
import unittest

from harness import Platform, Process, binary, free_port, q, wait_until
from test_call_control import FROM, TO, setup_tenant

DEAD_MS = 2000
BEAT_S = DEAD_MS / 3 / 1000.0  # takeover.c: min(1000, dead_ms / 3)
SLACK_S = 3.0
SERVICES = ("api-gateway", "call-control", "media-fork", "rating")
NODE_A = "call-control-it"


def start_node(p, name, node_id):
    """Another call-control node beside the harness's own (its process is p.procs[name],
    stopped by p.stop() like the others)."""
    p.ops_ports[name] = free_port()
    env = p.service_env("call-control", VOEPY_NODE_ID=node_id,
                        VOEPY_OPS_PORT=p.ops_ports[name], VOEPY_SIP_PORT=free_port())
    p.procs[name] = Process(name, [binary("call-control")], env,
                            os.path.join(p.tmp, "%s.log" % name))
    p.wait_ready(name)
    return p.procs[name]


def redis(p, *args):
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(p.redis_port)] + list(args),
                          check=True, capture_output=True, text=True).stdout


class Takeover(unittest.TestCase):
    def setUp(self):
        self.p = Platform(services=SERVICES, name="cc-nodes",
                          env={"VOEPY_CC_NODE_DEAD_MS": str(DEAD_MS)})
        self.p.start()
        self.addCleanup(self.p.stop)
        self.far = self.p.sipp("uas_answer.xml", name="answer")
        route = self.p.create_route(self.far.uri, name="answer")
        self.tenant, self.key = setup_tenant(self.p, route)

    # -- helpers -----------------------------------------------------------------------------
    def place_answered(self, n):
        ids = []
        for _ in range(n):
            st, call, raw, _ = self.p.api("POST", "/v1/calls", {"from": FROM, "to": TO},
                                          key=self.key)
            self.assertEqual(st, 201, raw)
            ids.append(call["id"])
        for i in ids:
            self.p.wait_call(self.key, i, lambda c: c["status"] == "answered")
        return ids

    def rows(self, ids):
        """Per call: status, reason, initiator, node, answered/ended epoch s, rating state,
        billed seconds, call.ended events written and published."""
        out = self.p.sql(
            "SELECT c.id, c.status, c.end_reason, c.end_initiator, c.node_id,"
            " extract(epoch FROM c.answered_at), extract(epoch FROM c.ended_at),"
            " c.rating_status, c.billed_seconds,"
            " (SELECT count(*) FROM events e WHERE e.call_id = c.id AND e.type = 'call.ended'),"
            " (SELECT count(*) FROM events e WHERE e.call_id = c.id AND e.type = 'call.ended'"
            "    AND e.published_at IS NOT NULL)"
            " FROM calls c WHERE c.id IN (%s) ORDER BY c.id" % ",".join(q(i) for i in ids))
        keys = ("id", "status", "reason", "initiator", "node", "answered", "ended", "rating",
                "billed", "ended_events", "published")
        return [dict(zip(keys, r)) for r in out]

    def wait_ended(self, ids, timeout):
        wait_until(lambda: all(r["status"] == "ended" for r in self.rows(ids)), timeout,
                   interval=0.1, what="the dead node's calls to end")

    def kill_a(self):
        """SIGKILL node A; returns the epoch time just before the signal."""
        at = time.time()
        self.p.kill("call-control")
        return at

    def check_ended_at_last_beat(self, ids, killed_at):
        wait_until(lambda: all(r["rating"] == "rated" for r in self.rows(ids)), 20, interval=0.2,
                   what="rating to rate the calls")
        for r in self.rows(ids):
            self.assertEqual((r["status"], r["reason"], r["initiator"], r["node"]),
                             ("ended", "system_failure", "system", NODE_A), r)
            ended, answered = float(r["ended"]), float(r["answered"])
            # the last heartbeat: before the kill, at most a beat interval (and a slow loop
            # turn) earlier; never the detection time (at least DEAD_MS after the kill)
            self.assertLessEqual(ended, killed_at + 0.05, r)
            self.assertGreater(ended, killed_at - BEAT_S - 0.5, r)
            ran = killed_at - answered
            self.assertEqual(int(r["billed"]), math.ceil(round(ended - answered, 3)), r)
            self.assertLessEqual(abs(int(r["billed"]) - ran), 1.5, (r, ran))
            self.assertEqual((r["ended_events"], r["published"]), ("1", "1"), r)

    def takeovers(self, node):
        return self.p.sql("SELECT taken_by, calls FROM cc_node_takeovers WHERE node_id = %s"
                          " ORDER BY id" % q(node))

    # -- tests -------------------------------------------------------------------------------
    def test_survivor_ends_a_dead_nodes_calls_at_its_last_heartbeat(self):
        ids = self.place_answered(3)
        self.assertEqual({r["node"] for r in self.rows(ids)}, {NODE_A})
        b = start_node(self.p, "call-control-b", "cc-b")
        time.sleep(3)  # let the calls run: they are billed for this
        killed_at = self.kill_a()
        started = time.monotonic()
        self.wait_ended(ids, DEAD_MS / 1000.0 + BEAT_S + SLACK_S)
        self.assertGreater(time.monotonic() - started, DEAD_MS / 1000.0 - 0.5,
                           "A's calls were ended before A could count as dead")
        self.check_ended_at_last_beat(ids, killed_at)
        self.assertEqual(self.takeovers(NODE_A), [["cc-b", "3"]])
        self.assertEqual(b.output().count('"cc.takeover_call"'), 3)
        # the survivor asked media-fork to release the legs: the answers reach its inbox
        legs = [r[0] for r in self.p.sql("SELECT id FROM call_legs WHERE call_id IN (%s)"
                                         % ",".join(q(i) for i in ids))]

        def released():
            out = redis(self.p, "XRANGE", "voepy:cc:cc-b", "-", "+")
            return all(leg in out for leg in legs) and "media.released" in out
        wait_until(released, 10, what="media.released for every leg on the survivor's inbox")

        # A comes back under its node id: nothing about those calls changes
        before = self.rows(ids)
        self.p.restart("call-control")
        time.sleep(DEAD_MS / 1000.0 + 2 * BEAT_S)
        self.assertEqual(self.rows(ids), before)
        self.assertEqual(self.takeovers(NODE_A), [["cc-b", "3"]])
        # and calls are placed again
        self.assertEqual(len(self.place_answered(1)), 1)

    def test_exactly_one_of_two_survivors_ends_each_call(self):
        ids = self.place_answered(4)
        b = start_node(self.p, "call-control-b", "cc-b")
        c = start_node(self.p, "call-control-c", "cc-c")
        time.sleep(1)
        killed_at = self.kill_a()
        self.wait_ended(ids, DEAD_MS / 1000.0 + BEAT_S + SLACK_S)
        self.check_ended_at_last_beat(ids, killed_at)
        takeovers = self.takeovers(NODE_A)
        self.assertEqual(len(takeovers), 1, takeovers)
        self.assertIn(takeovers[0][0], ("cc-b", "cc-c"))
        self.assertEqual(takeovers[0][1], "4")
        time.sleep(2 * BEAT_S)  # the other survivor had its turns too
        lines = b.output().count('"cc.takeover_call"') + c.output().count('"cc.takeover_call"')
        self.assertEqual(lines, 4)
        self.assertEqual(len(self.takeovers(NODE_A)), 1)

    def test_a_node_taken_over_while_cut_off_learns_it_from_its_beat(self):
        """The SQL side of the fence: a node silent for longer than the bound (here a row
        that stopped beating) with an answered and a ringing call is taken over; its next
        beat answers true once, so it hangs up what it still carries, and it counts as
        alive again."""
        ghost, started = "cc-ghost", int(time.time() * 1000) - 60000
        alive = started + 50000
        answered = self.insert_call(ghost, "answered", answered_ms=alive - 20000)
        ringing = self.insert_call(ghost, "ringing")
        late = self.insert_call(ghost, "answered", answered_ms=alive + 3000)
        # the row last: a survivor takes over what the node owns when it finds it dead
        self.p.sql("INSERT INTO cc_nodes (node_id, started_at, alive_at, beat_at) VALUES"
                   " (%s, voepy_ms(%d), voepy_ms(%d), now() - interval '10 s')"
                   % (q(ghost), started, alive))
        wait_until(lambda: self.p.sql("SELECT count(*) FROM calls WHERE node_id = %s AND"
                                      " status IN ('ended', 'failed')" % q(ghost)) == [["3"]],
                   DEAD_MS / 1000.0 + BEAT_S + SLACK_S, what="the ghost's calls to end")
        rows = {r[0]: r[1:] for r in self.p.sql(
            "SELECT id, status, end_reason, end_initiator,"
            " (extract(epoch FROM ended_at) * 1000)::bigint,"
            " (extract(epoch FROM ended_at - answered_at) * 1000)::bigint"
            " FROM calls WHERE node_id = %s" % q(ghost))}
        self.assertEqual(rows[answered], ["ended", "system_failure", "system", str(alive), "20000"])
        self.assertEqual(rows[ringing][:3], ["failed", "system_failure", "system"])
        self.assertEqual(rows[late][0], "ended")
        self.assertEqual(rows[late][4], "0")  # answered after the last beat: 0 s, not less
        beat = "SELECT cc_node_beat(%s, %d, %d)" % (q(ghost), started, int(time.time() * 1000))
        self.assertEqual(self.p.sql(beat), [["t"]])
        self.assertEqual(self.p.sql(beat), [["f"]])
        # a restart under the id after a takeover ends nothing more
        self.assertEqual(self.p.sql("SELECT cc_recover_node(%s, %d)"
                                    % (q(ghost), int(time.time() * 1000))), [["0"]])
        # rows of nodes silent for a day that own nothing live are dropped by the sweeps
        for node, beat in (("cc-gone", "2 days"), ("cc-recent", "2 hours")):
            self.p.sql("INSERT INTO cc_nodes (node_id, started_at, alive_at, beat_at) VALUES"
                       " (%s, now() - interval '3 days', now() - interval %s,"
                       " now() - interval %s)" % (q(node), q(beat), q(beat)))
        wait_until(lambda: self.p.sql("SELECT count(*) FROM cc_nodes WHERE node_id = 'cc-gone'")
                   == [["0"]], 5, what="the day-old row to go")
        self.assertEqual(self.p.sql("SELECT node_id FROM cc_nodes WHERE node_id LIKE 'cc-%'"
                                    " ORDER BY 1"), [["cc-ghost"], ["cc-recent"]])

    def test_two_takeovers_at_once_end_each_call_once(self):
        """Two survivors asking at the same moment: the second skips the node the first
        holds (SKIP LOCKED) and, once the first has committed, finds it taken."""
        self.p.kill("call-control")  # the two survivors are the two sessions below
        ghost = "cc-ghost2"
        ids = [self.insert_call(ghost, "answered", answered_ms=int(time.time() * 1000) - 30000)
               for _ in range(3)]
        self.p.sql("INSERT INTO cc_nodes (node_id, started_at, alive_at, beat_at) VALUES"
                   " (%s, now() - interval '1 min', now() - interval '10 s',"
                   " now() - interval '10 s')" % q(ghost))
        first = subprocess.Popen(
            ["psql", self.p.pg_dsn, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
             "-c", "BEGIN", "-c", "SELECT count(*) FROM cc_takeover_dead('s1', 2000, 10)",
             "-c", "SELECT pg_sleep(2)", "-c", "COMMIT"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: self.p.sql("SELECT count(*) FROM pg_stat_activity"
                                      " WHERE query = 'SELECT pg_sleep(2)'") == [["1"]], 5,
                   what="the first takeover to hold the node")
        asked = time.monotonic()
        self.assertEqual(self.p.sql("SELECT count(*) FROM cc_takeover_dead('s2', 2000, 10)"),
                         [["0"]])
        self.assertLess(time.monotonic() - asked, 1.0, "the second survivor waited for the first")
        self.assertIsNone(first.poll())
        out, err = first.communicate(10)
        self.assertEqual(first.returncode, 0, err)
        self.assertEqual(out.split(), ["3"])
        self.assertEqual(self.p.sql("SELECT count(*) FROM cc_takeover_dead('s3', 2000, 10)"),
                         [["0"]])
        self.assertEqual(self.takeovers(ghost), [["s1", "3"]])
        for r in self.rows(ids):
            self.assertEqual((r["status"], r["reason"], r["ended_events"]),
                             ("ended", "system_failure", "1"), r)

    def insert_call(self, node, status, answered_ms=None):
        tid = self.tenant["id"]
        answered = "voepy_ms(%d)" % answered_ms if answered_ms else "NULL"
        call = self.p.sql(
            "INSERT INTO calls (id, tenant_id, direction, from_number, to_number, status,"
            " node_id, initiated_at, ringing_at, answered_at) VALUES (voepy_id('call'), %s,"
            " 'outbound', %s, %s, %s, %s, now() - interval '1 min', now() - interval '1 min',"
            " %s) RETURNING id" % (q(tid), q(FROM), q(TO), q(status), q(node), answered))[0][0]
        self.p.sql("INSERT INTO call_legs (id, call_id, tenant_id, direction, from_uri, to_uri)"
                   " VALUES (voepy_id('leg'), %s, %s, 'outbound', %s, %s)"
                   % (q(call), q(tid), q(FROM), q(TO)))
        return call


if __name__ == "__main__":
    unittest.main()
