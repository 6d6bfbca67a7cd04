// End-to-end: the first connection of a new pod. 50 pods are created one after another in an
// enrolled namespace on node1, each with a service account of its own (so each needs a new
// certificate), and each opens one connection to a Service whose pod is on node2 the moment
// the cluster hands the pod over, before its config or certificate can have reached the
// ztunnel. Every one must succeed: the ztunnel holds the connection until the pod's config and
// certificate are there. And when the config cannot come (the controller is away), the held
// connection is reset after the bound (5 s) and reported with a code that says why. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ECHO_TCP_PORT, startEcho } from '#local/echo.ts';
import { LocalMesh, waitUntil } from '#local/mesh.ts';
import { measureFreshPods } from '#bench/node/fresh-pods.ts';

const skip = process.getuid?.() === 0 ? false : 'needs root (network namespaces, iptables)';
const NAMESPACE = 'fresh';

describe('the first connection of a new pod', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let vip: string;

  before(async () => {
    mesh = await LocalMesh.start({ name: 'perffc', nodes: 2 });
    const { cluster } = mesh;
    await mesh.enrollNamespace(NAMESPACE);
    const server = await cluster.addPod({ namespace: NAMESPACE, name: 'server', node: 'node2', labels: { app: 'server' } });
    await startEcho(server);
    vip = (await cluster.addService({ namespace: NAMESPACE, name: 'server', selector: { app: 'server' }, ports: [{ port: ECHO_TCP_PORT, targetPort: ECHO_TCP_PORT, name: 'tcp' }] })).vip;
    await mesh.waitForEnrollment(server);
    await mesh.settle();
  });

  after(async () => {
    await mesh?.stop();
  });

  test('50 fresh pods, each connecting at once: none fails', async () => {
    assert.ok(mesh !== undefined);
    const results = await measureFreshPods(mesh, { namespace: NAMESPACE, count: 50, node: 'node1', target: { host: vip, port: ECHO_TCP_PORT }, timeoutMs: 15_000 });
    const failed = results.filter((r) => r.error !== undefined);
    assert.equal(results.length, 50);
    assert.deepEqual(failed, [], `failed: ${failed.map((r) => `${r.pod}: ${r.error ?? ''} after ${r.connectMs.toFixed(0)} ms`).join('; ')}`);
  });

  test('with the controller away, a new pod\'s connection is held for the bound, then reset with a clear reason', async () => {
    const m = mesh;
    assert.ok(m !== undefined);
    await m.stopController();
    try {
      const [r] = await measureFreshPods(m, { namespace: NAMESPACE, count: 1, node: 'node1', prefix: 'orphan', target: { host: vip, port: ECHO_TCP_PORT }, timeoutMs: 15_000 });
      assert.ok(r !== undefined);
      assert.equal(r.error, 'ECONNRESET', `the held connection is reset, not left hanging: ${JSON.stringify(r)}`);
      assert.ok(r.connectMs >= 4000, `held for the bound before the reset, not refused at once: ${r.connectMs.toFixed(0)} ms`);
      const z1 = m.ztunnel('node1').process;
      // The access log is written in batches (once a second): wait for its line.
      const line = /"src":\{"addr":"[^"]+","workload":"orphan-0"\}.*"responseFlags":"CONNECT","error":"[^"]*WEFT_ERR_HELD_NO_CONFIG: held \d+ ms, no config for this pod within 5000 ms/;
      await waitUntil(() => line.test(z1.stdout), 5000, () => `no access log line for the held connection: ${z1.stdout.slice(-2000)}`);
      assert.match(await m.metrics('node1'), /weft_ztunnel_fail_closed_connections_total\{direction="outbound"\} [1-9]/);
    } finally {
      await m.startController();
    }
  });
});
