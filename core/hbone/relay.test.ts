import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { relay, type RelayStrategy } from '#core/hbone/relay.ts';
import { readAll } from '#core/hbone/testing/harness.ts';

/** A connected TCP pair on loopback, both ends half-open capable. */
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const pair: [net.Socket, net.Socket] = [client, await accepted];
  server.close();
  return pair;
}

for (const strategy of ['pipe', 'manual', 'batched'] as RelayStrategy[]) {
  test(`relay (${strategy}) carries bytes and half-close both ways, and counts them`, async () => {
    const [app, tunnel] = await socketPair();
    const [upstream, target] = await socketPair();
    const done = relay(tunnel, upstream, () => assert.fail('no upstream error expected'), strategy);
    const big = Buffer.alloc(2 * 1024 * 1024, 7);
    const atTarget = readAll(target);
    // The target answers and finishes first; the app keeps sending after that.
    target.end('bye');
    assert.equal((await readAll(app)).toString(), 'bye');
    app.end(big);
    assert.ok((await atTarget).equals(big));
    const result = await done;
    assert.equal(result.toUpstream, big.length);
    assert.equal(result.toTunnel, 3);
    assert.equal(result.error, undefined);
  });
}

test('an upstream reset is reported and tears the tunnel down', async () => {
  const [app, tunnel] = await socketPair();
  const [upstream, target] = await socketPair();
  let reported = 0;
  const done = relay(tunnel, upstream, () => {
    reported++;
    tunnel.destroy();
  });
  app.on('error', () => undefined);
  target.resetAndDestroy();
  await done;
  assert.ok(reported >= 1);
  assert.ok(tunnel.destroyed);
});
