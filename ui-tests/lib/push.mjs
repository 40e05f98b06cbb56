// A loopback Web Push service for the browser tests, and the browser's side of a subscription:
// a P-256 key pair and auth secret (as `PushManager.subscribe` makes), and the RFC 8291
// `aes128gcm` decryption a browser applies to a push before its service worker sees it. Tests
// register such a subscription with the server, take the pushes the server sends here, and hand
// the decrypted payload to Chromium's service worker through the DevTools protocol
// (`ServiceWorker.deliverPushMessage`), which is what the browser's own push client would do.

import http from 'node:http';
import crypto from 'node:crypto';

export class PushService {
  static async start() {
    const s = new PushService();
    s.pushes = [];
    s.waiters = [];
    s.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        s.pushes.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(201).end();
        for (const w of [...s.waiters]) w();
      });
    });
    await new Promise((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.origin = `http://127.0.0.1:${s.server.address().port}`;
    return s;
  }

  endpoint(device) {
    return `${this.origin}/push/${device}`;
  }

  /** Resolves with the `n`-th push (1-based) to `device`, bounded by `ms`. */
  nth(device, n, ms) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const got = this.pushes.filter((p) => p.path === `/push/${device}`);
        if (got.length >= n) {
          this.waiters = this.waiters.filter((w) => w !== check);
          clearTimeout(timer);
          resolve(got[n - 1]);
        }
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timed out after ${ms} ms waiting for push ${n} to ${device}`));
      }, ms);
      this.waiters.push(check);
      check();
    });
  }

  close() {
    this.server.close();
  }
}

/** What a browser keeps for one subscription. */
export class BrowserKeys {
  constructor() {
    this.ecdh = crypto.createECDH('prime256v1');
    this.ecdh.generateKeys();
    this.auth = crypto.randomBytes(16);
  }

  /** `PushSubscription.toJSON()` for `endpoint`. */
  subscription(endpoint) {
    return { endpoint, keys: { p256dh: this.ecdh.getPublicKey().toString('base64url'), auth: this.auth.toString('base64url') } };
  }

  /** RFC 8291 / RFC 8188 decryption of one `aes128gcm` body (a single record). */
  decrypt(body) {
    const salt = body.subarray(0, 16);
    const idlen = body[20];
    const keyid = body.subarray(21, 21 + idlen);
    const record = body.subarray(21 + idlen);
    const secret = this.ecdh.computeSecret(keyid);
    const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), this.ecdh.getPublicKey(), keyid]);
    const ikm = Buffer.from(crypto.hkdfSync('sha256', secret, this.auth, keyInfo, 32));
    const cek = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
    const nonce = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
    const d = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
    d.setAuthTag(record.subarray(record.length - 16));
    const plain = Buffer.concat([d.update(record.subarray(0, record.length - 16)), d.final()]);
    let end = plain.length - 1;
    while (end >= 0 && plain[end] === 0) end -= 1;
    if (plain[end] !== 2) throw new Error('push record without the last-record delimiter');
    return plain.subarray(0, end).toString('utf8');
  }
}
