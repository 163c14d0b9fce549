#!/usr/bin/env python3
"""Bridged G.711 calls through media-fork against rtpengine (userspace), in one run
(issue 5; see README.md).

Each step makes N two-party calls on the relay under test: 2N legs, each one a socket of
rtpload (rtpload.c: 50 packets/s of 172 bytes both ways, loss counted end to end by
payload content), joined in pairs by the relay:

  media-fork  allocate + connect each leg (PCMU), bridge the pairs (voepy:mf:{node}
              commands, as call-control sends them); release afterwards
  rtpengine   `--table=-1` (userspace, no kernel forwarding), an ng offer/answer per call
              (bencode over UDP, as a SIP proxy's rtpengine module sends them); delete
              afterwards

The two relays take turns at each N (RAMP). A relay passes a step when its loss stays at
or below 0.1 % over the measured window (MEASURE_S after WARMUP_S); a failing step is tried
once more; its ceiling is its last passing N. The relays run on core 0, rtpload on core 1.

Also printed: the relays' CPU per relayed packet and per call-second at FIXED_N calls,
and media-fork's with every call recorded (record_start on one leg of each call, dual WAV
to a directory) and with one WebSocket stream per call (streaming_start on one leg of
each call, PCMU inbound track, to wsrecv: wsrecv.c, a libwebsockets server on core 1
that counts the frames) - the figures the noisy machine blurs least. The stream figure
is printed only when wsrecv got the frames of every stream for the whole measured time
(50 per second per stream, within STREAM_TOLERANCE), else it is marked invalid. The
last line, `bench-media-json:`, holds everything as JSON.
"""
import collections
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("VOEPY_BUILD_DIR", "build-bench")

import benchlib  # noqa: E402
from harness import Platform, binary, free_port, wait_until  # noqa: E402
from test_media_verbs import Redis  # noqa: E402

RAMP = [int(x) for x in os.environ.get(
    "VOEPY_BENCH_MEDIA_RAMP", "100,250,500,750,1000,1250,1500,1750,2000,2500").split(",")]
WARMUP_S = int(os.environ.get("VOEPY_BENCH_MEDIA_WARMUP_S", "2"))
MEASURE_S = int(os.environ.get("VOEPY_BENCH_MEDIA_MEASURE_S", "5"))
FIXED_N = int(os.environ.get("VOEPY_BENCH_MEDIA_FIXED_N", "250"))
MAX_LOSS = 0.001
MAX_GEN_LAG_MS = 100  # rtpload further behind its schedule: the step is not a measure
STREAM_FPS = 50  # media frames per second of a one-track stream (one per 20 ms)
STREAM_TOLERANCE = 0.03  # received frames vs STREAM_FPS x streams x seconds
TARGET_RATIO = 1.0
SUT_CPUS, GEN_CPUS = {0}, {1}
REPLY = "voepy:cc:bench"


def tool_bin(name):
    path = os.path.join(ROOT, os.environ["VOEPY_BUILD_DIR"], "tests", "bench", name)
    if not os.path.exists(path):
        raise FileNotFoundError("%s not built in %s" % (name, os.environ["VOEPY_BUILD_DIR"]))
    return path


