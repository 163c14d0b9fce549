"""media-fork's media verbs on real RTP (issue 5): play / stop_playback, gather /
stop_gather (RFC 4733 and in-band DTMF), send_dtmf.

Redis (and PostgreSQL, which the harness always starts) and media-fork run on 127.0.0.1;
the test drives media-fork as call-control does, with allocate / connect / the verbs on
voepy:mf:{node}, and reads the replies from its own voepy:cc:{test} stream. Far ends:

- SIPp, twice: a caller plays SIPp's shipped RFC 4733 pcaps (/usr/share/sip-tester/
  dtmf_2833_*.pcap) with play_pcap_audio; its callee's SDP answer points that RTP at the
  media-fork leg (media_uac_rfc4733.xml, media_uas_to_leg.xml);
- a Python RTP peer on 127.0.0.1 that sends G.711 made by sox (DTMF tones) or RFC 4733
  events, and records what media-fork sends (played audio, DTMF events).

Audio files are generated at test time with sox into the directory media-fork reads
(VOEPY_MEDIA_AUDIO_DIR). Python 3 standard library only (plus sox and sipp).
"""

import http.server
import json
import math
import os
import random
import socket
import struct
import subprocess
import threading
import time
import unittest

from harness import Platform, free_port, wait_until

CC = "voepy:cc:media-verbs-test"
DTMF_FREQS = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}
EVENT_CODES = "0123456789*#ABCD"


# -- Redis, the few commands the test needs (RESP over a socket) ----------------------------

class Redis:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(65536)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError("bad RESP reply %r" % line)

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._reply()


# -- G.711 mu-law (decoding what media-fork sends) ------------------------------------------

def ulaw_decode(b):
    b = ~b & 0xFF
    s = (((b & 0x0F) << 3) + 0x84) << ((b >> 4) & 7)
    s -= 0x84
    return -s if b & 0x80 else s


def alaw_decode(b):
    b ^= 0x55
    exp, mant = (b >> 4) & 7, b & 0x0F
    s = (mant << 4) + 8 if exp == 0 else ((mant << 4) + 0x108) << (exp - 1)
    return s if b & 0x80 else -s


ULAW = [ulaw_decode(i) for i in range(256)]
ALAW = [alaw_decode(i) for i in range(256)]


# -- the far end: an RTP peer ---------------------------------------------------------------

