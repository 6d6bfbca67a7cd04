// End-to-end: ztunnel fails closed on the embedded cluster. A ztunnel restart leaves its pods'
// capture in place, so a non-mesh client cannot reach a STRICT workload in plaintext while
// the node has no ztunnel; and a pod created while the controller is away is captured at
// once on its node (the node folder, as a CNI plugin hands pods over), refused until its
// config arrives, and served over the mesh soon after the controller is back. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEcho } from '#local/echo.ts';
import { LocalMesh } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalService } from '#local/service.ts';

const skip = process.getuid?.() === 0 ? false : 'needs root (network namespaces, iptables)';

interface ConfigDump {
  enrolledPods: { ip: string; adopted: boolean }[];
  failClosedPods: { ip: string; name: string }[];
}

/** One plaintext or mesh request; true when the app answered. */
async function reaches(from: LocalPod, url: string, timeoutS = 1): Promise<boolean> {
  const r = await from.exec(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', String(timeoutS), url]);
  return r.code === 0 && r.stdout === '200';
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 15_000, everyMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('ztunnel fails closed', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let dir: string | undefined;
  let client: LocalPod;
  let echo: LocalPod;
  let outsider: LocalPod;
  let svc: LocalService;

  const dump = async (node: string): Promise<ConfigDump> => (await mesh!.configDump(node)) as ConfigDump;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-fail-closed-'));
    mesh = await LocalMesh.start({ name: 'ztfc', nodes: 2, echo: process.env['WEFT_TEST_LOG'] === '1' });
    const { cluster } = mesh;
    await mesh.enrollNamespace('shop');
    await mesh.apply('strict.yaml', {
      apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'shop' }, spec: { mtls: { mode: 'STRICT' } },
    });
    [client, echo, outsider] = await Promise.all([
      cluster.addPod({ namespace: 'shop', name: 'client', node: 'node1', serviceAccount: 'sleep', labels: { app: 'sleep' } }),
      cluster.addPod({ namespace: 'shop', name: 'echo', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo' } }),
      cluster.addPod({ namespace: 'legacy', name: 'outsider', node: 'node1' }),
    ]);
    await startEcho(echo);
    svc = await cluster.addService({ namespace: 'shop', name: 'echo', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080, name: 'http' }] });
    await Promise.all([mesh.waitForEnrollment(client), mesh.waitForEnrollment(echo)]);
    await mesh.settle();
    await eventually('mesh traffic', () => reaches(client, `http://${svc.vip}/`));
    await eventually('STRICT to refuse plaintext', async () => !(await reaches(outsider, `http://${echo.ip}:8080/`)));
  });

  after(async () => {
    await mesh?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test('during a ztunnel restart a non-mesh pod never reaches a STRICT workload in plaintext; mesh traffic works after', async () => {
    // Requests in a loop inside the outsider pod for as long as the restart takes.
    const stop = join(dir!, 'stop-restart-probe');
    const url = `http://${echo.ip}:8080/`;
    const probing = outsider.exec(['sh', '-c',
      `while [ ! -e ${stop} ]; do c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 0.5 ${url}); echo "$(date +%s%3N) $c"; sleep 0.02; done`,
    ], { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 300));
    const began = Date.now();
    const handle = await mesh!.restartZtunnel('node2');
    const ready = Date.now();
    await new Promise((r) => setTimeout(r, 300));
    await writeFile(stop, '');
    const lines = (await probing).stdout.trim().split('\n').map((l) => l.split(' ')).map(([t, code]) => ({ at: Number(t), code: code ?? '' }));
    const during = lines.filter((l) => l.at >= began && l.at <= ready);
    const served = lines.filter((l) => l.code === '200');
    assert.ok(during.length >= 3, `only ${during.length} requests during the ${ready - began} ms restart`);
    assert.equal(served.length, 0, `${served.length} of ${lines.length} plaintext requests were served (${during.length} during the restart)`);
    process.stderr.write(`# restart took ${ready - began} ms; 0 of ${lines.length} plaintext requests served (${during.length} during the restart)\n`);

    // The new ztunnel adopted the capture it found and serves the mesh again.
    await mesh!.waitForEnrollment(echo);
    assert.equal((await dump('node2')).enrolledPods.find((p) => p.ip === echo.ip)?.adopted, true);
    assert.equal(handle.process.exitStatus, undefined);
    await eventually('mesh traffic after the restart', () => reaches(client, `http://${svc.vip}/`));
    assert.equal(await reaches(outsider, url), false, 'STRICT still refuses plaintext');
  });

  test('a pod created while the controller is away fails closed, then is served over the mesh soon after it returns', async () => {
    const m = mesh!;
    await m.stopController();
    const outageBegan = Date.now();
    // addPod returns once node2's ztunnel has the pod captured (its ack), with no controller.
    const late = await m.cluster.addPod({ namespace: 'shop', name: 'late', node: 'node2', serviceAccount: 'echo', labels: { app: 'late' } });
    await startEcho(late);
    const held = await dump('node2');
    assert.deepEqual(held.failClosedPods.map((p) => [p.name, p.ip]), [['late', late.ip]]);
    assert.ok(!held.enrolledPods.some((p) => p.ip === late.ip));

    const url = `http://${late.ip}:8080/`;
    const tries = 10;
    let served = 0;
    for (let i = 0; i < tries; i++) if (await reaches(outsider, url)) served++;
    assert.equal(served, 0, `${served} of ${tries} plaintext requests reached the new pod during the outage`);
    // A mesh client's ztunnel has no config for the pod either: refused the same way.
    assert.equal(await reaches(client, url), false);
    const metrics = await m.metrics('node2');
    const refused = Number(/weft_ztunnel_fail_closed_connections_total\{direction="inbound"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    assert.ok(refused >= tries, `refusals counted: ${refused}`);
    assert.match(metrics, /weft_ztunnel_fail_closed_pods 1/);
    const z2 = m.ztunnel('node2').process;
    assert.match(z2.stderr + z2.stdout, /connection refused: pod has no config yet \(fail closed\).*no config for this pod yet/);

    // Long enough an outage for the reconnect back-off to reach its cap.
    const left = 6000 - (Date.now() - outageBegan);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
    await m.startController();
    const returned = Date.now();
    await eventually('the new pod to be served over the mesh', () => reaches(client, url, 1), 15_000, 50);
    const servedAfterMs = Date.now() - returned;
    process.stderr.write(`# outage ${returned - outageBegan} ms; the new pod was served over the mesh ${servedAfterMs} ms after the controller returned\n`);
    assert.ok(servedAfterMs < 5000, `served ${servedAfterMs} ms after the controller returned`);

    const after = await dump('node2');
    assert.deepEqual(after.failClosedPods, []);
    assert.equal(after.enrolledPods.find((p) => p.ip === late.ip)?.adopted, true, 'enrollment adopted the capture put in place at creation');
    assert.equal(await reaches(outsider, url), false, 'STRICT refuses plaintext once the config is in');
  });
});
