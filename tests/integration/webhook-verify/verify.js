'use strict';
// A webhook receiver as a customer would write it, with the npm verifiers standardwebhooks
// and svix and node's own crypto, used by tests/integration/test_webhook_signatures.py.
//
//   node verify.js keygen          prints {"secret_key": "whsk_...", "public_key": "whpk_..."}
//                                  (an Ed25519 pair made by node, in voepy's format)
//   node verify.js serve CONFIG LOG
//       CONFIG: {"<path>": {"secrets": ["whsec_..", ...], "public_key": "whpk_.." | null}}
//       listens on 127.0.0.1 (a free port, printed as {"port": N}); for every POST to a
//       configured path it checks the delivery with every verifier, positive and negative
//       cases, appends {"path", "headers", "body" (base64), "failures": [...]} to LOG (one
//       JSON line), and answers 200 when nothing failed, else 400 with the failures.
//       GET /_results answers {"count": n, "failed": m, "failures": [first few]}.
//
// Checks for each delivery (a failure is recorded when a check does not hold):
//   standardwebhooks and svix verify it with each secret given (the current one, and the
//   previous one during a rotation overlap: each verifies on its own); the v1a signature
//   verifies with the public key (node crypto, Ed25519); voepy-signature ("t=..,v1=..")
//   verifies with each secret as HMAC-SHA256 keyed with the secret string over "{t}.{body}";
//   and every verifier rejects a tampered body, a wrong secret (or key), the clock 301 s
//   ahead or behind, and a delivery missing any one of the webhook-* headers.

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const { Webhook: StandardWebhook } = require('standardwebhooks');
const { Webhook: SvixWebhook } = require('svix');

const TOLERANCE_S = 300;

function keygen() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d, 'base64url');
  const pk = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  // libsodium's secret key is the seed followed by the public key
  return {
    secret_key: 'whsk_' + Buffer.concat([seed, pk]).toString('base64'),
    public_key: 'whpk_' + pk.toString('base64'),
  };
}

