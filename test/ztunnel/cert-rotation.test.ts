// End-to-end on the embedded cluster, with a controller signing 10 s workload certificates
// (--workload-cert-ttl, Istio's DEFAULT_WORKLOAD_CERT_TTL): traffic between two nodes keeps
// flowing while both ends' certificates rotate at least three times, on long-lived and on
// new connections, and pods enrolled mid-run get a current certificate. Also: settle() returns
// after a change that reaches one node only. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEcho } from '#local/echo.ts';
import { LocalMesh } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';

const skip = process.getuid?.() === 0 ? false : 'needs root (network namespaces, iptables)';
const TTL_SECONDS = 10;
const LOAD_SECONDS = 32;
const CLIENT_ID = 'spiffe://cluster.local/ns/rot/sa/client';
const SERVER_ID = 'spiffe://cluster.local/ns/rot/sa/server';

interface CertDump { certificates?: { identity?: string; notAfter?: string }[] }

/** Parses h2load's summary line; undefined when it is missing. */
function h2loadCounts(out: string): { total: number; succeeded: number; failed: number; errored: number; timeout: number } | undefined {
  const m = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  if (m === null) return undefined;
  return { total: Number(m[1]), succeeded: Number(m[2]), failed: Number(m[3]), errored: Number(m[4]), timeout: Number(m[5]) };
}

