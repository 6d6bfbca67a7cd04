// End-to-end: the controller's admin port on the embedded cluster is reachable from the host
// (the operator, the tests, the demo) for everything, and from pods for health, status and the
// dashboard, but never for the whole mesh model (/debug). Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalMesh } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';

const skip = process.getuid?.() === 0 ? false : 'needs root (network namespaces, iptables)';

describe('controller admin access', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let pod: LocalPod;

  before(async () => {
    mesh = await LocalMesh.start({ name: 'ctladm', nodes: 1 });
    pod = await mesh.cluster.addPod({ namespace: 'default', name: 'curious', node: 'node1' });
  });

  after(async () => {
    await mesh?.stop();
  });

  test('/debug/model answers the host and refuses a pod with 403', async () => {
    const url = mesh?.controllerAdminUrl ?? '';
    const fromHost = await fetch(`${url}/debug/model`);
    assert.equal(fromHost.status, 200);
    assert.equal(((await fromHost.json()) as { built?: boolean }).built, true);
    const fromPod = await pod.exec(['curl', '-sS', '--max-time', '3', '-o', '/dev/null', '-w', '%{http_code}', `${url}/debug/model`]);
    assert.equal(fromPod.stdout, '403', fromPod.stderr);
    const health = await pod.exec(['curl', '-sS', '--max-time', '3', `${url}/healthz`]);
    assert.equal(health.stdout, 'ok\n', health.stderr);
  });
});
