"""voepy's integration harness: real PostgreSQL, Redis, the five services and SIP peers.

Everything runs on 127.0.0.1 with ports chosen at run time, under a temporary directory
that is removed afterwards (kept when VOEPY_KEEP_TMP=1, for post-mortems). Python 3
standard library only.

    with Platform() as p:                       # PG + Redis + migrations + all services
        tenant = p.create_tenant("acme")         # via the operator API
        status, body = p.api("GET", "/v1/calls", key=tenant["api_key"])

Environment:
    VOEPY_BUILD_DIR   where the binaries are (default: build); build-asan for ASan runs
    VOEPY_KEEP_TMP    keep the temporary directory
    VOEPY_PORT_REGISTRY  a directory shared by the test processes of the machine (default
                      $TMPDIR/voepy-ports-<uid>): each port handed out is claimed there,
                      so suites running side by side (run.sh -j) never get the same one
"""

import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from contract import contract as api_contract

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LIB_SH = os.path.join(ROOT, "deploy", "local", "lib.sh")
SIP_DIR = os.path.join(ROOT, "tests", "integration", "sip")

SERVICES = ("api-gateway", "call-control", "media-fork", "rating", "webhook-dispatcher")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def build_dir():
    d = os.environ.get("VOEPY_BUILD_DIR", "build")
    return d if os.path.isabs(d) else os.path.join(ROOT, d)


def binary(name):
    """Path of a built voepy binary (services/<name>/voepy-<name> or tools/...)."""
    for sub in ("services/%s/voepy-%s" % (name, name), "tools/%s/voepy-%s" % (name, name)):
        path = os.path.join(build_dir(), sub)
        if os.path.exists(path):
            return path
    raise FileNotFoundError("voepy-%s not built in %s" % (name, build_dir()))


_ports_given = set()


def _registry():
    path = os.environ.get("VOEPY_PORT_REGISTRY") or os.path.join(
        tempfile.gettempdir(), "voepy-ports-%d" % os.getuid())
    os.makedirs(path, exist_ok=True)
    return path


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _claim(name):
    """Claim name (a port, or an RTP block) for this process in the registry that every
    test process on the machine shares; False when a live process holds it. A claim left
    by a process that has exited is taken over."""
    path = os.path.join(_registry(), name)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                with open(path) as f:
                    holder = int(f.read() or 0)
            except (OSError, ValueError):
                holder = 0
            if holder == os.getpid() or (holder and _alive(holder)):
                return False
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return True
    return False


def _release(name):
    try:
        os.unlink(os.path.join(_registry(), name))
    except FileNotFoundError:
        pass


# Ports handed out for servers to listen on: below the RTP blocks (rtp_block) and below
# the kernel's ephemeral range (32768 up), from which every outgoing connection takes its
# local port. A port chosen there could be taken by some process's connection between the
# check and the server's bind (seen: a TCP SIPp that could not listen, under load).
LISTEN_PORTS = (10000, 19999)


def _bindable(port, kind):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(kind=socket.SOCK_STREAM, span=1):
    """A port that nothing listens on now, for TCP and UDP both, that this process has not
    handed out before (ports are chosen before the servers that will use them start) and
    that no other test process running now has claimed (the shared registry). With span,
    the span ports from it up are all free and claimed: SIPp's -mp port p also binds p+2
    for video, and dies when that one is taken."""
    for _ in range(10000):
        port = random.randint(LISTEN_PORTS[0], LISTEN_PORTS[1] - span + 1)
        ports = range(port, port + span)
        if any(q in _ports_given or not _bindable(q, socket.SOCK_STREAM)
               or not _bindable(q, socket.SOCK_DGRAM) for q in ports):
            continue
        claimed = []
        for q in ports:
            if not _claim("port-%d" % q):
                break
            claimed.append(q)
        if len(claimed) < span:
            for q in claimed:
                _release("port-%d" % q)
            continue
        _ports_given.update(ports)
        return port
    raise RuntimeError("no free port in %d-%d" % LISTEN_PORTS)