describe('workload certificate rotation under load', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let client: LocalPod;
  let vip: string;

  before(async () => {
    mesh = await LocalMesh.start({ name: 'ztrot', nodes: 2, controllerArgs: ['--workload-cert-ttl', `${TTL_SECONDS}s`] });
    const { cluster } = mesh;
    await mesh.enrollNamespace('rot');
    const [c, server] = await Promise.all([
      cluster.addPod({ namespace: 'rot', name: 'client', node: 'node1', serviceAccount: 'client' }),
      cluster.addPod({ namespace: 'rot', name: 'server', node: 'node2', serviceAccount: 'server', labels: { app: 'server' } }),
    ]);
    client = c;
    await startEcho(server);
    vip = (await cluster.addService({ namespace: 'rot', name: 'server', selector: { app: 'server' }, ports: [{ port: 80, targetPort: 8080, name: 'http' }] })).vip;
    await Promise.all([mesh.waitForEnrollment(client), mesh.waitForEnrollment(server)]);
  });

  after(async () => {
    await mesh?.stop();
  });

  test(`≥ 3 rotations of both identities with ${TTL_SECONDS} s certificates, 0 failed requests`, { timeout: 120_000 }, async (t) => {
    const m = mesh;
    assert.ok(m !== undefined);
    // Every certificate either ztunnel held, by identity (its notAfter tells one from the next).
    const seen = new Map<string, Set<string>>([[CLIENT_ID, new Set()], [SERVER_ID, new Set()]]);
    let watching = true;
    const watch = (async () => {
      while (watching) {
        for (const node of ['node1', 'node2']) {
          const dump = (await m.configDump(node).catch(() => ({}))) as CertDump;
          for (const c of dump.certificates ?? []) if (c.identity !== undefined && c.notAfter !== undefined) seen.get(c.identity)?.add(c.notAfter);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    })();

    // Long-lived connections (keep-alive, paced) and bursts of a new connection per request,
    // side by side. (h2load's timed mode never ends with Connection: close, hence the bursts.)
    const url = `http://${vip}/bytes/256`;
    const steady = client.exec(['h2load', '--h1', '-c', '4', '--rps', '10', '-D', String(LOAD_SECONDS), '-N', '10', url]);
    const loadEnds = Date.now() + LOAD_SECONDS * 1000;
    const bursts: { code: number | null; out: string }[] = [];
    const churn = (async () => {
      while (Date.now() < loadEnds) {
        const r = await client.exec(['h2load', '--h1', '-n', '40', '-c', '4', '-N', '10', '-H', 'Connection: close', url], { timeoutMs: 30_000 });
        bursts.push({ code: r.code, out: r.stdout + r.stderr });
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    })();
    // Pods enrolled mid-run open new HBONE sessions, so handshakes happen with rotated certificates too.
    const fresh: { name: string; code: number | null; out: string }[] = [];
    for (let i = 1; i <= 3; i++) {
      await new Promise((r) => setTimeout(r, 7000));
      const probe = await m.cluster.addPod({ namespace: 'rot', name: `probe-${i}`, node: 'node1', serviceAccount: 'client' });
      await m.waitForEnrollment(probe);
      const r = await probe.exec(['h2load', '--h1', '-n', '40', '-c', '4', '-N', '10', '-H', 'Connection: close', url], { timeoutMs: 30_000 });
      fresh.push({ name: probe.name, code: r.code, out: r.stdout + r.stderr });
    }
    const [a] = await Promise.all([steady, churn]);
    watching = false;
    await watch;

    const n = h2loadCounts(a.stdout);
    assert.ok(n !== undefined, `keep-alive: ${a.stdout}${a.stderr}`);
    assert.ok(n.total >= LOAD_SECONDS * 30, `keep-alive: only ${n.total} requests`);
    assert.deepEqual({ failed: n.failed, errored: n.errored, timeout: n.timeout, succeeded: n.succeeded }, { failed: 0, errored: 0, timeout: 0, succeeded: n.total }, `keep-alive: ${a.stdout}`);
    assert.ok(bursts.length >= 10, `only ${bursts.length} connection-close bursts`);
    for (const burst of bursts) {
      assert.equal(burst.code, 0, burst.out);
      assert.deepEqual(h2loadCounts(burst.out), { total: 40, succeeded: 40, failed: 0, errored: 0, timeout: 0 }, burst.out);
    }
    for (const f of fresh) {
      assert.equal(f.code, 0, `${f.name}: ${f.out}`);
      assert.deepEqual(h2loadCounts(f.out), { total: 40, succeeded: 40, failed: 0, errored: 0, timeout: 0 }, `${f.name}: ${f.out}`);
    }
    t.diagnostic(`requests: ${n.total} keep-alive, ${bursts.length * 40} connection-close, ${fresh.length * 40} from fresh pods; `
      + `certificates seen: ${[...seen].map(([id, c]) => `${id.split('/').pop() ?? id} ${c.size}`).join(', ')}`);
    for (const [identity, certs] of seen) {
      // The first certificate plus three renewals at least.
      assert.ok(certs.size >= 4, `${identity}: ${certs.size} certificates seen (${[...certs].join(', ')})`);
    }
  });

  test('settle() returns after a change that reaches only one node', { timeout: 60_000 }, async () => {
    const m = mesh;
    assert.ok(m !== undefined);
    await m.settle();
    // A policy in a namespace whose only pod runs on node1: node2's view does not change.
    await m.enrollNamespace('solo');
    const solo = await m.cluster.addPod({ namespace: 'solo', name: 'solo', node: 'node1' });
    await m.waitForEnrollment(solo);
    await m.settle();
    type Status = { clients: { id: string; version?: number }[] };
    const status = async (): Promise<Status> => (await (await fetch(`${m.controllerAdminUrl}/status`)).json()) as Status;
    const version = (s: Status, id: string): number => s.clients.find((c) => c.id === id)?.version ?? 0;
    const before = await status();
    await m.apply('solo-policy.yaml', {
      apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-nothing', namespace: 'solo' },
      spec: { action: 'DENY', rules: [{ to: [{ operation: { ports: ['1'] } }] }] },
    });
    const deadline = Date.now() + 10_000;
    while (version(await status(), 'ztunnel/node1') === version(before, 'ztunnel/node1')) {
      assert.ok(Date.now() < deadline, 'node1 never took the policy');
      await new Promise((r) => setTimeout(r, 100));
    }
    // The proxies now rest at different versions; settle() must see that as quiet.
    await m.settle(10_000);
    const after = await status();
    assert.ok(version(after, 'ztunnel/node1') > version(before, 'ztunnel/node1'), 'node1 took the policy');
    assert.equal(version(after, 'ztunnel/node2'), version(before, 'ztunnel/node2'), 'node2 was not pushed anything');
  });
});
