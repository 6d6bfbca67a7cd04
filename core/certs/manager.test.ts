import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { isWeftError } from '#core/errors.ts';
import { silentLogger } from '#core/log.ts';
import { testPki } from '#core/ca/testing.ts';
import type { TestPki } from '#core/ca/testing.ts';
import { CertificateManager } from '#core/certs/manager.ts';
import type { CertificateManagerOptions, ManagerClock } from '#core/certs/manager.ts';
import type { CertificateFetcher, FetchedCertificate } from '#core/certs/fetcher.ts';

const ID = 'spiffe://cluster.local/ns/default/sa/web';
const OTHER = 'spiffe://cluster.local/ns/default/sa/other';
const pki: TestPki = await testPki();

/** Timers that only move when the test says so. */
class FakeClock implements ManagerClock {
  t = Date.now();
  #seq = 0;
  readonly timers = new Map<number, { at: number; fn: () => void }>();
  now(): number { return this.t; }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void { this.timers.delete(h as number); }
  /** Jumps to the earliest timer and fires it; returns false when none is pending. */
  fireNext(): boolean {
    let next: [number, { at: number; fn: () => void }] | undefined;
    for (const e of this.timers) if (next === undefined || e[1].at < next[1].at) next = e;
    if (next === undefined) return false;
    this.timers.delete(next[0]);
    this.t = Math.max(this.t, next[1].at);
    next[1].fn();
    return true;
  }
  /** Moves time forward and fires the timers then due (not the ones they set, which wait for async work). */
  advance(ms: number): void {
    this.t += ms;
    for (const [id, x] of [...this.timers]) {
      if (x.at > this.t || !this.timers.has(id)) continue;
      this.timers.delete(id);
      x.fn();
    }
  }
}

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** A fetcher backed by the test CA that records each call; `behave` can override per call. */
function caFetcher(ttlSeconds = 3600, behave?: (n: number, csrPem: string, identity: string) => Promise<FetchedCertificate> | undefined) {
  const calls: Array<{ identity: string; at: number }> = [];
  let clock: () => number = Date.now;
  const fetch: CertificateFetcher = async (csrPem, identity) => {
    calls.push({ identity, at: clock() });
    const special = behave?.(calls.length, csrPem, identity);
    if (special !== undefined) return special;
    const signed = pki.ca.sign(csrPem, { authorizedIdentities: [identity], ttlSeconds });
    return { certPem: signed.certPem, chainPem: signed.chainPem, rootsPem: pki.ca.rootsPem };
  };
  return { fetch, calls, useClock: (c: () => number) => { clock = c; } };
}

function manager(opts: Partial<CertificateManagerOptions> & Pick<CertificateManagerOptions, 'fetch'>): CertificateManager {
  return new CertificateManager({ logger: silentLogger, random: () => 0.5, ...opts });
}

test('concurrent gets for one identity share one request, then the held certificate is served', async () => {
  const f = caFetcher();
  const m = manager({ fetch: f.fetch });
  try {
    assert.deepEqual(m.state(), []);
    const got = await Promise.all([m.get(ID), m.get(ID), m.get(ID), m.get(OTHER)]);
    assert.equal(f.calls.filter((c) => c.identity === ID).length, 1);
    assert.equal(f.calls.length, 2);
    assert.equal(got[0], got[1]);
    assert.equal(got[0], got[2]);
    assert.equal(new X509Certificate(got[0]?.certPem ?? '').subjectAltName, `URI:${ID}`);
    assert.equal(new X509Certificate(got[3]?.certPem ?? '').subjectAltName, `URI:${OTHER}`);
    assert.equal(await m.get(ID), got[0]);
    assert.equal(f.calls.length, 2);
    const st = m.state().find((s) => s.identity === ID);
    assert.equal(st?.state, 'ready');
    assert.equal(st?.notAfter?.getTime(), got[0]?.notAfter.getTime());
    await assert.rejects(m.get('spiffe://cluster.local/ns/x/sa/Bad'), (e: unknown) => isWeftError(e, 'WEFT_ERR_BAD_IDENTITY'));
  } finally {
    m.close();
  }
});

test('a certificate for another identity or another key is refused', async () => {
  const wrongSan = caFetcher(3600, async (_n) => {
    const c = await pki.issue(OTHER);
    return { certPem: c.certPem, chainPem: [], rootsPem: c.rootsPem };
  });
  const m1 = manager({ fetch: wrongSan.fetch, firstFetchTimeoutMs: 300, initialBackoffMs: 10_000 });
  try {
    await assert.rejects(m1.get(ID), (e: unknown) => isWeftError(e, 'WEFT_ERR_CERT_TIMEOUT') && /certificate names "URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/other"/.test(e.message));
    const st = m1.state()[0];
    assert.equal(st?.state, 'failed');
    assert.match(st?.lastError ?? '', /but spiffe:\/\/cluster\.local\/ns\/default\/sa\/web was requested/);
  } finally {
    m1.close();
  }

  const wrongKey = caFetcher(3600, async (_n, _csr, identity) => {
    const c = await pki.issue(identity); // right name, but a key the manager never made
    return { certPem: c.certPem, chainPem: [], rootsPem: c.rootsPem };
  });
  const m2 = manager({ fetch: wrongKey.fetch, firstFetchTimeoutMs: 300, initialBackoffMs: 10_000 });
  try {
    await assert.rejects(m2.get(ID), /does not match the key/);
  } finally {
    m2.close();
  }

  const otherCa = await testPki();
  const foreign = caFetcher(3600, async (_n, csrPem, identity) => {
    // Right name and key, signed by a CA the roots do not vouch for.
    const signed = otherCa.ca.sign(csrPem, { authorizedIdentities: [identity] });
    return { certPem: signed.certPem, chainPem: [], rootsPem: pki.rootsPem };
  });
  const m3 = manager({ fetch: foreign.fetch, firstFetchTimeoutMs: 300, initialBackoffMs: 10_000 });
  try {
    await assert.rejects(m3.get(ID), /does not chain to the roots/);
  } finally {
    m3.close();
  }
});