def rtp_block():
    """200 ports (an even start) for one platform's media-fork, between free_port()'s range
    and the kernel's ephemeral range (32768 up). Claimed in the registry until the
    platform stops."""
    blocks = 60  # 20000..31999
    first = (os.getpid() + len(os.listdir(tempfile.gettempdir()))) % blocks
    for i in range(blocks):
        b = (first + i) % blocks
        if _claim("rtp-%d" % b):
            return (20000 + b * 200, 20000 + b * 200 + 199)
    raise RuntimeError("no free RTP block in the port registry")


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Poll pred() until it returns a truthy value; raise AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def sh_lib(cmd, env=None):
    """Run a function of deploy/local/lib.sh (the one way PG and Redis are started)."""
    subprocess.run(["bash", "-c", ". %s; %s" % (LIB_SH, cmd)], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def verify_standard_webhook(secret, headers, body, now=None, tolerance=300):
    """A receiver's check of a Standard Webhooks signature; returns None or the reason."""
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if not (msg_id and ts and sigs):
        return "missing headers"
    now = int(time.time()) if now is None else now
    if abs(now - int(ts)) > tolerance:
        return "timestamp out of tolerance"
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, ("%s.%s." % (msg_id, ts)).encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode()
    for part in sigs.split(" "):
        version, _, sig = part.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return None
    return "no matching signature"


class Process:
    """A child process with its output in a log file; checked for sanitizer reports."""

    def __init__(self, name, argv, env, log_path, cwd=ROOT):
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, timeout=20):
        """SIGTERM, then SIGKILL after timeout; returns the exit code."""
        self.signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def sanitizer_report(self):
        out = self.output()
        for marker in SANITIZER_MARKERS:
            i = out.find(marker)
            if i >= 0:
                return out[max(0, i - 200): i + 3000]
        return None


