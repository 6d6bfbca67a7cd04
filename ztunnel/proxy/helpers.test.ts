import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { isWeftError } from '#core/errors.ts';
import { forwardedSource, forwardedSourcePort } from '#core/hbone/forwarded.ts';
import { InboundConnections } from '#ztunnel/proxy/inbound-connections.ts';
import { splice } from '#ztunnel/proxy/splice.ts';
import { waitForState } from '#ztunnel/proxy/wait.ts';
import { ProxyState } from '#ztunnel/state/proxy-state.ts';
import { authz, match, policy, wl, workload } from '#ztunnel/state/testing.ts';

test('forwarded: the first for= address', () => {
  const rows: [string | undefined, string | undefined][] = [
    ['for="10.0.1.2:4321"', '10.0.1.2'],
    ['for="10.0.1.2:4321";host=echo.default.svc.cluster.local', '10.0.1.2'],
    ['host=x;For=10.0.1.3', '10.0.1.3'],
    ['for="10.0.1.2:1", for="10.9.9.9:2"', '10.0.1.2'],
    ['for="[fd00::1]:80"', 'fd00::1'],
    ['for=unknown', undefined],
    ['by=10.0.0.1', undefined],
    [undefined, undefined],
  ];
  for (const [h, want] of rows) assert.equal(forwardedSource(h), want, String(h));
});

test('forwarded: the first for= port, when there is one', () => {
  const rows: [string | undefined, number | undefined][] = [
    ['for="10.0.1.2:4321"', 4321],
    ['for="10.0.1.2:4321";host=echo.default.svc.cluster.local', 4321],
    ['for=10.0.1.3', undefined],
    ['for="10.0.1.2:1", for="10.9.9.9:2"', 1],
    ['for="[fd00::1]:80"', 80],
    ['for="[fd00::1]"', undefined],
    ['for="10.0.1.2:0"', undefined],
    ['for="10.0.1.2:70000"', undefined],
    ['for="10.0.1.2:12a"', undefined],
    [undefined, undefined],
  ];
  for (const [h, want] of rows) assert.equal(forwardedSourcePort(h), want, String(h));
});

test('waitForState resolves on a later change and times out with a hint', async () => {
  const s = new ProxyState();
  const a = workload({ name: 'a', addresses: ['10.0.1.2'] });
  const waiting = waitForState(s, () => s.workload(a.uid), 2000, 'a');
  setTimeout(() => s.applyUpdate({ snapshot: true, version: 1, updated: [wl(a)], removed: [] }), 20);
  assert.equal((await waiting).name, 'a');
  await assert.rejects(waitForState(s, () => s.workload('nope'), 30, 'nope'), (err: unknown) => isWeftError(err, 'WEFT_ERR_CONFIG_WAIT') && /controller/.test(err.message));
});

test('open inbound connections are closed when policy now denies them', () => {
  const s = new ProxyState();
  const dst = workload({ name: 'echo', addresses: ['10.0.2.2'] });
  s.applyUpdate({ snapshot: true, version: 1, updated: [wl(dst)], removed: [] });
  const reg = new InboundConnections();
  const closed: string[] = [];
  const track = (principal: string): void => {
    reg.add({ conn: { sourcePrincipal: principal, sourceIp: '10.0.1.2', destinationIp: '10.0.2.2', destinationPort: 8080 }, workloadUid: dst.uid, close: () => closed.push(principal) });
  };
  track('spiffe://cluster.local/ns/default/sa/sleep');
  track('spiffe://cluster.local/ns/default/sa/other');
  assert.equal(reg.recheck(s), 0);
  const deny = policy({ name: 'deny', action: 'DENY', rules: [[[match({ principals: [{ suffix: '/sa/sleep' }] })]]] });
  s.applyUpdate({ snapshot: true, version: 2, updated: [wl(dst), authz(deny)], removed: [] });
  assert.equal(reg.recheck(s), 1);
  assert.deepEqual(closed, ['spiffe://cluster.local/ns/default/sa/sleep']);
  assert.equal(reg.size, 1);
});

test('splice copies both ways, carries half-close, and counts bytes', async () => {
  const upstream = net.createServer({ allowHalfOpen: true }, (s) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => s.end(Buffer.concat(chunks).toString().toUpperCase()));
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const proxy = net.createServer({ allowHalfOpen: true }, (client) => {
    const up = net.connect({ port: (upstream.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
    up.once('connect', () => { void splice(client, up).then((r) => results.push(r)); });
  });
  const results: { aToB: number; bToA: number }[] = [];
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  try {
    const c = net.connect({ port: (proxy.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
    await once(c, 'connect');
    const got: Buffer[] = [];
    c.on('data', (b: Buffer) => got.push(b));
    c.end('hello tunnel');
    await once(c, 'end');
    assert.equal(Buffer.concat(got).toString(), 'HELLO TUNNEL');
    c.destroy();
    const deadline = Date.now() + 2000;
    while (results.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(results.map((r) => [r.aToB, r.bToA]), [[12, 12]]);
  } finally {
    proxy.close();
    upstream.close();
  }
});
