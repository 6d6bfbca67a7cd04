// End-to-end: VirtualService mirror with h2c backends at the waypoint on the embedded
// cluster, driven by h2load and curl. A 100 % mirror gets every request, and its body, with
// Envoy's -shadow authority (from HTTP/2 and HTTP/1.1 clients alike);
// a 50 % mirror lands within 5 sigma of half; a mirror that never answers leaves every primary
// answer alone, and its streams are cancelled by the route timeout. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { waitUntil, type LocalMesh } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import { gateway, h2loadStatuses, skip, startShopMesh, waitForDump, waitThroughWaypoint } from './fixture.ts';

const BACKEND = fileURLToPath(new URL('./mirror-h2-backend.ts', import.meta.url));

interface Counts { seen: Record<string, number>; bytes: Record<string, number>; hang: { open: number; total: number } }

describe('mirroring to h2c backends at the waypoint', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let client: LocalPod;
  const pods: Record<'backend' | 'shadow', LocalPod | undefined> = { backend: undefined, shadow: undefined };
  const vips: Record<'h2' | 'h1' | 'probe', string> = { h2: '', h1: '', probe: '' };

  const counts = async (pod: 'backend' | 'shadow'): Promise<Counts> => {
    const r = await client.exec(['curl', '-sS', '--max-time', '5', `http://${pods[pod]?.ip ?? ''}:8082/counts`]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Counts;
  };
  /** Requests a pod answered for a path segment, by whether their authority ends in -shadow. */
  const seenFor = async (pod: 'backend' | 'shadow', segment: string): Promise<{ plain: number; shadow: number }> => {
    const out = { plain: 0, shadow: 0 };
    for (const [k, n] of Object.entries((await counts(pod)).seen)) {
      if (!k.startsWith(`${segment} `)) continue;
      if (k.endsWith('-shadow')) out.shadow += n;
      else out.plain += n;
    }
    return out;
  };
  const load = (path: string, n: number): Promise<{ ok: number; failed: number; output: string }> =>
    h2loadStatuses(client, ['-n', String(n), '-c', '4', '-m', '4', `http://${vips.h2}${path}`]);

  before(async () => {
    mesh = await startShopMesh('wpmirh2');
    const { cluster } = mesh;
    const [c, b, s] = await Promise.all([
      cluster.addPod({ namespace: 'shop', name: 'client', node: 'node1', serviceAccount: 'sleep', labels: { app: 'sleep' } }),
      cluster.addPod({ namespace: 'shop', name: 'backend', node: 'node2', serviceAccount: 'backend', labels: { app: 'backend' } }),
      cluster.addPod({ namespace: 'shop', name: 'shadow', node: 'node2', serviceAccount: 'shadow', labels: { app: 'shadow' } }),
    ]);
    client = c;
    pods.backend = b;
    pods.shadow = s;
    await Promise.all([b, s].map((p) => p.spawn([process.execPath, BACKEND, 'serve'], { label: `shop/${p.name}:mirror-h2` }).waitForLine('ready', 15_000)));
    const add = async (name: string, app: string, targetPort: number, appProtocol: string): Promise<string> =>
      (await cluster.addService({ namespace: 'shop', name, selector: { app }, ports: [{ port: 80, targetPort, name: appProtocol, appProtocol }] })).vip;
    vips.h2 = await add('h2', 'backend', 8081, 'kubernetes.io/h2c');
    await add('mirror', 'shadow', 8081, 'kubernetes.io/h2c');
    await add('hang', 'shadow', 8083, 'kubernetes.io/h2c');
    vips.probe = await add('probe', 'backend', 8082, 'http');
    // An HTTP/1.1 Service (the counts port answers any path) whose requests are mirrored to h2c.
    vips.h1 = await add('h1', 'backend', 8082, 'http');
    await mesh.apply('vs-h1.yaml', {
      apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'h1', namespace: 'shop' },
      spec: { hosts: ['h1'], http: [{ route: [{ destination: { host: 'h1' } }], mirror: { host: 'mirror' } }] },
    });
    await mesh.apply('vs-h2.yaml', {
      apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'h2', namespace: 'shop' },
      spec: {
        hosts: ['h2'],
        http: [
          { match: [{ uri: { prefix: '/half' } }], route: [{ destination: { host: 'h2' } }], mirror: { host: 'mirror' }, mirrorPercentage: { value: 50 } },
          { match: [{ uri: { prefix: '/hang' } }], timeout: '2s', route: [{ destination: { host: 'h2' } }], mirror: { host: 'hang' } },
          { route: [{ destination: { host: 'h2' } }], mirror: { host: 'mirror' } },
        ],
      },
    });
    await mesh.waitForEnrollment(client);
    await mesh.apply('waypoint.yaml', gateway);
    await waitThroughWaypoint(mesh, client, `http://${vips.probe}/counts`);
    await waitForDump(mesh, 'the mirroring routes', (d) => d.includes('/hang') && d.includes('h1.shop.svc.cluster.local'));
  });

  after(async () => {
    await mesh?.stop();
  });

  test('a 100 % mirror gets every request once, with the -shadow authority; the client gets the primary answers', async () => {
    const r = await load('/all', 200);
    assert.deepEqual({ ok: r.ok, failed: r.failed }, { ok: 200, failed: 0 }, r.output);
    assert.deepEqual(await seenFor('backend', 'all'), { plain: 200, shadow: 0 });
    let last = { plain: 0, shadow: 0 };
    await waitUntil(async () => (last = await seenFor('shadow', 'all')).shadow >= 200, 15_000, () => `the mirror got ${JSON.stringify(last)}`);
    assert.deepEqual(await seenFor('shadow', 'all'), { plain: 0, shadow: 200 });
  });

  test('a body goes to the mirror whole; past the 1 MiB copy bound the mirror is skipped and the primary still gets it all', async () => {
    const post = async (segment: string, size: number): Promise<string> => {
      const r = await client.exec(['sh', '-c', `head -c ${size} /dev/zero | curl -sS --max-time 20 --http2-prior-knowledge --data-binary @- -o /dev/null -w '%{http_code}' http://${vips.h2}/${segment}`]);
      return r.stdout + r.stderr;
    };
    const bytesFor = (c: Counts, segment: string, shadow: boolean): number =>
      Object.entries(c.bytes).filter(([k]) => k.startsWith(`${segment} `) && k.endsWith('-shadow') === shadow).reduce((n, [, b]) => n + b, 0);
    assert.equal(await post('body', 40_000), '200');
    let mirrored = 0;
    await waitUntil(async () => (mirrored = bytesFor(await counts('shadow'), 'body', true)) >= 40_000, 15_000, () => `the mirror got ${mirrored} body bytes`);
    assert.equal(mirrored, 40_000);
    const big = 2 * 1024 * 1024;
    assert.equal(await post('big', big), '200');
    assert.equal(bytesFor(await counts('backend'), 'big', false), big);
    // Mirrors to one Service from one client share a session, in order: once the next one is in, the big one would be too.
    assert.equal(await post('after', 10), '200');
    await waitUntil(async () => (await seenFor('shadow', 'after')).shadow === 1, 15_000, () => 'the mirror never got the request after the big one');
    assert.deepEqual(await seenFor('shadow', 'big'), { plain: 0, shadow: 0 });
  });

  test('an HTTP/1.1 request mirrored to an h2c Service arrives there over HTTP/2 with the -shadow authority', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await client.exec(['curl', '-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', `http://${vips.h1}/viah1`]);
      assert.equal(r.stdout, '200', r.stderr);
    }
    let last = { plain: 0, shadow: 0 };
    await waitUntil(async () => (last = await seenFor('shadow', 'viah1')).shadow >= 5, 15_000, () => `the mirror got ${JSON.stringify(last)}`);
    assert.deepEqual(last, { plain: 0, shadow: 5 });
  });

  test('a 50 % mirror over 400 requests lands within 5 sigma of 200 (sigma = sqrt(400 * 0.5 * 0.5) = 10)', async () => {
    const n = 400;
    const r = await load('/half', n);
    assert.deepEqual({ ok: r.ok, failed: r.failed }, { ok: n, failed: 0 }, r.output);
    const low = n / 2 - 5 * Math.sqrt(n * 0.25);
    const high = n / 2 + 5 * Math.sqrt(n * 0.25);
    let last = { plain: 0, shadow: 0 };
    await waitUntil(async () => (last = await seenFor('shadow', 'half')).shadow >= low, 15_000, () => `the mirror got ${JSON.stringify(last)}`);
    const got = (await seenFor('shadow', 'half')).shadow;
    assert.ok(got >= low && got <= high, `${got} of ${n} mirrored, outside [${low}, ${high}]`);
  });

  test('a mirror that never answers leaves every primary answer alone; its streams are cancelled at the route timeout', async () => {
    const r = await load('/hang', 64);
    assert.deepEqual({ ok: r.ok, failed: r.failed }, { ok: 64, failed: 0 }, r.output);
    assert.equal((await seenFor('backend', 'hang')).plain, 64);
    await waitUntil(async () => (await counts('shadow')).hang.total >= 1, 15_000, () => 'the silent mirror never got a request');
    const { hang } = await counts('shadow');
    assert.ok(hang.total <= 64, `${hang.total} mirrored streams for 64 requests`);
    // The 2 s route timeout cancels each one: none stays open.
    let open = hang.open;
    await waitUntil(async () => (open = (await counts('shadow')).hang.open) === 0, 30_000, () => `${open} mirror streams still open`);
  });
});