class Load:
    """One rtpload run: open the sockets, learn the relay's ports, run, read the figures."""

    def __init__(self, legs):
        self.proc = subprocess.Popen(
            [tool_bin("voepy-rtpload"), str(legs), str(WARMUP_S), str(MEASURE_S)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        benchlib.pin([self.proc.pid], GEN_CPUS)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "ports", line
        self.ports = [int(p) for p in line[1:]]

    def run(self, dests):
        self.proc.stdin.write("dest %s\n" % " ".join(str(d) for d in dests))
        self.proc.stdin.flush()
        out = json.loads(self.proc.stdout.readline())
        self.proc.wait(10)
        return out


class WsRecv:
    """The WebSocket receiver of the stream variant (wsrecv.c), pinned beside rtpload."""

    def __init__(self):
        self.proc = subprocess.Popen([tool_bin("voepy-wsrecv")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert len(line) == 2 and line[0] == "port", line
        self.url = "ws://127.0.0.1:%s/bench" % line[1]
        benchlib.pin([self.proc.pid], GEN_CPUS)  # its control thread exists by now

    def count(self):
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def wait_open(self, n, timeout=30):
        wait_until(lambda: self.count()["open"] >= n, timeout,
                   what="%d WebSocket streams open at wsrecv" % n)

    def cpu_seconds(self):
        return benchlib.cpu_seconds([self.proc.pid])

    def stop(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


class MediaFork:
    name = "media-fork"

    def __init__(self, tmp):
        self.rec_dir = os.path.join(tmp, "recordings")
        os.makedirs(self.rec_dir)
        self.p = Platform(services=("media-fork",), name="bench-media", env={
            "VOEPY_LOG_LEVEL": "warn", "VOEPY_RTP_PORT_MIN": "20000",
            "VOEPY_RTP_PORT_MAX": "31999", "VOEPY_RECORDINGS_DIR": self.rec_dir,
            "VOEPY_STREAM_ALLOW_INSECURE": "true"})
        self.p.start()
        self.redis = Redis(self.p.redis_port)
        self.stream = "voepy:mf:media-fork-it"
        self.last = "0"
        self.legs = []
        self.streams = 0  # streams started by this round's setup
        self.stream_ends = []  # their streaming_ended replies, after teardown
        self.pending = collections.defaultdict(list)  # replies read but not yet asked for
        self.round = 0
        benchlib.pin(self.pids(), SUT_CPUS)

    def pids(self):
        return [self.p.procs["media-fork"].proc.pid]

    def send(self, msgs):
        for m in msgs:
            self.redis.call("XADD", self.stream, "*", "m", json.dumps(m))

    def replies(self, op, count, timeout=60):
        """The next count replies with op from the reply stream; replies with other ops are
        kept for a later call of this round (teardown waits for two kinds at once)."""
        deadline = time.monotonic() + timeout
        while len(self.pending[op]) < count:
            assert time.monotonic() < deadline, "media-fork: %d of %d %s" % (
                len(self.pending[op]), count, op)
            res = self.redis.call("XREAD", "COUNT", "1000", "BLOCK", "1000", "STREAMS", REPLY,
                                  self.last)
            for _, entries in res or []:
                for entry_id, fields in entries:
                    self.last = entry_id
                    body = json.loads(dict(zip(fields[::2], fields[1::2]))["m"])
                    if body.get("op") == "media.failed":
                        raise AssertionError("media-fork refused: %s" % body)
                    if op == "streaming_started" and body.get("op") == "streaming_ended":
                        raise AssertionError("a stream did not start: %s" % body)
                    self.pending[body.get("op")].append(body)
        got, self.pending[op] = self.pending[op][:count], self.pending[op][count:]
        return got

    def setup(self, ports, record=False, stream_url=None):
        n = len(ports)
        self.round += 1  # released leg ids are never allocated again: new ones per round
        self.pending.clear()  # the last round's stragglers (recording_done, ...)
        self.legs = ["voepy_leg_b%03d%05d" % (self.round, i) for i in range(n)]
        self.send({"op": "allocate", "leg_id": leg,
                   "call_id": "voepy_call_b%03d%05d" % (self.round, i // 2),
                   "tenant_id": "voepy_tenant_bench", "reply_to": REPLY}
                  for i, leg in enumerate(self.legs))
        where = {r["leg_id"]: r["port"] for r in self.replies("media.allocated", n)}
        self.send({"op": "connect", "leg_id": leg, "remote_ip": "127.0.0.1",
                   "remote_port": ports[i], "codec": "PCMU", "payload_type": 0, "ptime": 20,
                   "mode": "silence"} for i, leg in enumerate(self.legs))
        self.send({"op": "bridge", "leg_id": self.legs[i], "peer_leg_id": self.legs[i + 1],
                   "reply_to": REPLY} for i in range(0, n, 2))
        self.replies("bridged", n // 2)
        if record:
            self.send({"op": "record_start", "leg_id": self.legs[i],
                       "tenant_id": "voepy_tenant_bench",
                       "recording_id": "voepy_rec_b%03d%05d" % (self.round, i), "channels": "dual",
                       "format": "wav", "reply_to": REPLY} for i in range(0, n, 2))
        self.streams = n // 2 if stream_url else 0
        if stream_url:  # one stream per call, on its first leg, as call-control sends it
            self.send({"op": "streaming_start", "leg_id": self.legs[i],
                       "stream_id": "bs%03d%05d" % (self.round, i), "url": stream_url,
                       "track": "inbound_track", "codec": "PCMU", "reply_to": REPLY}
                      for i in range(0, n, 2))
            self.replies("streaming_started", self.streams)
        return [where[leg] for leg in self.legs]

    def teardown(self):
        self.send({"op": "release", "leg_id": leg, "reply_to": REPLY} for leg in self.legs)
        self.replies("media.released", len(self.legs))
        # a released leg's stream sends its stop frame and closes, then reports
        self.stream_ends = self.replies("streaming_ended", self.streams)
        self.legs = []

    def stop(self):
        self.redis.close()
        self.p.stop()


def bencode(o):
    if isinstance(o, int):
        return b"i%de" % o
    if isinstance(o, str):
        o = o.encode()
    if isinstance(o, bytes):
        return b"%d:%s" % (len(o), o)
    if isinstance(o, list):
        return b"l" + b"".join(bencode(x) for x in o) + b"e"
    return b"d" + b"".join(bencode(k) + bencode(v) for k, v in sorted(o.items())) + b"e"


def sdp(port):
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n" % port)


class Rtpengine:
    name = "rtpengine"

    def __init__(self, tmp):
        self.ng = free_port(socket.SOCK_DGRAM)
        self.log = open(os.path.join(tmp, "rtpengine.log"), "wb")
        self.proc = subprocess.Popen(
            ["rtpengine", "--table=-1", "--interface=127.0.0.1",
             "--listen-ng=127.0.0.1:%d" % self.ng, "--port-min=40000", "--port-max=59999",
             "--foreground", "--log-stderr", "--log-level=3", "--delete-delay=0", "--pidfile",
             os.path.join(tmp, "rtpengine.pid")],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(2)
        self.cookie = 0
        wait_until(lambda: self.ping(), 10, what="rtpengine")
        benchlib.pin(self.pids(), SUT_CPUS)
        self.calls = []

    def pids(self):
        return [self.proc.pid]

    def command(self, **cmd):
        self.cookie += 1
        cookie = b"c%d " % self.cookie
        self.sock.sendto(cookie + bencode(cmd), ("127.0.0.1", self.ng))
        while True:
            data, _ = self.sock.recvfrom(65536)
            if data.startswith(cookie):
                return data[len(cookie):]

    def ping(self):
        try:
            return b"pong" in self.command(command="ping")
        except OSError:
            return False

    @staticmethod
    def port(reply):
        m = re.search(rb"m=audio (\d+) ", reply)
        assert m and b"result2:ok" in reply, reply[:300]
        return int(m.group(1))

    def setup(self, ports, record=False):
        dests = [0] * len(ports)
        self.calls = []
        for i in range(0, len(ports), 2):
            call = "bench-%d-%d" % (i, time.monotonic_ns())
            to_callee = self.port(self.command(command="offer", **{
                "call-id": call, "from-tag": "a", "sdp": sdp(ports[i])}))
            to_caller = self.port(self.command(command="answer", **{
                "call-id": call, "from-tag": "a", "to-tag": "b", "sdp": sdp(ports[i + 1])}))
            dests[i], dests[i + 1] = to_caller, to_callee
            self.calls.append(call)
        return dests

    def teardown(self):
        for call in self.calls:
            self.command(command="delete", **{"call-id": call, "from-tag": "a"})
        self.calls = []

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        self.sock.close()


def stream_check(relay, ws, before, after, seconds, ws_cpu_s):
    """Whether wsrecv got every stream's frames over the measured time, and the figures."""
    streams = relay.streams
    expected = STREAM_FPS * streams * seconds
    frames = after["media"] - before["media"]
    ends = relay.stream_ends
    reasons = collections.Counter(e.get("reason") for e in ends)
    chk = {"streams": streams, "seconds": round(seconds, 2), "expected_frames": round(expected),
           "received_frames": frames, "ratio": round(frames / max(1, expected), 4),
           "opened": after["opened"],
           "sent_by_media_fork": sum(e.get("frames_sent", 0) for e in ends),
           "dropped_by_media_fork": sum(e.get("frames_dropped", 0) for e in ends),
           "end_reasons": dict(reasons), "receiver_cpu_s": round(ws_cpu_s, 3),
           "avg_frame_bytes": round((after["media_bytes"] - before["media_bytes"]) /
                                    max(1, frames), 1)}
    problems = []
    if before["open"] < streams or after["open"] < streams:
        problems.append("%d/%d streams open at wsrecv" % (min(before["open"], after["open"]),
                                                          streams))
    if abs(chk["ratio"] - 1) > STREAM_TOLERANCE:
        problems.append("wsrecv got %d of %d frames" % (frames, expected))
    if reasons.get("released", 0) != streams:
        problems.append("streams ended %s (all should be released)" % dict(reasons))
    chk["valid"] = not problems
    chk["problems"] = problems
    return chk


def step(relay, n, record=False, ws=None):
    load = Load(2 * n)
    if ws:
        dests = relay.setup(load.ports, record=record, stream_url=ws.url)
        ws.wait_open(relay.streams)
        ws_cpu0 = ws.cpu_seconds()
        frames0, tf0 = ws.count(), time.monotonic()
    else:
        dests = relay.setup(load.ports, record=record)
    cpu0 = benchlib.cpu_seconds(relay.pids())
    t0 = time.monotonic()
    out = load.run(dests)
    out["sut_cpu_s"] = round(benchlib.cpu_seconds(relay.pids()) - cpu0, 3)
    out["wall_s"] = round(time.monotonic() - t0, 2)
    # the generator's own load: near 100 % it, not the relay, may be what loses packets
    out["gen_busy"] = round(out["gen_cpu_s"] / max(0.01, out["wall_s"]), 3)
    # A generator that fell behind its schedule offered fewer calls than n for a while:
    # the step measures the generator, not the relay, and counts neither way.
    out["gen_bound"] = out["gen_max_lag_ms"] > MAX_GEN_LAG_MS
    if ws:
        frames1 = ws.count()
        seconds = time.monotonic() - tf0
        ws_cpu_s = ws.cpu_seconds() - ws_cpu0
    relay.teardown()
    # packets the relay forwarded in the run (both directions): about 50/s per leg
    forwarded = max(1, out["received"])
    out["cpu_us_per_packet"] = round(out["sut_cpu_s"] * 1e6 / forwarded, 2)
    # the relay's CPU for one call during one second (both legs and whatever it adds)
    out["cpu_us_per_call_second"] = round(out["sut_cpu_s"] * 1e6 / (n * out["wall_s"]), 1)
    out["ok"] = out["loss"] <= MAX_LOSS and out["send_errors"] == 0
    if ws:
        out["stream"] = stream_check(relay, ws, frames0, frames1, seconds, ws_cpu_s)
        if not out["stream"]["valid"]:  # not measured as claimed: no figure
            out["cpu_us_per_packet"] = out["cpu_us_per_call_second"] = None
    return out


def stream_step(mf):
    """The fixed step with one stream per call. A stream variant that cannot run (a stream
    refused, wsrecv not reached) is reported invalid; the other figures still print."""
    ws = None
    try:
        ws = WsRecv()
        return step(mf, FIXED_N, ws=ws)
    except (AssertionError, OSError, ValueError) as e:
        print("bench-media: the stream variant failed: %s" % e, flush=True)
        return {"cpu_us_per_packet": None, "cpu_us_per_call_second": None, "loss": None,
                "stream": {"streams": FIXED_N, "received_frames": 0, "expected_frames": 0,
                           "ratio": 0, "dropped_by_media_fork": 0, "valid": False,
                           "problems": [str(e)]}}
    finally:
        if ws:
            ws.stop()


def fmt(v, spec):
    return "invalid" if v is None else spec % v


def print_table(figures):
    print("\n%-22s %14s %22s %26s" % ("relay", "ceiling calls", "CPU us/packet @%d" % FIXED_N,
                                       "CPU us/call-second @%d" % FIXED_N))
    for name in ("media-fork", "rtpengine", "media-fork+recording", "media-fork+stream"):
        ceiling = figures["relays"].get(name, {}).get("ceiling_calls")
        print("%-22s %14s %22s %26s" % (
            name, "-" if ceiling is None else ceiling,
            fmt(figures["cpu_us_per_packet"][name], "%.2f"),
            fmt(figures["cpu_us_per_call_second"][name], "%.1f")))
    chk = figures["stream_check"]
    print("streams: %d, wsrecv got %d of %d frames (%.2f %%), media-fork dropped %d%s" % (
        chk["streams"], chk["received_frames"], chk["expected_frames"], chk["ratio"] * 100,
        chk["dropped_by_media_fork"],
        "" if chk["valid"] else "; INVALID: " + "; ".join(chk["problems"])))


def main():
    tmp = tempfile.mkdtemp(prefix="voepy-bench-media-")
    relays, figures = [], {}
    try:
        relays.append(MediaFork(tmp))
        relays.append(Rtpengine(tmp))  # a failed start still stops media-fork
        state = {r.name: {"ceiling_calls": 0, "failed_at": None, "steps": []} for r in relays}
        print("bench-media: %d s warm-up + %d s measured per step, ramp %s" %
              (WARMUP_S, MEASURE_S, RAMP), flush=True)
        for n in RAMP:
            live = [r for r in relays if state[r.name]["failed_at"] is None]
            if not live:
                break
            for r in live:
                for attempt in (1, 2):
                    out = step(r, n)
                    out.update(calls=n, attempt=attempt)
                    state[r.name]["steps"].append(out)
                    verdict = ("GENERATOR-BOUND" if out["gen_bound"]
                               else "pass" if out["ok"] else "FAIL")
                    print("  %-10s %5d calls: %s (loss %.4f %%, %.2f us CPU/packet; "
                          "rtpload %.0f %% busy, %.0f ms behind at most)" % (
                              r.name, n, verdict, out["loss"] * 100, out["cpu_us_per_packet"],
                              out["gen_busy"] * 100, out["gen_max_lag_ms"]), flush=True)
                    if out["ok"] and not out["gen_bound"]:
                        break
                if out["gen_bound"]:  # not measured: the ramp ends here for this relay
                    state[r.name]["failed_at"] = n
                    state[r.name]["generator_bound_at"] = n
                elif out["ok"]:
                    state[r.name]["ceiling_calls"] = n
                else:
                    state[r.name]["failed_at"] = n
        fixed = {}
        for r in relays:
            fixed[r.name] = step(r, FIXED_N)
        fixed["media-fork+recording"] = step(relays[0], FIXED_N, record=True)
        fixed["media-fork+stream"] = stream_step(relays[0])
        figures = {"relays": state, "fixed_n": FIXED_N,
                   "cpu_us_per_packet": {k: v["cpu_us_per_packet"] for k, v in fixed.items()},
                   "cpu_us_per_call_second": {k: v["cpu_us_per_call_second"]
                                              for k, v in fixed.items()},
                   "cpu_us_per_packet_stream": fixed["media-fork+stream"]["cpu_us_per_packet"],
                   "stream_check": fixed["media-fork+stream"]["stream"],
                   "fixed_loss": {k: v["loss"] for k, v in fixed.items()}}
    finally:
        for r in relays:
            try:
                r.stop()
            except Exception as e:  # keep stopping the other
                print("bench-media: stopping %s: %s" % (r.name, e))
    mf, rt = figures["relays"]["media-fork"], figures["relays"]["rtpengine"]
    print_table(figures)
    if rt["ceiling_calls"]:
        figures["ratio_ceiling"] = round(mf["ceiling_calls"] / rt["ceiling_calls"], 3)
        print("media-fork/rtpengine ceiling ratio %.2f (target >= %.1f); CPU per packet ratio "
              "(rtpengine/media-fork) %.2f" % (
                  figures["ratio_ceiling"], TARGET_RATIO,
                  figures["cpu_us_per_packet"]["rtpengine"] /
                  max(0.01, figures["cpu_us_per_packet"]["media-fork"])))
        for name, st in figures["relays"].items():
            if st.get("generator_bound_at"):
                print("%s: the ramp ended at %d calls where rtpload could not keep its "
                      "schedule; its ceiling is at least %d" % (
                          name, st["generator_bound_at"], st["ceiling_calls"]))
    print("bench-media-json: " + json.dumps(figures))
    if not os.environ.get("VOEPY_KEEP_TMP"):
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
