"""Server-side request forgery: customer webhook URLs never reach inside our network.

The dispatcher runs as in production (VOEPY_URL_ALLOW_PRIVATE=false) except that the
operator allows one loopback address, 127.0.0.2 (VOEPY_URL_ALLOW_CIDRS), where the
legitimate receiver listens, and names resolve from a fake resolver file
(VOEPY_URL_TEST_RESOLVER), so no DNS query leaves the machine. A canary, a plain TCP
listener on 127.0.0.1 (and ::1) that counts accepted connections, stands for everything
we must not reach. Endpoints are written with SQL (the gateway would refuse most of these
URLs at creation): every odd spelling of the canary's address, every refused range, a
refused port, names the fake resolver answers with refused addresses, a name that answers
the allowed address first and the canary's next (each attempt asks once and connects to
what it checked), a name answering both at once, and a legitimate receiver answering 302
to the canary and to 169.254.169.254 (a failed attempt, never followed).

Afterwards: the canary accepted no connection, every refused attempt is recorded as
"url refused: <reason>", and the legitimate receiver got exactly what it should.
"""
import http.server
import itertools
import os
import shutil
import socket
import tempfile
import threading
import time
import unittest

from harness import q, Platform, wait_until

_ids = itertools.count(1)


class Canary:
    """A TCP listener that only counts the connections it accepts (and closes them)."""

    def __init__(self, family, host, port=0):
        self.count = 0
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.count += 1
            conn.close()

    def close(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()


class Receiver:
    """The legitimate receiver on 127.0.0.2: answers by path, records every request."""

    def __init__(self, answers):
        self.seen = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.seen.append(self.path)
                    n = outer.seen.count(self.path)
                status, headers = answers(self.path, n)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self):
        with self.lock:
            return sorted(self.seen)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def ipv6_loopback_usable():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


