"""RTP statistics and RTCP of a call's leg end to end (issue 5, "RTP/RTCP per leg").

An outbound call answered by SIPp (sip/cmedia_uas_peer.xml) whose SDP points at a Python
RTP/RTCP peer of the test. The peer sends 20 ms PCMU packets with some sequence numbers
skipped (and the sequence wrapping) at jittered times, receives media-fork's RTCP on its
RTP port + 1, and answers each SR with an RR carrying LSR/DLSR. Checked: the leg resource
after the call (`legs[].rtp`: packets_lost = the skipped count, jitter_ms > 0, rtt_ms
measured), media-fork's metrics, and that every RTCP packet received is a valid compound
SR (media-fork sends RTP all along) + SDES CNAME whose report block describes the peer,
the last one (at the release) with a BYE.
"""
import random
import socket
import struct
import threading
import time
import unittest

from harness import Platform, wait_until
from test_call_control import FROM, TO, setup_tenant

PACKETS = 200                       # 4 s of 20 ms packets
SKIPPED = {17, 40, 41, 42, 99, 150}  # sequence offsets never sent (6 lost)
SEQ0 = 65500                        # the sequence number wraps during the call
NTP_UNIX = 2208988800


def ntp_now():
    t = time.time() + NTP_UNIX
    return int(t) << 32 | int((t % 1) * (1 << 32))


def parse_rtcp(data):
    """A compound RTCP packet -> [(pt, count, body bytes)]; raises ValueError if invalid."""
    out, off = [], 0
    while off < len(data):
        if len(data) - off < 4:
            raise ValueError("short header")
        b0, pt, words = struct.unpack("!BBH", data[off:off + 4])
        n = 4 * (words + 1)
        if b0 >> 6 != 2 or not 192 <= pt <= 223 or off + n > len(data):
            raise ValueError("bad sub-packet at %d" % off)
        out.append((pt, b0 & 0x1F, data[off + 4:off + n]))
        off += n
    if not out:
        raise ValueError("empty")
    return out


def parse_report(pt, count, body):
    """SR/RR body -> dict (sender ssrc, ntp, packets, blocks)."""
    r = {"pt": pt, "ssrc": struct.unpack("!I", body[:4])[0], "blocks": []}
    off = 4
    if pt == 200:
        hi, lo, rtp_ts, pkts, octets = struct.unpack("!IIIII", body[4:24])
        r.update(ntp=hi << 32 | lo, rtp_ts=rtp_ts, packets=pkts, octets=octets)
        off = 24
    for _ in range(count):
        ssrc, word, ext_max, jitter, lsr, dlsr = struct.unpack("!IIIIII", body[off:off + 24])
        lost = word & 0xFFFFFF
        lost = lost - (1 << 24) if lost & 0x800000 else lost
        r["blocks"].append({"ssrc": ssrc, "fraction": word >> 24, "lost": lost,
                            "ext_max": ext_max, "jitter": jitter, "lsr": lsr, "dlsr": dlsr})
        off += 24
    if off > len(body):
        raise ValueError("report blocks overrun")
    return r


class StatsPeer:
    """RTP on a port and RTCP on port + 1 (127.0.0.1). Drains what media-fork sends;
    every SR is parsed, kept, and answered at once with an RR about its sender."""

    def __init__(self):
        for _ in range(100):
            rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            rtp.bind(("127.0.0.1", 0))
            port = rtp.getsockname()[1]
            rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                rtcp.bind(("127.0.0.1", port + 1))
            except OSError:
                rtp.close()
                rtcp.close()
                continue
            break
        else:
            raise RuntimeError("no free port pair")
        self.rtp, self.rtcp, self.port = rtp, rtcp, port
        for s in (rtp, rtcp):
            s.settimeout(0.2)
        self.ssrc = random.getrandbits(32)
        self.rtp_in = 0
        self.reports, self.invalid, self.replies = [], [], 0
        self.lock = threading.Lock()
        self.running = True
        self.threads = [threading.Thread(target=f, daemon=True)
                        for f in (self._drain_rtp, self._rtcp)]
        for t in self.threads:
            t.start()

    def _drain_rtp(self):
        while self.running:
            try:
                self.rtp.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.rtp_in += 1

    def _rtcp(self):
        while self.running:
            try:
                data, src = self.rtcp.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            arrived = ntp_now()
            try:
                subs = parse_rtcp(data)
                rep = parse_report(*subs[0])
                rep["sdes"] = [s for s in subs if s[0] == 202]
                rep["bye"] = [struct.unpack("!I", s[2][:4])[0] for s in subs if s[0] == 203]
            except (ValueError, struct.error) as e:
                with self.lock:
                    self.invalid.append((data, str(e)))
                continue
            if rep["pt"] == 200:
                self._answer(rep, arrived, src)
            with self.lock:
                self.reports.append(rep)

    def _answer(self, sr, arrived, src):
        """An RR with one block about the SR's sender: LSR its NTP middle, DLSR our delay."""
        lsr = (sr["ntp"] >> 16) & 0xFFFFFFFF
        dlsr = ((ntp_now() - arrived) >> 16) & 0xFFFFFFFF
        rr = struct.pack("!BBHI", 0x81, 201, 7, self.ssrc)
        rr += struct.pack("!IIIIII", sr["ssrc"], 0, 0, 0, lsr, dlsr)
        self.rtcp.sendto(rr, src)
        with self.lock:
            self.replies += 1

    def send_stream(self, to_port):
        """PACKETS packets of PCMU every 20 ms, each 0-12 ms late at random, SKIPPED left out."""
        ts0 = random.getrandbits(32)
        start = time.monotonic()
        for i in range(PACKETS):
            due = start + i * 0.02 + random.uniform(0, 0.012)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if i in SKIPPED:
                continue
            hdr = struct.pack("!BBHII", 0x80, 0, (SEQ0 + i) & 0xFFFF,
                              (ts0 + 160 * i) & 0xFFFFFFFF, self.ssrc)
            self.rtp.sendto(hdr + b"\xff" * 160, ("127.0.0.1", to_port))

    def close(self):
        self.running = False
        for t in self.threads:
            t.join(2)
        self.rtp.close()
        self.rtcp.close()