class RtpPeer:
    """A UDP socket on 127.0.0.1 that records every RTP packet it gets (header fields,
    payload, arrival time) on a thread, and sends RTP from the same socket."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets = []
        self.lock = threading.Lock()
        self.running = True
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)
        self.thread = threading.Thread(target=self._recv, daemon=True)
        self.thread.start()

    def _recv(self):
        while self.running:
            try:
                data, _ = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) < 12 or data[0] >> 6 != 2:
                continue
            pkt = {"pt": data[1] & 0x7F, "marker": bool(data[1] >> 7),
                   "seq": struct.unpack("!H", data[2:4])[0],
                   "ts": struct.unpack("!I", data[4:8])[0],
                   "ssrc": struct.unpack("!I", data[8:12])[0],
                   "payload": data[12:], "at": time.monotonic()}
            with self.lock:
                self.packets.append(pkt)

    def take(self):
        with self.lock:
            out, self.packets = self.packets, []
        return out

    def send(self, to_port, pt, payload, marker=False, ts=None):
        hdr = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, self.seq,
                          self.ts if ts is None else ts, self.ssrc)
        self.seq = (self.seq + 1) & 0xFFFF
        self.sock.sendto(hdr + payload, ("127.0.0.1", to_port))

    def send_audio(self, to_port, ulaw, pt=0):
        """Send mu-law audio as 20 ms packets, paced in real time."""
        start = time.monotonic()
        for i in range(0, len(ulaw) - 159, 160):
            self.send(to_port, pt, ulaw[i:i + 160])
            self.ts = (self.ts + 160) & 0xFFFFFFFF
            delay = start + (i // 160 + 1) * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def send_event(self, to_port, digit, ms=100, pt=101):
        """One RFC 4733 key press: updates every 20 ms, the end packet three times."""
        code = EVENT_CODES.index(digit)
        ticks = ms // 20
        for k in range(1, ticks + 1):
            end = k == ticks
            copies = 3 if end else 1
            for _ in range(copies):
                payload = struct.pack("!BBH", code, (0x80 if end else 0) | 10, 160 * k)
                self.send(to_port, pt, payload, marker=(k == 1), ts=self.ts)
            time.sleep(0.02)
        self.ts = (self.ts + 160 * (ticks + 2)) & 0xFFFFFFFF

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


def decode_events(packets, pt=101):
    """RFC 4733 packets -> [(digit, ts, [packets...])] in order of their timestamps."""
    events = []
    for p in packets:
        if p["pt"] != pt:
            continue
        if not events or events[-1][1] != p["ts"]:
            events.append((EVENT_CODES[p["payload"][0]], p["ts"], []))
        events[-1][2].append(p)
    return events


def sox(*args):
    subprocess.run(["sox"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def dtmf_ulaw(tmp, digits, tone_ms=100, gap_ms=100, level_db=-12):
    """mu-law 8 kHz audio of DTMF tones made by sox, with a little noise, as bytes."""
    parts = []
    for i, d in enumerate(digits):
        lo, hi = DTMF_FREQS[d]
        f = os.path.join(tmp, "tone-%d.wav" % i)
        sox("-n", "-r", "8000", "-c", "1", f, "synth", "%.3f" % (tone_ms / 1000.0),
            "sine", str(lo), "sine", "mix", str(hi), "gain", str(level_db),
            "pad", "0", "%.3f" % (gap_ms / 1000.0))
        parts.append(f)
    lead = os.path.join(tmp, "lead.wav")
    sox("-n", "-r", "8000", "-c", "1", lead, "trim", "0", "0.2")
    tones = os.path.join(tmp, "tones.wav")
    sox(*([lead] + parts + [lead, tones]))
    noise = os.path.join(tmp, "noise.wav")
    sox("-n", "-r", "8000", "-c", "1", noise, "synth", "10", "whitenoise", "gain", "-45")
    out = os.path.join(tmp, "tones.ul")
    sox("-m", tones, noise, "-t", "raw", "-e", "mu-law", "-r", "8000", "-c", "1", out,
        "trim", "0", str(len(digits) * (tone_ms + gap_ms) / 1000.0 + 0.4))
    with open(out, "rb") as fh:
        return fh.read()


class AudioServer:
    """HTTP on 127.0.0.1 serving a directory's files, counting requests per path;
    /slow.wav answers the chirp after a second, /notaudio.txt some text."""

    def __init__(self, root):
        self.hits = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?")[0]
                server.hits[path] = server.hits.get(path, 0) + 1
                if path == "/slow.wav":
                    time.sleep(1.0)
                    path = "/chirp.wav"
                if path == "/notaudio.txt":
                    body = b"this is not audio" * 10
                else:
                    try:
                        with open(os.path.join(root, path.lstrip("/")), "rb") as fh:
                            body = fh.read()
                    except OSError:
                        self.send_error(404)
                        return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d/%s" % (self.port, path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class MediaVerbsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=("media-fork",), name="media-verbs")
        cls.audio_dir = os.path.join(cls.p.tmp, "audio")
        os.makedirs(cls.audio_dir)
        # A 2 s chirp at 16 kHz (resampled by media-fork), and a 6 s tone for stopping.
        cls.chirp = os.path.join(cls.audio_dir, "chirp.wav")
        sox("-n", "-r", "16000", "-c", "1", cls.chirp, "synth", "2", "sine", "300-3000",
            "gain", "-6")
        sox("-n", "-r", "22050", "-c", "2", os.path.join(cls.audio_dir, "long.wav"),
            "synth", "6", "sine", "440", "gain", "-6")
        cls.p.extra_env["VOEPY_MEDIA_AUDIO_DIR"] = cls.audio_dir
        cls.p.start()
        cls.redis = Redis(cls.p.redis_port)
        nodes = wait_until(lambda: cls.redis.call("ZRANGE", "voepy:nodes:media-fork", 0, -1),
                           10, what="the media-fork node")
        cls.node = nodes[0]
        cls.last_id = "0"
        cls.replies = []

    @classmethod
    def tearDownClass(cls):
        cls.redis.close()
        cls.p.stop()

    def setUp(self):
        self.peers = []

    def tearDown(self):
        for p in self.peers:
            p.close()

    # -- talking to media-fork ---------------------------------------------------------------
    def cmd(self, **fields):
        self.redis.call("XADD", "voepy:mf:%s" % self.node, "*", "m", json.dumps(fields))

    def poll(self):
        out = self.redis.call("XREAD", "COUNT", 100, "BLOCK", 100, "STREAMS", CC, self.last_id)
        for _, entries in out or []:
            for entry_id, kv in entries:
                type(self).last_id = entry_id
                self.replies.append(json.loads(kv[1]))

    def reply(self, leg, op, timeout=10, **match):
        """The first reply about leg with op (and the given field values), removed."""
        def find():
            self.poll()
            for r in self.replies:
                if r.get("leg_id") == leg and r.get("op") == op and \
                        all(r.get(k) == v for k, v in match.items()):
                    self.replies.remove(r)
                    return r
            return None
        return wait_until(find, timeout, interval=0, what="%s for %s" % (op, leg))

    def no_reply(self, leg, op, wait=0.5):
        end = time.monotonic() + wait
        while time.monotonic() < end:
            self.poll()
        self.assertFalse([r for r in self.replies if r.get("leg_id") == leg and r["op"] == op])

    def leg(self, remote_port=None, peer=True, codec="PCMU", te_pt=101):
        """Allocate and connect a leg (PCMU, telephone-event 101, silence unless told);
        returns (leg_id, its RTP port, the peer or None)."""
        leg = "voepy_leg_%s" % os.urandom(8).hex()
        self.cmd(op="allocate", leg_id=leg, call_id="voepy_call_" + leg[10:],
                 tenant_id="voepy_tenant_t", reply_to=CC)
        port = self.reply(leg, "media.allocated")["port"]
        p = None
        if peer:
            p = RtpPeer()
            self.peers.append(p)
            remote_port = p.port
        self.cmd(op="connect", leg_id=leg, remote_ip="127.0.0.1", remote_port=remote_port,
                 codec=codec, payload_type=0 if codec == "PCMU" else 8, dtmf_payload_type=te_pt,
                 mode="silence")
        if p:
            wait_until(lambda: p.packets, 5, what="silence from the leg")
        return leg, port, p

    def release(self, leg):
        self.cmd(op="release", leg_id=leg, reply_to=CC)
        return self.reply(leg, "media.released")

    def gather(self, leg, gid, **params):
        """Start a gather, and return once media-fork has taken it: a digit sent before
        would be heard by no gather (seen in CI: the first of two digits lost)."""
        body = dict(op="gather", leg_id=leg, gather_id=gid, reply_to=CC, minimum_digits=1,
                    maximum_digits=16, terminating_digit="#", timeout_millis=10000,
                    inter_digit_timeout_millis=3000)
        body.update(params)
        self.cmd(**body)
        self.barrier(leg)

    def barrier(self, leg):
        """media-fork takes its commands in order: the answer to an allocate of a live leg
        (the same leg again, as call-control's keep-alive sends) comes after every earlier
        command's effect."""
        self.cmd(op="allocate", leg_id=leg, call_id="voepy_call_" + leg[10:],
                 tenant_id="voepy_tenant_t", reply_to=CC)
        self.reply(leg, "media.allocated")

    # -- (a) RFC 4733 from SIPp's pcaps ------------------------------------------------------
    def test_rfc4733_digits_from_sipp_pcaps(self):
        uac_media = free_port(span=4)
        leg, port, _ = self.leg(remote_port=uac_media, peer=False)
        self.gather(leg, "g-pcap")
        uas = self.p.sipp("media_uas_to_leg.xml", extra=["-key", "leg_port", str(port)],
                          calls=1, rtp_echo=False, name="uas")
        uac = self.p.sipp("media_uac_rfc4733.xml", media_port=uac_media, calls=1,
                          rtp_echo=False, target="127.0.0.1:%d" % uas.port, name="uac")
        r = self.reply(leg, "gather_complete", timeout=15)
        self.assertEqual((r["gather_id"], r["digits"], r["status"]), ("g-pcap", "123", "valid"))
        self.assertEqual(r["call_id"], "voepy_call_" + leg[10:])
        self.assertEqual(uac.process.proc.wait(15), 0, uac.process.output())
        rel = self.release(leg)
        self.assertGreaterEqual(rel["packets_in"], 40)  # 4 presses of 10 packets

    # -- (b) in-band tones made by sox -----------------------------------------------------
    def test_inband_digits_from_sox(self):
        leg, port, peer = self.leg()
        self.gather(leg, "g-inband", maximum_digits=10)
        peer.send_audio(port, dtmf_ulaw(self.p.tmp, "4590*7D#"))
        r = self.reply(leg, "gather_complete")
        self.assertEqual((r["digits"], r["status"]), ("4590*7D", "valid"))
        # The same tones without a gather running are not collected by the next one.
        peer.send_audio(port, dtmf_ulaw(self.p.tmp, "12"))
        self.gather(leg, "g-inband-2", timeout_millis=1000)
        r = self.reply(leg, "gather_complete")
        self.assertEqual((r["gather_id"], r["digits"], r["status"]), ("g-inband-2", "", "timeout"))
        self.release(leg)

    # -- (c) play: what is sent is the file ------------------------------------------------
    def test_play_sends_the_file(self):
        leg, port, peer = self.leg()
        peer.take()
        self.cmd(op="play", leg_id=leg, audio="file://" + self.chirp, playback_id="pb-1",
                 reply_to=CC)
        r = self.reply(leg, "playback_ended", timeout=6)
        self.assertEqual((r["playback_id"], r["reason"]), ("pb-1", "finished"))
        time.sleep(0.1)
        pkts = peer.take()
        # One stream: PCMU, 160 bytes, consecutive sequence numbers and timestamps.
        self.assertTrue(all(p["pt"] == 0 and len(p["payload"]) == 160 for p in pkts))
        for a, b in zip(pkts, pkts[1:]):
            self.assertEqual((b["seq"] - a["seq"]) & 0xFFFF, 1)
            self.assertEqual((b["ts"] - a["ts"]) & 0xFFFFFFFF, 160)
        self.assert_chirp(pkts)
        self.release(leg)

    def assert_chirp(self, pkts, table=ULAW):
        """pkts carry the chirp once: decoded, they correlate with the file."""
        audio = [table[b] for p in pkts for b in p["payload"]]
        ref_raw = os.path.join(self.p.tmp, "chirp-8k.raw")
        sox(self.chirp, "-r", "8000", "-t", "raw", "-e", "signed", "-b", "16", ref_raw)
        with open(ref_raw, "rb") as fh:
            data = fh.read()
        ref = list(struct.unpack("<%dh" % (len(data) // 2), data))
        start = next(i for i, s in enumerate(audio) if abs(s) > 200)
        best = max(self.correlation(ref, audio, lag)
                   for lag in range(max(0, start - 80), start + 80))
        self.assertGreater(best, 0.95, "played audio does not match the file")
        # 2 s of audio at 50 packets/s: about 100 packets that are not silence.
        loud = sum(1 for p in pkts if any(abs(table[b]) > 200 for b in p["payload"]))
        self.assertTrue(95 <= loud <= 102, loud)

    def test_play_and_dtmf_on_pcma(self):
        """A PCMA leg with telephone-event 96: the played file is A-law encoded, digits go
        out with payload type 96 and are heard with it."""
        leg, port, peer = self.leg(codec="PCMA", te_pt=96)
        peer.take()
        self.cmd(op="play", leg_id=leg, audio=self.chirp, reply_to=CC)
        self.assertEqual(self.reply(leg, "playback_ended", timeout=6)["reason"], "finished")
        time.sleep(0.1)
        pkts = peer.take()
        self.assertTrue(all(p["pt"] == 8 for p in pkts))
        self.assert_chirp(pkts, ALAW)
        self.cmd(op="send_dtmf", leg_id=leg, digits="9D", duration_millis=60, reply_to=CC)
        wait_until(lambda: len(decode_events(peer.packets, pt=96)) == 2 and
                   sum(1 for p in peer.packets if p["pt"] == 96) == 10, 5, what="two events")
        self.assertEqual("".join(e[0] for e in decode_events(peer.take(), pt=96)), "9D")
        self.gather(leg, "g-96", maximum_digits=3)
        for d in "A0*":
            peer.send_event(port, d, pt=96)
        r = self.reply(leg, "gather_complete")
        self.assertEqual((r["digits"], r["status"]), ("A0*", "valid"))
        self.release(leg)
        # The counters of what happened (/metrics on the ops port).
        st, _, body = self.p.ops("media-fork", "/metrics")
        self.assertEqual(st, 200)
        metrics = {}
        for line in body.decode().splitlines():
            if line.startswith("voepy_media_") and " " in line:
                name, _, value = line.rpartition(" ")
                metrics[name] = float(value)
        for series in ('voepy_media_dtmf_digits_total{source="rfc4733"}',
                       "voepy_media_dtmf_sent_total",
                       'voepy_media_playbacks_total{reason="finished"}',
                       'voepy_media_gathers_total{status="valid"}'):
            self.assertGreaterEqual(metrics.get(series, 0), 1, series)

    def test_play_fetched_audio(self):
        """http(s) audio: fetched through the URL policy (the harness allows loopback and
        high ports), cached by URL, superseded while it downloads."""
        srv = AudioServer(self.audio_dir)
        try:
            leg, port, peer = self.leg()
            peer.take()
            url = srv.url("chirp.wav")
            self.cmd(op="play", leg_id=leg, audio=url, playback_id="web-1", reply_to=CC)
            r = self.reply(leg, "playback_ended", timeout=8)
            self.assertEqual((r["playback_id"], r["reason"]), ("web-1", "finished"))
            time.sleep(0.1)
            self.assert_chirp(peer.take())
            # Again: from the cache, not downloaded twice.
            self.cmd(op="play", leg_id=leg, audio=url, playback_id="web-2", reply_to=CC)
            r = self.reply(leg, "playback_ended", timeout=8)
            self.assertEqual((r["playback_id"], r["reason"]), ("web-2", "finished"))
            self.assertEqual(srv.hits["/chirp.wav"], 1)
            # Not found, not audio.
            for path, error in (("missing.wav", "audio_fetch_failed"),
                                ("notaudio.txt", "audio_invalid")):
                self.cmd(op="play", leg_id=leg, audio=srv.url(path), reply_to=CC)
                r = self.reply(leg, "playback_ended", timeout=8)
                self.assertEqual((r["reason"], r["error"]), ("failed", error))
            # A play superseded while its audio downloads ends "stopped" and never plays.
            self.cmd(op="play", leg_id=leg, audio=srv.url("slow.wav"), playback_id="slow",
                     reply_to=CC)
            time.sleep(0.2)
            self.cmd(op="stop_playback", leg_id=leg, reply_to=CC)
            r = self.reply(leg, "playback_ended")
            self.assertEqual((r["playback_id"], r["reason"]), ("slow", "stopped"))
            # A gather whose prompt downloads: stop_gather cancels it before it starts.
            self.gather(leg, "g-slow", play=srv.url("slow.wav?2"))
            time.sleep(0.2)
            self.cmd(op="stop_gather", leg_id=leg, gather_id="g-slow", reply_to=CC)
            r = self.reply(leg, "gather_complete")
            self.assertEqual((r["gather_id"], r["digits"], r["status"]),
                             ("g-slow", "", "cancelled"))
            wait_until(lambda: srv.hits.get("/slow.wav", 0) >= 2, 5, what="slow downloads")
            time.sleep(0.5)
            peer.take()
            time.sleep(0.5)
            self.assertTrue(all(p["payload"] == b"\xff" * 160 for p in peer.take()),
                            "a superseded download is never played")
            self.no_reply(leg, "playback_ended")
            self.no_reply(leg, "gather_complete")
            # A gather whose prompt is fetched, then heard to its end: timeout after it.
            t0 = time.monotonic()
            self.gather(leg, "g-web", play=url, timeout_millis=500)
            r = self.reply(leg, "gather_complete", timeout=8)
            self.assertEqual((r["gather_id"], r["status"]), ("g-web", "timeout"))
            self.assertGreater(time.monotonic() - t0, 2.4)  # the 2 s prompt, then 0.5 s
            self.release(leg)
        finally:
            srv.close()

    @staticmethod
    def correlation(ref, sig, lag):
        n = min(len(ref), len(sig) - lag)
        a, b = ref[:n], sig[lag:lag + n]
        num = sum(x * y for x, y in zip(a, b))
        den = math.sqrt(sum(x * x for x in a) * sum(y * y for y in b)) or 1
        return num / den

    def test_decoding_does_not_stall_rtp(self):
        """A long file is decoded on the thread pool: while it decodes the leg (and every
        other) keeps its 20 ms pace, and the play starts once the audio is ready."""
        big = os.path.join(self.audio_dir, "big.wav")
        sox("-n", "-r", "48000", "-c", "2", big, "synth", "90", "whitenoise", "gain", "-20")
        leg, port, peer = self.leg()
        peer.take()
        t0 = time.monotonic()
        self.cmd(op="play", leg_id=leg, audio="big.wav", reply_to=CC)
        wait_until(lambda: any(p["payload"][0] != 0xFF for p in peer.packets), 20,
                   what="the big file playing")
        time.sleep(0.2)
        pkts = peer.take()
        gaps = [b["at"] - a["at"] for a, b in zip(pkts, pkts[1:])]
        self.assertLess(max(gaps), 0.1, "RTP stalled while the file was decoded")
        self.assertTrue(all((b["seq"] - a["seq"]) & 0xFFFF == 1 for a, b in zip(pkts, pkts[1:])))
        print("big.wav ready after %.2f s, largest RTP gap %.0f ms"
              % (time.monotonic() - t0, 1000 * max(gaps)))
        self.cmd(op="stop_playback", leg_id=leg, reply_to=CC)
        self.assertEqual(self.reply(leg, "playback_ended")["reason"], "stopped")
        self.release(leg)

    def test_stop_playback_and_failures(self):
        leg, port, peer = self.leg()
        self.cmd(op="play", leg_id=leg, audio="long.wav", loop=3, reply_to=CC)
        wait_until(lambda: any(p["payload"][0] != 0xFF for p in peer.take()), 3,
                   what="played audio")
        self.cmd(op="stop_playback", leg_id=leg, reply_to=CC)
        r = self.reply(leg, "playback_ended")
        self.assertEqual(r["reason"], "stopped")
        time.sleep(0.2)
        peer.take()
        time.sleep(0.3)
        pkts = peer.take()
        self.assertTrue(pkts and all(p["payload"] == b"\xff" * 160 for p in pkts),
                        "silence again after stop_playback")
        # A file that does not exist, one outside the directory, URLs the policy refuses
        # (a documentation address, a port not allowed: refused before any packet).
        for audio, error in (("nope.wav", "audio_not_found"),
                             ("file:///etc/hostname", "audio_invalid"),
                             ("../../etc/hostname", "audio_invalid"),
                             ("ftp://127.0.0.1/a.mp3", "audio_invalid"),
                             ("https://192.0.2.1/a.mp3", "audio_url_forbidden"),
                             ("http://127.0.0.1:22/a.wav", "audio_url_forbidden")):
            self.cmd(op="play", leg_id=leg, audio=audio, playback_id="bad", reply_to=CC)
            r = self.reply(leg, "playback_ended")
            self.assertEqual((r["reason"], r["error"], r["playback_id"]), ("failed", error, "bad"))
        # A leg this node does not have.
        self.cmd(op="play", leg_id="voepy_leg_unknown", audio="long.wav", reply_to=CC)
        r = self.reply("voepy_leg_unknown", "playback_ended")
        self.assertEqual((r["reason"], r["error"]), ("failed", "unknown_leg"))
        self.release(leg)

    # -- (d) send_dtmf ---------------------------------------------------------------------
    def test_send_dtmf(self):
        leg, port, peer = self.leg()
        peer.take()
        time.sleep(0.1)  # some audio before the events
        self.cmd(op="send_dtmf", leg_id=leg, digits="1234#*", duration_millis=100,
                 reply_to=CC)
        wait_until(lambda: len(decode_events(peer.packets)) == 6 and
                   sum(1 for p in peer.packets if p["pt"] == 101) == 42, 5,
                   what="six events")
        time.sleep(0.2)
        pkts = peer.take()
        events = decode_events(pkts)
        self.assertEqual("".join(e[0] for e in events), "1234#*")
        ssrc = pkts[0]["ssrc"]
        for digit, ts, evp in events:
            self.assertEqual(len(evp), 7)  # 5 updates of 20 ms, the end sent 3 times
            self.assertTrue(evp[0]["marker"])
            self.assertFalse(any(p["marker"] for p in evp[1:]))
            durations = [struct.unpack("!H", p["payload"][2:4])[0] for p in evp]
            self.assertEqual(durations, [160, 320, 480, 640, 800, 800, 800])
            ends = [bool(p["payload"][1] & 0x80) for p in evp]
            self.assertEqual(ends, [False] * 4 + [True] * 3)
            self.assertTrue(all(p["ssrc"] == ssrc for p in evp))
        # One RTP stream: sequence numbers run on across audio and events, and the audio
        # clock keeps running under the events (a 20 ms tick is 160 samples).
        for a, b in zip(pkts, pkts[1:]):
            self.assertEqual((b["seq"] - a["seq"]) & 0xFFFF, 1)
        audio = [p for p in pkts if p["pt"] == 0]
        first_ev = events[0][2][0]
        before = [p for p in audio if p["seq"] == (first_ev["seq"] - 1) & 0xFFFF][0]
        self.assertEqual((first_ev["ts"] - before["ts"]) & 0xFFFFFFFF, 160)
        after = [p for p in audio if p["at"] > events[0][2][-1]["at"]][0]
        self.assertEqual((after["ts"] - first_ev["ts"]) & 0xFFFFFFFF, 7 * 160)
        self.assertTrue(after["marker"])
        # Bad digits are refused with media.failed.
        self.cmd(op="send_dtmf", leg_id=leg, digits="12x", reply_to=CC)
        r = self.reply(leg, "media.failed")
        self.assertEqual((r["request"], r["error"]), ("send_dtmf", "invalid_request"))
        self.release(leg)

    # -- (e) stop_gather, timeouts, barge-in, release ---------------------------------------
    def test_gather_timeout_and_cancel(self):
        leg, port, peer = self.leg()
        t0 = time.monotonic()
        self.gather(leg, "g-timeout", timeout_millis=1000)
        r = self.reply(leg, "gather_complete")
        self.assertEqual((r["gather_id"], r["digits"], r["status"]), ("g-timeout", "", "timeout"))
        self.assertTrue(0.9 < time.monotonic() - t0 < 2.5)
        # Digits then silence: the inter-digit timeout ends it; too few digits: invalid.
        self.gather(leg, "g-short", minimum_digits=3, inter_digit_timeout_millis=1000)
        peer.send_event(port, "7")
        peer.send_event(port, "8")
        r = self.reply(leg, "gather_complete")
        self.assertEqual((r["gather_id"], r["digits"], r["status"]), ("g-short", "78", "invalid"))
        # maximum_digits ends it at once, valid.
        self.gather(leg, "g-max", maximum_digits=2)
        for d in "345":
            peer.send_event(port, d)
        r = self.reply(leg, "gather_complete")
        self.assertEqual((r["gather_id"], r["digits"], r["status"]), ("g-max", "34", "valid"))
        # stop_gather: cancelled, with what was collected; a second stop does nothing.
        self.gather(leg, "g-stop")
        peer.send_event(port, "9")
        time.sleep(0.1)
        self.cmd(op="stop_gather", leg_id=leg, gather_id="g-stop", reply_to=CC)
        r = self.reply(leg, "gather_complete")
        self.assertEqual((r["gather_id"], r["digits"], r["status"]), ("g-stop", "9", "cancelled"))
        self.cmd(op="stop_gather", leg_id=leg, reply_to=CC)
        self.no_reply(leg, "gather_complete")
        # A redelivered gather command gets the same answer again, not a new gather.
        self.gather(leg, "g-stop")
        r = self.reply(leg, "gather_complete")
        self.assertEqual((r["gather_id"], r["digits"], r["status"]), ("g-stop", "9", "cancelled"))
        # Releasing the leg ends a running gather: cancelled, before media.released.
        self.gather(leg, "g-release")
        self.cmd(op="release", leg_id=leg, reply_to=CC)
        r = self.reply(leg, "gather_complete")
        self.assertEqual((r["gather_id"], r["status"]), ("g-release", "cancelled"))
        self.reply(leg, "media.released")

    def test_gather_prompt_barge_in(self):
        leg, port, peer = self.leg()
        self.gather(leg, "g-prompt", play="long.wav", timeout_millis=1000)
        wait_until(lambda: any(p["payload"][0] != 0xFF for p in peer.take()), 3,
                   what="the prompt")
        time.sleep(0.5)
        # No timeout while the prompt plays (1 s has passed by now) ...
        self.no_reply(leg, "gather_complete", wait=0.7)
        # ... a key stops the prompt (barge-in) and counts.
        peer.send_event(port, "5")
        time.sleep(0.2)
        peer.take()
        time.sleep(0.3)
        self.assertTrue(all(p["payload"] == b"\xff" * 160 for p in peer.take()),
                        "the prompt stops at the first digit")
        peer.send_event(port, "#")
        r = self.reply(leg, "gather_complete")
        self.assertEqual((r["digits"], r["status"]), ("5", "valid"))
        self.no_reply(leg, "playback_ended", wait=0.3)  # a prompt ends silently
        # A prompt that cannot be loaded fails the gather at once.
        self.gather(leg, "g-badprompt", play="missing.wav")
        r = self.reply(leg, "media.failed")
        self.assertEqual((r["request"], r["gather_id"], r["error"]),
                         ("gather", "g-badprompt", "audio_not_found"))
        # A gather without gather_id is refused.
        self.cmd(op="gather", leg_id=leg, reply_to=CC)
        r = self.reply(leg, "media.failed")
        self.assertEqual((r["request"], r["error"]), ("gather", "invalid_request"))
        self.release(leg)


if __name__ == "__main__":
    unittest.main()
