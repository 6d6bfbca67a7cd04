// End-to-end: many short connections at once through the mesh, as a load test would open
// them (h2load, HTTP/1.1, Connection: close, 200 clients) from an enrolled pod to a pod on
// another node. Every request must succeed: the HBONE pool must never open more streams on
// a session than the peer allows, and a stream the peer refuses unprocessed is retried.
// Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEcho } from '#local/echo.ts';
import { LocalMesh } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';

const skip = process.getuid?.() === 0 ? false : 'needs root (network namespaces, iptables)';

describe('concurrent short connections through the mesh', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let client: LocalPod;
  let vip: string;

  before(async () => {
    mesh = await LocalMesh.start({ name: 'ztcc', nodes: 2 });
    const { cluster } = mesh;
    await mesh.enrollNamespace('load');
    const [c, server] = await Promise.all([
      cluster.addPod({ namespace: 'load', name: 'client', node: 'node1' }),
      cluster.addPod({ namespace: 'load', name: 'server', node: 'node2', labels: { app: 'server' } }),
    ]);
    client = c;
    await startEcho(server);
    vip = (await cluster.addService({ namespace: 'load', name: 'server', selector: { app: 'server' }, ports: [{ port: 80, targetPort: 8080, name: 'http' }] })).vip;
    await Promise.all([mesh.waitForEnrollment(client), mesh.waitForEnrollment(server)]);
  });

  after(async () => {
    await mesh?.stop();
  });

  for (const clients of [200, 500]) {
    test(`h2load --h1 -c ${clients} with Connection: close: no request fails`, async () => {
      const n = clients * 10;
      const r = await client.exec(['h2load', '--h1', '-n', String(n), '-c', String(clients), '-H', 'Connection: close', `http://${vip}/bytes/64`]);
      assert.equal(r.code, 0, r.stderr);
      const errors = [...new Set([...(mesh?.ztunnels ?? [])].flatMap((z) => (z.process.stdout + z.process.stderr).split("\n").filter((l) => l.includes("error")).map((l) => (/"error":"([^"]*)"/.exec(l)?.[1] ?? l).replace(/\d+\.\d+\.\d+\.\d+:\d+/g, "A"))))].slice(0, 8);
      assert.match(r.stdout, new RegExp(`requests: ${n} total, ${n} started, ${n} done, ${n} succeeded, 0 failed, 0 errored, 0 timeout`), `${r.stdout}\n${errors.join("\n")}`);
    });
  }
});
