"""Signatures made by our C code, verified by a receiver written with other people's code.

The dispatcher delivers 1,000 deliveries with random bodies (unicode of every plane, large,
tiny) to tests/integration/webhook-verify/verify.js, a node receiver using the npm
packages standardwebhooks and svix (pinned in its package-lock.json), node's crypto for
v1a (Ed25519) and a node snippet for voepy-signature. One endpoint signs with one secret;
the other is in a rotation overlap (two v1 signatures, each verifying with its own
secret) and has an Ed25519 key pair made by node. For every delivery the receiver also
checks that a tampered body, a wrong secret or key, a clock 301 s off and each missing
header are rejected. A sample of the deliveries is then checked the same way with our
own verifier, tools/webhook-verify (voepy-webhook-verify).

The npm packages are installed with `npm ci` from the committed lock file into
<build dir>/webhook-verify-node (again only when the lock file changed), with npm's cache
there too: no global installs, and a clean clone works offline once the cache is filled.
"""
import base64
import hashlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import unittest

from harness import q, ROOT, Platform, binary, build_dir, http_request, wait_until

NODE_DIR = os.path.join(ROOT, "tests", "integration", "webhook-verify")
EVENTS = 500  # two endpoints: 1,000 deliveries


def node_modules():
    """npm ci the pinned verifiers into the build dir; returns the node_modules path."""
    if not shutil.which("npm") or not shutil.which("node"):
        raise AssertionError("node and npm are needed (deploy/local/deps.sh installs them)")
    dest = os.path.join(build_dir(), "webhook-verify-node")
    lock = os.path.join(NODE_DIR, "package-lock.json")
    with open(lock, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(dest, "node_modules", ".voepy-lock.sha256")
    try:
        with open(stamp) as f:
            if f.read().strip() == want:
                return os.path.join(dest, "node_modules")
    except FileNotFoundError:
        pass
    os.makedirs(dest, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(os.path.join(NODE_DIR, name), os.path.join(dest, name))
    subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund",
                    "--loglevel=error", "--cache", os.path.join(dest, ".npm-cache")],
                   cwd=dest, check=True, stdout=subprocess.DEVNULL, timeout=300)
    with open(stamp, "w") as f:
        f.write(want + "\n")
    return os.path.join(dest, "node_modules")


def random_text(rng, n):
    """n characters from every plane we care about: ASCII with JSON's specials, control
    characters, Latin, RTL, combining marks, zero-width and BOM, CJK, astral emoji and
    symbols. Not U+0000: no event can hold it (PostgreSQL text cannot, jsonb refuses it,
    and its json operators fail on it)."""
    ranges = [(0x20, 0x7e), (0x01, 0x1f), (0xa0, 0x24f), (0x590, 0x6ff), (0x300, 0x36f),
              (0x200b, 0x200f), (0xfeff, 0xfeff), (0x4e00, 0x9fff), (0x1f300, 0x1faff),
              (0x10000, 0x1007f), (0xe000, 0xe0ff)]
    out = []
    for _ in range(n):
        lo, hi = rng.choice(ranges)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def random_data(rng, i):
    """The data of event i: tiny, unicode, or large (JSON text, exactly as stored)."""
    kind = i % 10
    if kind == 0:
        return rng.choice(["{}", "[]", "0", "null", '""', "true", '"\\u0001"'])
    if kind == 1:  # large: 64 KiB to 512 KiB
        return json.dumps({"blob": random_text(rng, rng.randint(1 << 14, 1 << 17))},
                          ensure_ascii=False)
    value = {random_text(rng, rng.randint(1, 12)): random_text(rng, rng.randint(0, 300))
             for _ in range(rng.randint(1, 6))}
    value["n"] = rng.randint(-2**53, 2**53)
    value["nested"] = [random_text(rng, 5), {"\"quote\\": "line\nbreak\ttab"}]
    return json.dumps(value, ensure_ascii=rng.random() < 0.2)