def q(s):
    """A SQL literal of a value a test made itself (psql -c does no interpolation)."""
    return "NULL" if s is None else "'" + str(s).replace("'", "''") + "'"


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records deliveries.

    respond(path_request) -> status decides the answer (default 200)."""

    def __init__(self, respond=None):
        self.requests = []
        self.lock = threading.Lock()
        self.respond = respond or (lambda req: 200)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                req = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": body, "at": time.time()}
                status = receiver.respond(req)
                req["status"] = status
                with receiver.lock:
                    receiver.requests.append(req)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 1024  # the default 5 drops SYNs when a dispatcher reconnects

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/hooks" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self):
        """Parsed bodies of the deliveries answered 2xx, in arrival order."""
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests if 200 <= r["status"] < 300]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Sipp:
    """SIPp as a far end (uas) or a caller (uac), with every message traced to a file."""

    def __init__(self, tmp, scenario, port=None, media_port=None, extra=(), target=None,
                 calls=None, rtp_echo=True, name="sipp"):
        self.port = port or free_port()
        self.media_port = media_port or free_port(span=4)
        self.trace = os.path.join(tmp, "%s-%d-messages.log" % (name, self.port))
        self.error_file = os.path.join(tmp, "%s-%d-errors.log" % (name, self.port))
        sf = scenario if os.path.isabs(scenario) else os.path.join(SIP_DIR, scenario)
        argv = ["sipp", "-sf", sf, "-i", "127.0.0.1", "-p", str(self.port),
                "-mp", str(self.media_port), "-buff_size", "4194304", "-nostdin",
                "-trace_msg", "-message_file", self.trace, "-trace_err",
                "-error_file", self.error_file]
        if rtp_echo:
            argv.append("-rtp_echo")
        if calls:
            argv += ["-m", str(calls)]
        argv += list(extra)
        if target:
            argv.append(target)
        self.process = Process(name, argv, dict(os.environ),
                               os.path.join(tmp, "%s-%d.log" % (name, self.port)), cwd=tmp)
        tcp = "-t" in argv and argv[argv.index("-t") + 1].startswith("t")
        if target:
            time.sleep(0.2)
            return
        # A far end must listen before we call it: a refused TCP connect fails the call at
        # once, and a SIPp that died (a port taken) would only show as a call that times
        # out. SIPp starts slowly on a busy machine.
        wait_until(lambda: self._listening(tcp) or not self.process.alive(), 10,
                   what="SIPp %s listening" % name)
        if not self.process.alive():
            raise RuntimeError("SIPp %s exited at start: %s" % (name, self._errors()))

    def _errors(self):
        try:
            with open(self.error_file, errors="replace") as f:
                return f.read()[-2000:]
        except FileNotFoundError:
            return self.process.output()[-2000:]

    def _listening(self, tcp):
        if not tcp:  # bound: our own bind of the UDP port fails
            return not _bindable(self.port, socket.SOCK_DGRAM)
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    @property
    def uri(self):
        return "sip:127.0.0.1:%d" % self.port

    def messages(self):
        try:
            with open(self.trace, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def received_texts(self):
        """The messages SIPp received (requests and responses), in order, as text."""
        for block in re.split(r"^-{20,} [^\n]*\n", self.messages(), flags=re.M):
            head, _, msg = block.partition("\n\n")
            if "message received" in head:
                yield msg

    def got(self, pattern):
        """Whether a message SIPp received matches pattern (re.M | re.S)."""
        return any(re.search(pattern, msg, re.M | re.S) for msg in self.received_texts())

    def received(self, method=None):
        """Requests SIPp received, in order (retransmissions included): a list of
        (method, call_id) pairs, filtered by method when given."""
        out = []
        for msg in self.received_texts():
            m = re.match(r"([A-Z]+) sip:", msg.lstrip())
            if not m or (method and m.group(1) != method):
                continue
            cid = re.search(r"^Call-ID:\s*(\S+)", msg, flags=re.M | re.I)
            out.append((m.group(1), cid.group(1) if cid else None))
        return out

    def count_received(self, method):
        return len(self.received(method))

    def stop(self):
        return self.process.stop(timeout=5)


class Platform:
    """PostgreSQL + Redis + migrations + voepy services, all on loopback."""

    def __init__(self, services=SERVICES, env=None, name="voepy"):
        self.services = tuple(services)
        self.extra_env = dict(env or {})
        self.tmp = tempfile.mkdtemp(prefix="voepy-it-%s-" % name)
        os.chmod(self.tmp, 0o755)
        self.pg_dir = os.path.join(self.tmp, "pg")
        self.redis_dir = os.path.join(self.tmp, "redis")
        self.pg_port = free_port()
        self.redis_port = free_port()
        self.admin_token = "admin-" + base64.b32encode(os.urandom(15)).decode().lower()
        self.api_port = free_port()
        self.sip_port = free_port()
        self.ops_ports = {s: free_port() for s in SERVICES}
        self.rtp_range = rtp_block()
        self.procs = {}
        self.pg_dsn = "host=127.0.0.1 port=%d dbname=voepy user=voepy" % self.pg_port
        self.receivers = []
        self.sipps = []
        self.started = False

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        """Start everything; on any failure stop what was started, then re-raise."""
        try:
            env = dict(os.environ, VOEPY_PG_FSYNC="off")
            sh_lib("vp_pg_start %s %d" % (self.pg_dir, self.pg_port), env)
            sh_lib("vp_redis_start %s %d" % (self.redis_dir, self.redis_port))
            self.migrate()
            for s in self.services:
                self.start_service(s)
            for s in self.services:
                self.wait_ready(s)
        except BaseException:
            try:
                self.stop()
            except AssertionError as e:
                print("voepy harness: while cleaning up a failed start: %s" % e)
            raise
        self.started = True

    def migrate(self):
        subprocess.run([binary("migrate"), "--dir", os.path.join(ROOT, "proto", "sql"),
                        "--dsn", self.pg_dsn], check=True, stdout=subprocess.DEVNULL)

    def recordings_dir(self):
        path = os.path.join(self.tmp, "recordings")
        os.makedirs(path, exist_ok=True)
        return path

    def service_env(self, service, **overrides):
        env = dict(os.environ)
        env.update({
            "VOEPY_LOG_LEVEL": "debug",
            "VOEPY_PG_DSN": self.pg_dsn,
            "VOEPY_REDIS_HOST": "127.0.0.1",
            "VOEPY_REDIS_PORT": str(self.redis_port),
            "VOEPY_OPS_HOST": "127.0.0.1",
            "VOEPY_OPS_PORT": str(self.ops_ports[service]),
            "VOEPY_NODE_ID": "%s-it" % service,
            "VOEPY_DRAIN_TIMEOUT_MS": "5000",
            "VOEPY_API_HOST": "127.0.0.1",
            "VOEPY_API_PORT": str(self.api_port),
            "VOEPY_ADMIN_TOKEN": self.admin_token,
            "VOEPY_SIP_HOST": "127.0.0.1",
            "VOEPY_SIP_PORT": str(self.sip_port),
            "VOEPY_MEDIA_IP": "127.0.0.1",
            "VOEPY_RTP_PORT_MIN": str(self.rtp_range[0]),
            "VOEPY_RTP_PORT_MAX": str(self.rtp_range[1]),
            "VOEPY_URL_ALLOW_PRIVATE": "true",
            "VOEPY_URL_ALLOW_PORTS": "1024-65535",  # receivers listen on ephemeral ports
            "VOEPY_WEBHOOK_RETRY_SCHEDULE": "0,1,1,2,2,3,3,3",
            # media-fork writes recordings here, the gateway serves them (a suite may set
            # its own in env)
            "VOEPY_RECORDINGS_DIR": self.recordings_dir(),
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        })
        env.update(self.extra_env)
        env.update({k: str(v) for k, v in overrides.items()})
        return env

    def start_service(self, service, **env):
        old = self.procs.get(service)
        if old:
            if old.alive():
                raise AssertionError("%s is still running; kill or stop it first" % service)
            old.log.close()  # the new process appends to the same file
        log = os.path.join(self.tmp, "%s.log" % service)
        self.procs[service] = Process(service, [binary(service)],
                                      self.service_env(service, **env), log)
        return self.procs[service]

    def ops(self, service, path):
        return http_request("127.0.0.1", self.ops_ports[service], "GET", path)

    def wait_ready(self, service, timeout=20):
        def ready():
            p = self.procs[service]
            if not p.alive():
                raise AssertionError("%s exited early:\n%s" % (service, p.output()[-4000:]))
            try:
                return self.ops(service, "/readyz")[0] == 200
            except OSError:
                return False
        wait_until(ready, timeout, what="%s /readyz" % service)

    def kill(self, service, sig=signal.SIGKILL):
        p = self.procs[service]
        p.signal(sig)
        p.proc.wait(10)

    def restart(self, service, **env):
        """Start a service again (after kill), keeping the earlier log."""
        self.start_service(service, **env)
        self.wait_ready(service)

    def stop(self):
        """Stop services (SIGTERM, they drain), peers, Redis and PostgreSQL. Raises when a
        service exited non-zero or left a sanitizer report. Safe to call twice."""
        if getattr(self, "stopped", False):
            return
        self.stopped = True
        problems = []
        if self.started:
            problems += self.check_ledger()
        for s in reversed(list(self.procs)):
            p = self.procs[s]
            was_alive = p.alive()
            rc = p.stop()
            if was_alive and rc != 0:
                problems.append("%s exited with %s" % (s, rc))
            report = p.sanitizer_report()
            if report:
                problems.append("%s sanitizer report:\n%s" % (s, report))
        for sp in self.sipps:
            sp.stop()
        for r in self.receivers:
            r.close()
        sh_lib("vp_redis_stop %s %d" % (self.redis_dir, self.redis_port))
        sh_lib("vp_pg_stop %s" % self.pg_dir)
        _release("rtp-%d" % ((self.rtp_range[0] - 20000) // 200))
        if os.environ.get("VOEPY_KEEP_TMP") or problems:
            print("voepy harness: logs kept in %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if problems:
            raise AssertionError("\n".join(problems))

    def check_ledger(self):
        """The books' invariants (voepy-ledger-check, issue 6) at the end of a suite, while
        the services still run: rating gets up to 15 s to rate calls that just ended; a
        suite without rating only notes unrated calls. Returns problems (empty when they
        hold). VOEPY_LEDGER_CHECK=0 skips it."""
        if os.environ.get("VOEPY_LEDGER_CHECK") == "0":
            return []
        try:
            argv = [binary("ledger-check"), "--dsn", self.pg_dsn]
        except FileNotFoundError as e:
            return ["the ledger could not be checked: %s" % e]
        rating = self.procs.get("rating")
        argv += ["--wait-ms", "15000"] if rating and rating.alive() else ["--allow-unrated"]
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            return ["voepy-ledger-check exited %d:\n%s%s" % (r.returncode, r.stdout, r.stderr)]
        return []

    # -- helpers for tests -----------------------------------------------------------------
    def sql(self, query):
        """Run SQL with psql; returns rows as lists of strings (NULL -> None). Tests build
        their queries from values they made themselves (ids, numbers), never from input."""
        argv = ["psql", self.pg_dsn, "-X", "-q", "-t", "-A", "-F", "\x1f", "-v", "ON_ERROR_STOP=1",
                "-c", query]
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        rows = []
        for line in out.splitlines():
            if line == "":
                continue
            rows.append([None if c == "" else c for c in line.split("\x1f")])
        return rows

    def sql_tenant(self, tid, name="test"):
        """A bare tenant row, for tests that drive a service without the API."""
        self.sql("INSERT INTO tenants (id, name) VALUES (%s, %s)" % (q(tid), q(name)))
        return tid

    def sql_webhook_endpoint(self, eid, tenant, url, events=("*",), secret=None):
        """A subscription endpoint row (no API, so no URL check); returns its secret, a new
        random one unless given."""
        secret = secret or "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.sql("INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret)"
                 " VALUES (%s, %s, %s, ARRAY[%s]::text[], %s)"
                 % (q(eid), q(tenant), q(url), ",".join(q(e) for e in events), q(secret)))
        return secret

    def api(self, method, path, body=None, key=None, headers=None, raw=None, contract=True):
        """Call the public API; returns (status, parsed JSON or None, raw bytes, headers).
        Every answer is checked against proto/openapi.yaml (tests/integration/contract.py);
        contract=False skips that, for raw (malformed) requests only."""
        if not contract and raw is None:
            raise ValueError("contract=False is only for raw (malformed) requests")
        h = dict(headers or {})
        if key:
            h["Authorization"] = "Bearer %s" % key
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        status, rheaders, rbody = http_request("127.0.0.1", self.api_port, method, path, data, h)
        if contract:
            api_contract().check(method, path, status, rheaders, rbody)
        try:
            parsed = json.loads(rbody) if rbody else None
        except ValueError:
            parsed = None
        return status, parsed, rbody, rheaders

    def admin(self, method, path, body=None, headers=None, raw=None, contract=True):
        return self.api(method, path, body, key=self.admin_token, headers=headers, raw=raw,
                        contract=contract)

    def receiver(self, respond=None):
        r = WebhookReceiver(respond)
        self.receivers.append(r)
        return r

    def sipp(self, scenario, **kw):
        sp = Sipp(self.tmp, scenario, **kw)
        self.sipps.append(sp)
        return sp

    # -- a first tenant, as most tests need one ---------------------------------------------
    def create_route(self, sip_uri, transport="udp", name="trunk", platform_default=False):
        st, body, raw, _ = self.admin("POST", "/admin/v1/routes",
                                      {"name": name, "sip_uri": sip_uri, "transport": transport,
                                       "platform_default": platform_default})
        assert st == 201, (st, raw)
        return body

    def create_tenant(self, name="acme", **fields):
        st, body, raw, _ = self.admin("POST", "/admin/v1/tenants", dict(name=name, **fields))
        assert st == 201, (st, raw)
        return body

    def wait_call(self, key, call_id, pred, timeout=20):
        """Poll GET /v1/calls/{id} until pred(call) holds; returns the call."""
        def check():
            st, call, _, _ = self.api("GET", "/v1/calls/%s" % call_id, key=key)
            return call if st == 200 and pred(call) else None
        return wait_until(check, timeout, interval=0.1, what="call %s" % call_id)

    # -- calls to a far end whose RTP the test receives ----------------------------------------
    def peer_route(self, peer_port, scenario="cmedia_uas_peer.xml", name="peer", calls=None,
                   extra=()):
        """A SIPp far end (no RTP echo) answering with an SDP that points at peer_port, where
        the test's RTP peer listens (the scenario's [peer_port] key), and a route to it;
        returns (route, sipp). No call limit unless calls is given: the node's OPTIONS
        keep-alive to a new route may reach SIPp before the INVITE, and SIPp counts it as a
        call (aborted: the scenario expects an INVITE)."""
        uas = self.sipp(scenario, name=name, rtp_echo=False, calls=calls,
                        extra=["-key", "peer_port", str(peer_port)] + list(extra))
        return self.create_route(uas.uri, name="%s-%d" % (name, uas.port)), uas

    def answered_call(self, key, body):
        """POST /v1/calls with body; waits until it stops ringing and checks it was answered.
        Returns the call."""
        st, call, raw, _ = self.api("POST", "/v1/calls", body, key=key)
        assert st == 201, (st, raw)
        call = self.wait_call(key, call["id"],
                              lambda c: c["status"] in ("answered", "ended", "failed"))
        assert call["status"] == "answered", call
        return call

    def leg_port(self, call_id):
        """media-fork's RTP port for the call's leg (its local_media)."""
        local = self.sql("SELECT 'x', local_media FROM call_legs WHERE call_id = %s"
                         % q(call_id))[0][1]
        return int(local.rsplit(":", 1)[1])

    def peer_call(self, key, peer, body, calls=None, wait_rtp=True):
        """An answered API call (body: POST /v1/calls's, without route_id) to a new SIPp far
        end (peer_route) whose SDP points at peer, the test's RTP peer (.port, .packets);
        unless wait_rtp is false, waits until the leg's RTP reaches the peer. Returns (call,
        media-fork's RTP port for its leg)."""
        route, _ = self.peer_route(peer.port, calls=calls)
        call = self.answered_call(key, dict(body, route_id=route["id"]))
        if wait_rtp:
            wait_until(lambda: peer.packets, 5, what="RTP from the leg")
        return call, self.leg_port(call["id"])


class ApiAssertions:
    """Mixin for unittest.TestCase: the checks every API suite makes of an answer."""

    def assert_error(self, resp, status, code, field=None, words=None):
        """resp (from Platform.api) is the error envelope with status and code, a message,
        and, when given, the field it names and words its message contains."""
        st, body, raw, _ = resp
        self.assertEqual(st, status, raw)
        self.assertIsInstance(body, dict, raw)
        self.assertEqual(set(body), {"error"}, raw)
        self.assertEqual(body["error"]["code"], code, raw)
        self.assertTrue(body["error"]["message"], raw)
        if field is not None:
            self.assertEqual(body["error"].get("field"), field, raw)
        if words is not None:
            self.assertIn(words, body["error"]["message"], raw)


def http_request(host, port, method, path, body=None, headers=None, timeout=10):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()