class WebhookSsrf(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.started = time.monotonic()
        cls.dir = tempfile.mkdtemp(prefix="voepy-ssrf-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.canary = Canary(socket.AF_INET, "127.0.0.1")
        cls.addClassCleanup(cls.canary.close)
        cls.canary6 = None
        if ipv6_loopback_usable():
            try:
                cls.canary6 = Canary(socket.AF_INET6, "::1", cls.canary.port)
            except OSError:
                cls.canary6 = Canary(socket.AF_INET6, "::1")
            cls.addClassCleanup(cls.canary6.close)
        cls.receiver = Receiver(cls.answer)
        cls.addClassCleanup(cls.receiver.close)
        resolver = os.path.join(cls.dir, "resolver.txt")
        with open(resolver, "w") as f:
            f.write("# fake DNS answers: <name> <answer> [<answer> ...], answer = a,b,...\n"
                    "canary.test 127.0.0.1\n"
                    "canary6.test ::1\n"
                    "mapped.test ::ffff:127.0.0.1\n"
                    "meta.test 169.254.169.254\n"
                    "private.test 10.0.0.1\n"
                    "pinned.test 127.0.0.2 127.0.0.1\n"
                    "mixed.test 127.0.0.2,127.0.0.1\n"
                    "legit.test 127.0.0.2\n")
        env = {"VOEPY_URL_ALLOW_PRIVATE": "false",
               "VOEPY_URL_ALLOW_CIDRS": "127.0.0.2/32",
               "VOEPY_URL_TEST_RESOLVER": resolver,
               "VOEPY_WEBHOOK_POLL_MS": "100",
               "VOEPY_WEBHOOK_TIMEOUT_MS": "3000",
               "VOEPY_WEBHOOK_RETRY_SCHEDULE": "0,1"}
        cls.p = Platform(services=("webhook-dispatcher",), env=env, name="ssrf")
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)

    @staticmethod
    def answer(path, n):
        if path == "/redirect-canary":
            return 302, {"Location": "http://127.0.0.1:%d/stolen" % WebhookSsrf.canary.port}
        if path == "/redirect-meta":
            return 302, {"Location": "http://169.254.169.254/latest/meta-data/"}
        if path == "/pinned":
            return (500 if n == 1 else 200), {}
        return 200, {}

    # -- helpers ----------------------------------------------------------------------------
    def tenant(self):
        return self.p.sql_tenant("voepy_tenant_ssrf%d" % next(_ids), "ssrf test")

    def endpoint(self, tenant, url):
        """Subscribed to call.started only: the webhook.exhausted events the refused
        deliveries cause would otherwise reach the legitimate endpoints too."""
        eid = "voepy_whk_ssrf%d" % next(_ids)
        self.p.sql_webhook_endpoint(eid, tenant, url, ("call.started",))
        return eid

    def emit(self, tenant):
        cid = "voepy_call_ssrf%d" % next(_ids)
        self.p.sql("INSERT INTO calls (id, tenant_id, direction, from_number, to_number)"
                   " VALUES (%s, %s, 'outbound', '+15125550100', '+15558675309')"
                   % (q(cid), q(tenant)))
        return self.p.sql("SELECT voepy_emit(c.tenant_id, c.id, 'call.started',"
                          " voepy_call_event_data(c)) FROM calls c WHERE c.id = %s"
                          % q(cid))[0][0]

    def settled(self, eids):
        """Every endpoint's delivery has left 'pending': {endpoint: status}."""
        rows = self.p.sql("SELECT endpoint_id, status FROM webhook_deliveries WHERE endpoint_id"
                          " IN (%s)" % ",".join(q(e) for e in eids))
        got = {r[0]: r[1] for r in rows}
        return got if len(got) == len(eids) and "pending" not in got.values() else None

    def attempts(self, eid):
        rows = self.p.sql("SELECT a.attempt, a.status_code, a.error FROM webhook_attempts a"
                          " JOIN webhook_deliveries d ON d.id = a.delivery_id"
                          " WHERE d.endpoint_id = %s ORDER BY a.attempt" % q(eid))
        return [(int(r[0]), r[1] and int(r[1]), r[2]) for r in rows]

    # -- the test ---------------------------------------------------------------------------
    def test_no_connection_reaches_the_canary(self):
        c = self.canary.port
        c6 = self.canary6.port if self.canary6 else c
        legit = self.receiver.port
        refused = {
            # every spelling of the canary's 127.0.0.1
            "http://2130706433:%d/hook" % c: "127.0.0.1 is a loopback address",
            "http://0177.0.0.1:%d/hook" % c: "127.0.0.1 is a loopback address",
            "http://0x7f.0.0.1:%d/hook" % c: "127.0.0.1 is a loopback address",
            "http://0x7f.1:%d/hook" % c: "127.0.0.1 is a loopback address",
            "http://127.1:%d/hook" % c: "127.0.0.1 is a loopback address",
            "http://127.0.0.1:%d/hook" % c: "127.0.0.1 is a loopback address",
            "http://127.0.0.1.:%d/hook" % c: "127.0.0.1 is a loopback address",
            "http://%%31%%32%%37.0.0.1:%d/hook" % c: "127.0.0.1 is a loopback address",
            "http://[::ffff:127.0.0.1]:%d/hook" % c: "127.0.0.1 is a loopback address",
            "http://[::FFFF:7F00:1]:%d/hook" % c: "127.0.0.1 is a loopback address",
            "http://[::1]:%d/hook" % c6: "::1 is a loopback address",
            "http://[0:0:0:0:0:0:0:1]:%d/hook" % c6: "::1 is a loopback address",
            "http://localhost:%d/hook" % c: "localhost is a loopback name",
            "http://LOCALHOST.:%d/hook" % c: "localhost is a loopback name",
            "http://hooks.localhost:%d/hook" % c: "loopback name",
            "http://0:%d/hook" % c: "0.0.0.0 is an unspecified address",
            "http://0.0.0.0:%d/hook" % c: "unspecified",
            # IPv6 forms that carry the canary's IPv4 address
            "http://[::127.0.0.1]:%d/hook" % c: "ipv4-embedded",
            "http://[64:ff9b::7f00:1]:%d/hook" % c: "ipv4-embedded",
            "http://[64:ff9b:1::7f00:1]:%d/hook" % c: "ipv4-embedded",
            "http://[2002:7f00:1::1]:%d/hook" % c: "ipv4-embedded",
            "http://[2001:0:7f00:1::1]:%d/hook" % c: "ipv4-embedded",
            # the other ranges (no packet is sent: refused before any connect)
            "http://169.254.169.254/latest/meta-data/": "link-local",
            "http://10.0.0.1:%d/" % c: "private",
            "http://172.16.0.1:%d/" % c: "private",
            "http://192.168.1.1:%d/" % c: "private",
            "http://100.64.0.1:%d/" % c: "cgnat",
            "http://[fd00::1]:%d/" % c: "private",
            "http://[fe80::1]:%d/" % c: "link-local",
            "http://224.0.0.1:%d/" % c: "multicast",
            "http://[ff02::1]:%d/" % c: "multicast",
            "http://192.0.2.1:%d/" % c: "reserved",
            "http://198.18.0.1:%d/" % c: "reserved",
            "http://240.0.0.1:%d/" % c: "reserved",
            "http://255.255.255.255:%d/" % c: "reserved",
            "http://[2001:db8::1]:%d/" % c: "reserved",
            # allowed address, refused port
            "http://127.0.0.2:1023/hook": "port 1023 is not allowed",
            # names the fake resolver answers with refused addresses, or not at all
            "http://canary.test:%d/hook" % c: "canary.test resolves to 127.0.0.1, a loopback",
            "http://CANARY.test.:%d/hook" % c: "canary.test resolves to 127.0.0.1",
            "http://canary6.test:%d/hook" % c6: "canary6.test resolves to ::1",
            "http://mapped.test:%d/hook" % c: "an ipv4-embedded address",
            "http://meta.test/latest/meta-data/": "169.254.169.254, a link-local",
            "http://private.test:%d/" % c: "10.0.0.1, a private",
            "http://mixed.test:%d/mixed" % legit: "mixed.test resolves to 127.0.0.1",
            "http://unknown.test:%d/" % c: "cannot resolve unknown.test",
            # ends in a number that is no address: not guessed at
            "http://127.0.0.256:%d/" % c: "not a valid name or address",
            "http://0x100000000:%d/" % c: "not a valid name or address",
        }
        t = self.tenant()
        ids = {url: self.endpoint(t, url) for url in refused}
        ok = self.endpoint(t, "http://127.0.0.2:%d/ok" % legit)
        by_name = self.endpoint(t, "http://legit.test:%d/by-name" % legit)
        pinned = self.endpoint(t, "http://pinned.test:%d/pinned" % legit)
        redirect_canary = self.endpoint(t, "http://127.0.0.2:%d/redirect-canary" % legit)
        redirect_meta = self.endpoint(t, "http://legit.test:%d/redirect-meta" % legit)
        everything = list(ids.values()) + [ok, by_name, pinned, redirect_canary, redirect_meta]
        self.emit(t)
        status = wait_until(lambda: self.settled(everything), 40, interval=0.2,
                            what="every delivery settled")
        time.sleep(0.5)  # anything still connecting would show now

        self.assertEqual(self.canary.count, 0, "a connection reached the 127.0.0.1 canary")
        if self.canary6:
            self.assertEqual(self.canary6.count, 0, "a connection reached the ::1 canary")

        problems = []
        for url, words in refused.items():
            atts = self.attempts(ids[url])
            if not atts or any(a[1] is not None or not a[2] or
                                     not a[2].startswith("url refused: ") or words not in a[2]
                                     for a in atts):
                problems.append("%s: %r (want every attempt url refused: ...%s...)"
                                % (url, atts, words))
            if status[ids[url]] == "succeeded":
                problems.append("%s succeeded" % url)
        self.assertEqual(problems, [], "\n".join(problems))

        # the legitimate receiver: each allowed URL, by address and by name
        self.assertEqual(status[ok], "succeeded")
        self.assertEqual([(a[0], a[1]) for a in self.attempts(ok)], [(1, 200)])
        self.assertEqual(status[by_name], "succeeded")
        # the name answered 127.0.0.2 first: sent there (500); the next lookup answered
        # 127.0.0.1, and that attempt was refused instead of reusing the old answer
        atts = self.attempts(pinned)
        self.assertEqual([(a[0], a[1]) for a in atts], [(1, 500), (2, None)], atts)
        self.assertEqual(atts[1][2], "url refused: pinned.test resolves to 127.0.0.1, a loopback"
                                     " address")
        # redirects: failed attempts, never followed
        for eid in (redirect_canary, redirect_meta):
            self.assertEqual([(a[0], a[1]) for a in self.attempts(eid)], [(1, 302), (2, 302)])
            self.assertNotEqual(status[eid], "succeeded")
        self.assertEqual(self.receiver.paths(),
                         sorted(["/ok", "/by-name", "/pinned", "/redirect-canary",
                                 "/redirect-canary", "/redirect-meta", "/redirect-meta"]))
        self.assertIn("TEST RESOLVER ON", self.p.procs["webhook-dispatcher"].output())
        self.assertLess(time.monotonic() - self.started, 60)


class GatewayRefusesAtCreation(unittest.TestCase):
    """The API applies the same policy when a URL is given: a refused port or literal
    address is a 422 naming the field, before anything is stored (names are judged when
    they are fetched, not here)."""

    @classmethod
    def setUpClass(cls):
        cls.p = Platform(services=("api-gateway",), env={"VOEPY_URL_ALLOW_PRIVATE": "false"},
                         name="ssrf-api")
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)

    def test_webhook_urls(self):
        key = self.p.create_tenant("ssrf-api")["api_key"]
        refused = (
            ("http://127.0.0.1:8080/h", "127.0.0.1 is a loopback address"),
            ("http://2130706433:8080/h", "127.0.0.1 is a loopback address"),
            ("http://0x7f.1/h", "127.0.0.1 is a loopback address"),
            ("http://[::ffff:169.254.169.254]/h", "169.254.169.254 is a link-local address"),
            ("http://[::1]:8080/h", "::1 is a loopback address"),
            ("http://[64:ff9b::7f00:1]/h", "an ipv4-embedded address"),
            ("http://[2002:7f00:1::1]/h", "an ipv4-embedded address"),
            ("http://localhost:8080/h", "localhost is a loopback name"),
            ("http://10.1.2.3/h", "a private address"),
            ("http://0/h", "an unspecified address"),
            ("https://hooks.example.com:22/h", "port 22 is not allowed"),
            ("https://hooks.example.com:1023/h", "port 1023 is not allowed"),
            ("http://127.0.0.256/h", "must be an http(s) URL"),
        )
        for url, words in refused:
            st, body, raw, _ = self.p.api("POST", "/v1/webhooks", {"url": url}, key=key)
            self.assertEqual(st, 422, (url, raw))
            self.assertEqual((body["error"]["code"], body["error"]["field"]),
                             ("invalid_parameter", "url"), raw)
            self.assertIn(words, body["error"]["message"], (url, raw))
        for url in ("https://hooks.example.com/h", "https://hooks.example.com:8443/h",
                    "http://93.184.216.34:8080/h"):
            st, _, raw, _ = self.p.api("POST", "/v1/webhooks", {"url": url}, key=key)
            self.assertEqual(st, 201, (url, raw))
        n = self.p.sql("SELECT count(*) FROM webhook_endpoints")[0][0]
        self.assertEqual(n, "3")


if __name__ == "__main__":
    unittest.main()