test('a short-lived certificate is renewed at half-life, before it expires', async () => {
  const f = caFetcher(2);
  const seen: string[] = [];
  const m = manager({ fetch: f.fetch, onCertificate: (c) => seen.push(c.certPem) });
  try {
    const first = await m.get(ID);
    await until(() => f.calls.length >= 2 && seen.length >= 2, 'a renewal', 4000);
    const renewedAt = f.calls[1]?.at ?? 0;
    assert.ok(renewedAt < first.notAfter.getTime(), 'renewed before expiry');
    const second = await m.get(ID);
    assert.notEqual(second.certPem, first.certPem);
    assert.notEqual(new X509Certificate(second.certPem).serialNumber, new X509Certificate(first.certPem).serialNumber);
    assert.equal(m.state()[0]?.state, 'ready');
  } finally {
    m.close();
  }
});

test('failed fetches back off exponentially up to about 150 s', async () => {
  const clock = new FakeClock();
  const f = caFetcher(3600, () => Promise.reject(new Error('controller unreachable')));
  f.useClock(() => clock.now());
  const m = manager({ fetch: f.fetch, clock, firstFetchTimeoutMs: 10_000_000 });
  try {
    const waiting = m.get(ID);
    waiting.catch(() => undefined);
    for (let n = 1; n <= 10; n++) {
      await until(() => f.calls.length === n && m.state()[0]?.state === 'failed', `failure ${n}`);
      if (n < 10) assert.ok(clock.fireNext());
    }
    const gaps = f.calls.slice(1).map((c, i) => c.at - (f.calls[i]?.at ?? 0));
    assert.deepEqual(gaps, [1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 150_000]);
    assert.equal(m.state()[0]?.lastError, 'controller unreachable');
  } finally {
    m.close();
  }
  assert.equal(clock.timers.size, 0, 'close() clears every timer');
});

test('the held certificate keeps being served while its renewal fails, and is retried on demand once expired', async () => {
  const clock = new FakeClock();
  let fail = false;
  const f = caFetcher(3600, (n, csrPem, identity) => {
    if (fail) return Promise.reject(new Error('CA down'));
    if (n === 1) return undefined;
    // Later certificates must outlive the fake clock, which has moved past the first one.
    const signed = pki.ca.sign(csrPem, { authorizedIdentities: [identity], ttlSeconds: 7200 });
    return Promise.resolve({ certPem: signed.certPem, chainPem: [], rootsPem: pki.rootsPem });
  });
  f.useClock(() => clock.now());
  const m = manager({ fetch: f.fetch, clock });
  try {
    const first = await m.get(ID);
    fail = true;
    clock.advance(31 * 60_000); // past half-life: the renewal runs and fails
    await until(() => f.calls.length === 2 && m.state()[0]?.lastError === 'CA down', 'a failed renewal');
    assert.equal(m.state()[0]?.state, 'renewing');
    assert.equal(await m.get(ID), first, 'old certificate still served');
    assert.equal(f.calls.length, 2);

    clock.t = first.notAfter.getTime() + 1; // expired, with a retry still minutes away
    fail = false;
    const again = await m.get(ID);
    assert.notEqual(again.certPem, first.certPem);
    assert.equal(m.state()[0]?.state, 'ready');
  } finally {
    m.close();
  }
});

test('a get with no certificate is bounded; forget and close stop the work', async () => {
  const never: CertificateFetcher = () => new Promise(() => undefined);
  const m = manager({ fetch: never, firstFetchTimeoutMs: 100 });
  const started = Date.now();
  await assert.rejects(Promise.all([m.get(ID), m.get(ID)]), (e: unknown) => isWeftError(e, 'WEFT_ERR_CERT_TIMEOUT'));
  assert.ok(Date.now() - started < 1000);
  assert.equal(m.state()[0]?.state, 'pending');
  const pending = m.get(OTHER);
  m.forget(OTHER);
  await assert.rejects(pending, (e: unknown) => isWeftError(e, 'WEFT_ERR_CERT_FORGOTTEN'));
  assert.deepEqual(m.state().map((s) => s.identity), [ID]);
  m.close();
  assert.deepEqual(m.state(), []);
  await assert.rejects(m.get(ID), (e: unknown) => isWeftError(e, 'WEFT_ERR_CERT_CLOSED'));

  // A forgotten identity is not renewed.
  const clock = new FakeClock();
  const f = caFetcher();
  const m2 = manager({ fetch: f.fetch, clock });
  await m2.get(ID);
  m2.forget(ID);
  assert.equal(clock.timers.size, 0);
  clock.advance(48 * 3_600_000);
  assert.equal(f.calls.length, 1);
  m2.close();
});

test('renewAll fetches every held identity again, serving the current certificate until the new one arrives', async () => {
  const f = caFetcher();
  const m = manager({ fetch: f.fetch });
  try {
    const first = await m.get(ID);
    const other = await m.get(OTHER);
    assert.equal(f.calls.length, 2);
    m.renewAll();
    assert.equal(await m.get(ID), first, 'still served while the new one is fetched');
    await until(() => f.calls.length === 4, 'both fetched again');
    await until(() => m.state().every((s) => s.state === 'ready'), 'both renewed');
    const renewed = await m.get(ID);
    assert.notEqual(renewed.certPem, first.certPem);
    assert.notEqual((await m.get(OTHER)).certPem, other.certPem);
    assert.equal(f.calls.length, 4);
  } finally {
    m.close();
  }
});