class LegStats(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = Platform(name="leg-stats")
        cls.p.start()
        try:
            cls.peer = StatsPeer()
            uas = cls.p.sipp("cmedia_uas_peer.xml", name="peer", rtp_echo=False,
                             extra=["-key", "peer_port", str(cls.peer.port)])
            cls.route = cls.p.create_route(uas.uri, name="stats-peer")
            cls.tenant, cls.key = setup_tenant(cls.p, cls.route)
        except BaseException:
            cls.p.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.peer.close()
        cls.p.stop()

    def metric(self, series):
        st, _, body = self.p.ops("media-fork", "/metrics")
        self.assertEqual(st, 200)
        for line in body.decode().splitlines():
            name, _, value = line.rpartition(" ")
            if name == series:
                return float(value)
        return 0.0

    def test_loss_jitter_rtt_on_the_leg(self):
        p, peer = self.p, self.peer
        call = p.answered_call(self.key, {"from": FROM, "to": TO, "route_id": self.route["id"]})
        wait_until(lambda: peer.rtp_in, 5, what="RTP from the leg")
        peer.send_stream(p.leg_port(call["id"]))
        # The first report comes 1.25-3.75 s after connect, the next within 7.5 s.
        wait_until(lambda: peer.replies, 8, interval=0.05, what="an SR from media-fork")
        time.sleep(0.2)  # our RR reaches media-fork
        st, _, raw, _ = p.api("POST", "/v1/calls/%s/actions/hangup" % call["id"], {},
                              key=self.key)
        self.assertEqual(st, 200, raw)
        call = p.wait_call(self.key, call["id"], lambda c: c["status"] == "ended")
        # the release sent a last report with a BYE (RFC 3550 6.6)
        wait_until(lambda: peer.reports and peer.reports[-1]["bye"], 3, what="RTCP BYE")

        rtp = call["legs"][0]["rtp"]
        self.assertEqual(rtp["packets_in"], PACKETS - len(SKIPPED), rtp)
        self.assertEqual(rtp["packets_lost"], len(SKIPPED), rtp)
        self.assertGreaterEqual(rtp["jitter_ms"], 1, rtp)   # 0-12 ms random lateness
        self.assertLessEqual(rtp["jitter_ms"], 40, rtp)
        self.assertIsNotNone(rtp["rtt_ms"], rtp)            # from our RR's LSR/DLSR
        self.assertLess(rtp["rtt_ms"], 500, rtp)
        self.assertGreater(rtp["packets_out"], 0, rtp)

        self.assertGreaterEqual(self.metric("voepy_media_rtp_lost_total"), len(SKIPPED))
        self.assertGreaterEqual(
            self.metric('voepy_media_rtcp_packets_total{direction="out"}'), 1)

        with peer.lock:
            reports, invalid = list(peer.reports), list(peer.invalid)
        self.assertEqual(invalid, [])
        self.assertTrue(reports)
        leg_ssrc = reports[0]["ssrc"]
        self.assertEqual(reports[-1]["bye"], [leg_ssrc])
        self.assertEqual([r for r in reports[:-1] if r["bye"]], [])
        for r in reports:
            self.assertEqual(r["pt"], 200, r)  # media-fork sent RTP all along: SRs
            self.assertEqual(r["ssrc"], leg_ssrc)
            self.assertGreater(r["packets"], 0)
            self.assertEqual(r["octets"], 160 * r["packets"])
            sdes = r["sdes"]
            self.assertEqual(len(sdes), 1)
            chunk = sdes[0][2]
            self.assertEqual(struct.unpack("!I", chunk[:4])[0], leg_ssrc)
            self.assertEqual(chunk[4], 1)  # CNAME
            self.assertTrue(chunk[6:6 + chunk[5]].endswith(b"@voepy"), chunk)
        about_us = [b for r in reports for b in r["blocks"] if b["ssrc"] == peer.ssrc]
        self.assertTrue(about_us, reports)
        last = about_us[-1]
        self.assertLessEqual(last["lost"], len(SKIPPED))
        self.assertGreaterEqual(last["lost"], 0)
        # the extended highest sequence number counts the wrap at 65536
        self.assertGreaterEqual(last["ext_max"], SEQ0)
        self.assertLess(last["ext_max"], SEQ0 + PACKETS)


if __name__ == "__main__":
    unittest.main()