function publicKeyObject(whpk) {
  const raw = Buffer.from(whpk.slice('whpk_'.length), 'base64');
  return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

function randomSecret() {
  return 'whsec_' + crypto.randomBytes(32).toString('base64');
}

// Run fn with Date.now() (how the npm verifiers read the clock) at unix second atS.
function withClock(atS, fn) {
  const real = Date.now;
  Date.now = () => atS * 1000 + 500;
  try {
    return fn();
  } finally {
    Date.now = real;
  }
}

function accepts(fn) {
  try {
    fn();
    return true;
  } catch (e) {
    return false;
  }
}

// v1a: any "v1a,<b64>" of the header is an Ed25519 signature of "{id}.{ts}.{body}".
function verifyV1a(pub, headers, body, nowS) {
  const id = headers['webhook-id'], ts = headers['webhook-timestamp'], sigs = headers['webhook-signature'];
  if (!id || !ts || !sigs) throw new Error('missing headers');
  if (Math.abs(nowS - parseInt(ts, 10)) > TOLERANCE_S) throw new Error('timestamp');
  const content = Buffer.concat([Buffer.from(`${id}.${ts}.`), body]);
  for (const part of sigs.split(' ')) {
    const [version, sig] = part.split(',');
    if (version === 'v1a' && crypto.verify(null, content, pub, Buffer.from(sig, 'base64'))) return;
  }
  throw new Error('no matching v1a signature');
}

// voepy-signature: HMAC-SHA256 keyed with the whole secret string over "{t}.{body}", hex.
function verifyVoepy(secret, header, body, nowS) {
  if (!header) throw new Error('missing voepy-signature');
  const parts = header.split(',').map((p) => p.split('='));
  const t = (parts.find(([k]) => k === 't') || [])[1];
  if (!t || Math.abs(nowS - parseInt(t, 10)) > TOLERANCE_S) throw new Error('timestamp');
  const want = crypto.createHmac('sha256', secret).update(`${t}.`).update(body).digest();
  for (const [k, v] of parts) {
    if (k !== 'v1' || !/^[0-9a-f]{64}$/.test(v)) continue;
    if (crypto.timingSafeEqual(Buffer.from(v, 'hex'), want)) return;
  }
  throw new Error('no matching v1');
}

function check(conf, headers, body) {
  const failures = [];
  const must = (what, ok) => { if (!ok) failures.push(what); };
  const nowS = Math.floor(Date.now() / 1000);
  const ts = parseInt(headers['webhook-timestamp'], 10); // 301 s off is measured from it
  const tampered = Buffer.concat([body, Buffer.from(' ')]);
  if (body.length) tampered[0] ^= 1;
  const sigs = (headers['webhook-signature'] || '').split(' ');
  must('one v1 per secret', sigs.filter((s) => s.startsWith('v1,')).length === conf.secrets.length);
  must('v1a present iff a key', sigs.some((s) => s.startsWith('v1a,')) === !!conf.public_key);
  const libs = { standardwebhooks: StandardWebhook, svix: SvixWebhook };
  for (const [name, Lib] of Object.entries(libs)) {
    conf.secrets.forEach((secret, i) => {
      const wh = new Lib(secret);
      must(`${name} accepts (secret ${i})`, accepts(() => wh.verify(body, headers)));
      must(`${name} rejects a tampered body`, !accepts(() => wh.verify(tampered, headers)));
      for (const off of [301, -301])
        must(`${name} rejects the clock ${off} s off`, !accepts(() => withClock(ts + off, () => wh.verify(body, headers))));
      for (const off of [299, -299]) // so the rejections above are the tolerance's
        must(`${name} accepts the clock ${off} s off`, accepts(() => withClock(ts + off, () => wh.verify(body, headers))));
      for (const h of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
        const without = Object.assign({}, headers);
        delete without[h];
        must(`${name} rejects without ${h}`, !accepts(() => wh.verify(body, without)));
      }
    });
    must(`${name} rejects a wrong secret`, !accepts(() => new Lib(randomSecret()).verify(body, headers)));
  }
  if (conf.public_key) {
    const pub = publicKeyObject(conf.public_key);
    must('v1a verifies', accepts(() => verifyV1a(pub, headers, body, nowS)));
    must('v1a rejects a tampered body', !accepts(() => verifyV1a(pub, headers, tampered, nowS)));
    must('v1a rejects another key', !accepts(() => verifyV1a(publicKeyObject(keygen().public_key), headers, body, nowS)));
    for (const off of [301, -301])
      must(`v1a rejects the clock ${off} s off`, !accepts(() => verifyV1a(pub, headers, body, ts + off)));
  }
  const vs = headers['voepy-signature'];
  must('voepy-signature has t and one v1 per secret',
       /^t=\d+(,v1=[0-9a-f]{64})+$/.test(vs || '') && vs.split(',').length === conf.secrets.length + 1);
  conf.secrets.forEach((secret, i) => {
    must(`voepy-signature verifies (secret ${i})`, accepts(() => verifyVoepy(secret, vs, body, nowS)));
    must('voepy-signature rejects a tampered body', !accepts(() => verifyVoepy(secret, vs, tampered, nowS)));
    for (const off of [301, -301])
      must(`voepy-signature rejects the clock ${off} s off`, !accepts(() => verifyVoepy(secret, vs, body, ts + off)));
  });
  must('voepy-signature rejects a wrong secret', !accepts(() => verifyVoepy(randomSecret(), vs, body, nowS)));
  return failures;
}

function serve(configPath, logPath) {
  const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
  const log = fs.openSync(logPath, 'a');
  let count = 0, failed = 0;
  const firstFailures = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/_results') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ count, failed, failures: firstFailures }));
        return;
      }
      const conf = config[req.url];
      if (req.method !== 'POST' || !conf) {
        res.writeHead(404);
        res.end();
        return;
      }
      const body = Buffer.concat(chunks);
      let failures;
      try {
        failures = check(conf, req.headers, body);
      } catch (e) {
        failures = ['exception: ' + e.stack];
      }
      count++;
      if (failures.length) {
        failed++;
        if (firstFailures.length < 10) firstFailures.push({ id: req.headers['webhook-id'], failures });
      }
      fs.writeSync(log, JSON.stringify({ path: req.url, headers: req.headers, body: body.toString('base64'), failures }) + '\n');
      res.writeHead(failures.length ? 400 : 200, { 'content-type': 'text/plain' });
      res.end(failures.length ? failures.join('\n') : 'ok');
    });
  });
  server.keepAliveTimeout = 60000;
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'keygen') {
  process.stdout.write(JSON.stringify(keygen()) + '\n');
} else if (cmd === 'serve' && args.length === 2) {
  serve(args[0], args[1]);
} else {
  process.stderr.write('usage: node verify.js keygen | serve CONFIG LOG\n');
  process.exit(2);
}