class Signatures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.modules = node_modules()
        cls.p = Platform(services=("webhook-dispatcher",), name="webhook-sigs",
                         env={"VOEPY_WEBHOOK_POLL_MS": "200",
                              "VOEPY_WEBHOOK_ENDPOINT_CONCURRENCY": "16"})
        cls.p.start()
        cls.addClassCleanup(cls.p.stop)
        cls.tmp = tempfile.mkdtemp(prefix="voepy-it-sigs-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)

    def node(self, *args, **kw):
        env = dict(os.environ, NODE_PATH=self.modules)
        return subprocess.Popen(["node", os.path.join(NODE_DIR, "verify.js")] + list(args),
                                env=env, **kw)

    def keygen(self):
        p = self.node("keygen", stdout=subprocess.PIPE)
        out, _ = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0)
        return json.loads(out)

    def endpoint(self, tenant, url, secret, previous=None, keys=None):
        eid = "voepy_whk_sig%d" % random.randrange(1 << 40)
        self.p.sql(
            "INSERT INTO webhook_endpoints (id, tenant_id, url, secret, previous_secret,"
            " previous_secret_expires_at, secret_rotated_at, ed25519_secret_key,"
            " ed25519_public_key) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            % (q(eid), q(tenant), q(url), q(secret), q(previous),
               "now() + interval '1 day'" if previous else "NULL",
               "now()" if previous else "NULL",
               q(keys and keys["secret_key"]), q(keys and keys["public_key"])))
        return eid

    def emit_all(self, tenant, datas):
        """One statement writes every event (psql reads it from a file: bodies are large)."""
        tag = "$vp%s$" % os.urandom(6).hex()
        rows = ",\n".join("(%d, %s%s%s)" % (i, tag, d, tag) for i, d in enumerate(datas))
        path = os.path.join(self.tmp, "events.sql")
        with open(path, "w", encoding="utf-8") as f:
            f.write("SELECT count(voepy_emit(%s, NULL, 'test.signature', d::json)) FROM (VALUES %s)"
                    " v(i, d);\n" % (q(tenant), rows))
        subprocess.run(["psql", self.p.pg_dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", path],
                       check=True, stdout=subprocess.DEVNULL)

    def verifier(self, rec, body_path, extra, env=None):
        h = rec["headers"]
        argv = [binary("webhook-verify"), "--body", body_path]
        for opt, name in (("--id", "webhook-id"), ("--timestamp", "webhook-timestamp"),
                          ("--signature", "webhook-signature"),
                          ("--voepy-signature", "voepy-signature")):
            if name in h and name not in extra.get("drop", ()):
                argv += [opt, h[name]]
        argv += extra.get("args", [])
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, **(env or {})))
        return r.returncode, r.stdout.strip()

    def test_thousand_deliveries_verify_everywhere(self):
        tenant = "voepy_tenant_sigs"
        self.p.sql("INSERT INTO tenants (id, name) VALUES (%s, 'signatures')" % q(tenant))
        plain = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        current = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        previous = "whsec_" + base64.b64encode(os.urandom(64)).decode()
        keys = self.keygen()
        config = {"/plain": {"secrets": [plain], "public_key": None},
                  "/rotating": {"secrets": [current, previous], "public_key": keys["public_key"]}}
        cfg_path = os.path.join(self.tmp, "config.json")
        with open(cfg_path, "w") as f:
            json.dump(config, f)
        log_path = os.path.join(self.tmp, "deliveries.jsonl")
        recv = self.node("serve", cfg_path, log_path, stdout=subprocess.PIPE)
        self.addCleanup(lambda: (recv.terminate(), recv.wait(10), recv.stdout.close()))
        port = json.loads(recv.stdout.readline())["port"]
        base = "http://127.0.0.1:%d" % port
        ep_plain = self.endpoint(tenant, base + "/plain", plain)
        ep_rot = self.endpoint(tenant, base + "/rotating", current, previous, keys)

        rng = random.Random(int.from_bytes(os.urandom(8), "big"))
        self.emit_all(tenant, [random_data(rng, i) for i in range(EVENTS)])

        def done():
            rows = self.p.sql("SELECT status, count(*) FROM webhook_deliveries WHERE tenant_id = %s"
                              " GROUP BY status" % q(tenant))
            counts = {r[0]: int(r[1]) for r in rows}
            if counts.get("pending", 0) == 0 and sum(counts.values()) == 2 * EVENTS:
                return counts
            return None
        counts = wait_until(done, 240, interval=0.5, what="1,000 deliveries")
        status = json.loads(http_request("127.0.0.1", port, "GET", "/_results")[2])
        self.assertEqual(status["failed"], 0, json.dumps(status["failures"], indent=1)[:4000])
        self.assertEqual(counts, {"succeeded": 2 * EVENTS})
        self.assertEqual(status["count"], 2 * EVENTS)  # each one once: none needed a retry
        for ep in (ep_plain, ep_rot):
            self.assertEqual(self.p.sql("SELECT count(*) FROM webhook_deliveries WHERE"
                                        " endpoint_id = %s AND attempts = 1" % q(ep)),
                             [[str(EVENTS)]])

        with open(log_path) as f:
            recs = [json.loads(line) for line in f]
        self.assertEqual(len(recs), 2 * EVENTS)
        # the bodies are the stored envelopes, byte for byte, tiny and large ones included
        sizes = sorted(len(base64.b64decode(r["body"])) for r in recs)
        self.assertLess(sizes[0], 200)
        self.assertGreater(sizes[-1], 1 << 16)
        self.check_with_our_verifier(rng, recs, config)

    def check_with_our_verifier(self, rng, recs, config):
        """voepy-webhook-verify accepts a sample and rejects every broken variant of it."""
        sample = rng.sample([r for r in recs if r["path"] == "/rotating"], 12) + \
            rng.sample([r for r in recs if r["path"] == "/plain"], 6)
        other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        other_pk = self.keygen()["public_key"]
        for n, rec in enumerate(sample):
            conf = config[rec["path"]]
            body = base64.b64decode(rec["body"])
            path = os.path.join(self.tmp, "body-%d" % n)
            with open(path, "wb") as f:
                f.write(body)
            bad = os.path.join(self.tmp, "tampered-%d" % n)
            with open(bad, "wb") as f:
                f.write(body[:-1] + bytes([body[-1] ^ 1]))
            ts = int(rec["headers"]["webhook-timestamp"])
            schemes = "v1,v1a,voepy" if conf["public_key"] else "v1,voepy"
            pk = ["--public-key", conf["public_key"]] if conf["public_key"] else []
            for secret in conf["secrets"]:
                base = ["--secret", secret, "--scheme", schemes] + pk
                rc, out = self.verifier(rec, path, {"args": base + ["--now", str(ts + 5)]})
                self.assertEqual((rc, out), (0, "ok " + schemes.replace(",", " ")))
                # the secret from the environment works the same
                rc, out = self.verifier(rec, path, {"args": ["--scheme", "v1"]},
                                        env={"WEBHOOK_SECRET": secret})
                self.assertEqual(rc, 0, out)
                cases = [
                    (bad, {"args": base}, "no matching signature"),
                    (path, {"args": ["--secret", other, "--scheme", "v1,voepy"]},
                     "no matching signature"),
                    (path, {"args": base + ["--now", str(ts + 301)]}, "timestamp"),
                    (path, {"args": base + ["--now", str(ts - 301)]}, "timestamp"),
                ] + [(path, {"args": base, "drop": (h,)}, "missing " + h)
                     for h in ("webhook-id", "webhook-timestamp", "webhook-signature",
                               "voepy-signature")]
                if conf["public_key"]:
                    cases.append((path, {"args": ["--public-key", other_pk, "--scheme", "v1a"]},
                                  "no matching signature"))
                for body_path, extra, words in cases:
                    rc, out = self.verifier(rec, body_path, extra)
                    self.assertEqual(rc, 1, (extra, out))
                    self.assertIn(words, out, extra)


if __name__ == "__main__":
    unittest.main()
