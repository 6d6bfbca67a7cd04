// End-to-end test of the embedded cluster: real netns, veths, routes and DNAT, with curl and
// socat as clients. Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { isWeftError } from '#core/errors.ts';
import { LocalCluster } from '#local/cluster.ts';
import type { LocalPod } from '#local/pod.ts';
import { startEcho } from '#local/echo.ts';
import { listNetns, listRootLinks } from '#local/ip.ts';
import { findNetnsByIp } from '#local/netns-lookup.ts';
import { LocalProcess } from '#local/process.ts';
import { RUN_DIR } from '#local/ownership.ts';
import { runCommand } from '#local/run.ts';
import type { EchoReply } from '#local/apps/echo.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (network namespaces)';
const CHILD = fileURLToPath(new URL('./fixtures/cluster-child.ts', import.meta.url));

async function curlJson(from: LocalPod | undefined, url: string): Promise<EchoReply> {
  const args = ['curl', '-sS', '--max-time', '3', url];
  const res = from === undefined ? await runCommand(args[0]!, args.slice(1)) : await from.exec(args);
  assert.equal(res.code, 0, `curl ${url}: ${res.stderr}`);
  return JSON.parse(res.stdout) as EchoReply;
}

async function leftovers(prefix: string): Promise<string[]> {
  const owned = `${prefix}-`;
  return [...(await listNetns()), ...(await listRootLinks())].filter((n) => n.startsWith(owned));
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

async function yamlDoc(dir: string, file: string): Promise<Record<string, unknown>> {
  return parse(await readFile(join(dir, file), 'utf8')) as Record<string, unknown>;
}

describe('embedded cluster', { skip }, () => {
  let cluster: LocalCluster;
  let manifestDir: string;
  let client: LocalPod;
  let echo1: LocalPod;
  let echo2: LocalPod;
  const extra: LocalCluster[] = [];

  before(async () => {
    manifestDir = await mkdtemp(join(tmpdir(), 'weft-local-e2e-'));
    const began = performance.now();
    cluster = await LocalCluster.start({ name: 'e2e-local', nodes: 2, manifestDir });
    [client, echo1, echo2] = await Promise.all([
      cluster.addPod({ namespace: 'default', name: 'client', node: 'node1', serviceAccount: 'sleep' }),
      cluster.addPod({ namespace: 'default', name: 'echo-1', node: 'node1', labels: { app: 'echo' }, serviceAccount: 'echo' }),
      cluster.addPod({ namespace: 'default', name: 'echo-2', node: 'node2', labels: { app: 'echo' }, serviceAccount: 'echo' }),
      cluster.addPod({ namespace: 'other', name: 'idle', node: 'node2' }),
    ]);
    const setupMs = performance.now() - began;
    assert.ok(setupMs < 4000, `2 nodes + 4 pods took ${Math.round(setupMs)} ms`);
    await Promise.all([startEcho(echo1), startEcho(echo2)]);
  });

  after(async () => {
    for (const c of extra) await c.stop();
    await cluster?.stop();
    if (manifestDir !== undefined) await rm(manifestDir, { recursive: true, force: true });
  });

  test('pods get addresses from their node\'s CIDR, named netns under /var/run/netns', async () => {
    assert.equal(cluster.node('node1').podCidr, '10.' + cluster.podCidr.split('.')[1] + '.1.0/24');
    assert.ok(client.ip.startsWith(cluster.node('node1').podCidr.replace(/0\/24$/, '')));
    assert.ok(echo2.ip.startsWith(cluster.node('node2').podCidr.replace(/0\/24$/, '')));
    assert.equal(echo2.netnsPath, `/var/run/netns/${echo2.netns}`);
    assert.ok(await exists(echo2.netnsPath));
    assert.match(echo2.uid, /^[0-9a-f-]{36}$/);
    assert.equal(cluster.podByIp(echo2.ip), echo2);
    assert.deepEqual(await findNetnsByIp(echo2.ip, cluster.names.ownedPrefix), { netns: echo2.netns, netnsPath: echo2.netnsPath });
    assert.equal(await findNetnsByIp('10.255.255.254', cluster.names.ownedPrefix), undefined);
    const addr = await echo2.exec(['ip', '-o', '-4', 'addr', 'show', 'dev', echo2.link]);
    assert.match(addr.stdout, new RegExp(`inet ${echo2.ip.replaceAll('.', '\\.')}/32`));
  });

  test('TCP echo round trip across nodes, with half-close', async () => {
    const res = await client.exec(['socat', '-t', '3', '-', `TCP:${echo2.ip}:9000`], { input: 'hello across nodes', timeoutMs: 5000 });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'hello across nodes');
  });

  test('HTTP across nodes sees the caller\'s pod IP (no NAT between pods)', async () => {
    const reply = await curlJson(client, `http://${echo2.ip}:8080/hi`);
    assert.equal(reply.pod, 'echo-2');
    assert.equal(reply.remoteAddress, client.ip);
    assert.equal(reply.path, '/hi');
    const same = await curlJson(client, `http://${echo1.ip}:8080/`);
    assert.equal(same.pod, 'echo-1');
    assert.equal(same.remoteAddress, client.ip);
  });

  test('a Service VIP balances across ready endpoints', async () => {
    const svc = await cluster.addService({
      namespace: 'default', name: 'echo', selector: { app: 'echo' },
      ports: [{ port: 80, targetPort: 8080, name: 'http', appProtocol: 'http' }, { port: 9000, targetPort: 9000, name: 'tcp' }],
    });
    assert.ok(svc.vip.startsWith(cluster.serviceCidr.split('.').slice(0, 2).join('.') + '.'));
    const seen = new Set<string>();
    for (let i = 0; i < 16 && seen.size < 2; i++) {
      const reply = await curlJson(client, `http://${svc.vip}/`);
      assert.ok(['echo-1', 'echo-2'].includes(reply.pod), reply.pod);
      assert.equal(reply.remoteAddress, client.ip);
      seen.add(reply.pod);
    }
    assert.equal(seen.size, 2, 'both endpoints answered');
    const tcp = await client.exec(['socat', '-t', '3', '-', `TCP:${svc.vip}:9000`], { input: 'via vip', timeoutMs: 5000 });
    assert.equal(tcp.stdout, 'via vip');
    // A pod reaching itself through the VIP (hairpin) works too.
    await cluster.setPodReady(echo2, false);
    assert.equal((await curlJson(echo1, `http://${svc.vip}/`)).pod, 'echo-1');
    await cluster.setPodReady(echo2, true);
  });

  test('endpoints follow pods added and removed later', async () => {
    const svc = await cluster.addService({ namespace: 'default', name: 'solo', selector: { app: 'solo' }, ports: [{ port: 80, targetPort: 8080 }] });
    const fails = await client.exec(['curl', '-sS', '--max-time', '2', `http://${svc.vip}/`]);
    assert.notEqual(fails.code, 0, 'no endpoint yet');
    const solo = await cluster.addPod({ namespace: 'default', name: 'solo', node: 'node2', labels: { app: 'solo' } });
    await startEcho(solo);
    assert.equal((await curlJson(client, `http://${svc.vip}/`)).pod, 'solo');
    const slice = await yamlDoc(manifestDir, 'endpointslice-default-solo.yaml') as { endpoints: { addresses: string[] }[] };
    assert.deepEqual(slice.endpoints.map((e) => e.addresses[0]), [solo.ip]);
    await cluster.removePod(solo);
    assert.equal(await exists(solo.netnsPath), false);
    const after = await yamlDoc(manifestDir, 'endpointslice-default-solo.yaml') as { endpoints: unknown[] };
    assert.deepEqual(after.endpoints, []);
    assert.equal(await exists(join(manifestDir, 'pod-default-solo.yaml')), false);
    assert.notEqual((await client.exec(['curl', '-sS', '--max-time', '2', `http://${svc.vip}/`])).code, 0);
    await cluster.removeService(svc);
    assert.equal(await exists(join(manifestDir, 'service-default-solo.yaml')), false);
    assert.equal(await exists(join(manifestDir, 'endpointslice-default-solo.yaml')), false);
  });

  test('the root netns reaches pods and VIPs through the host link', async () => {
    assert.ok(cluster.hostIp !== undefined);
    const direct = await curlJson(undefined, `http://${echo2.ip}:8080/`);
    assert.equal(direct.remoteAddress, cluster.hostIp);
    const svc = cluster.service('default', 'echo');
    assert.ok(svc !== undefined);
    for (let i = 0; i < 4; i++) assert.ok(['echo-1', 'echo-2'].includes((await curlJson(undefined, `http://${svc.vip}/`)).pod));
  });

  test('manifests report pods, services, endpoint slices and nodes', async () => {
    const files = await readdir(manifestDir);
    for (const f of ['node-node1.yaml', 'node-node2.yaml', 'pod-default-client.yaml', 'pod-default-echo-2.yaml', 'pod-other-idle.yaml',
      'service-default-echo.yaml', 'endpointslice-default-echo.yaml']) assert.ok(files.includes(f), f);
    assert.ok(!files.some((f) => f.endsWith('.tmp')));
    const pod = await yamlDoc(manifestDir, 'pod-default-echo-2.yaml') as {
      metadata: { uid: string; labels: Record<string, string> }; spec: { nodeName: string; serviceAccountName: string };
      status: { podIP: string; hostIP: string; phase: string };
    };
    assert.equal(pod.metadata.uid, echo2.uid);
    assert.deepEqual(pod.metadata.labels, { app: 'echo' });
    assert.equal(pod.spec.nodeName, 'node2');
    assert.equal(pod.spec.serviceAccountName, 'echo');
    assert.equal(pod.status.podIP, echo2.ip);
    assert.equal(pod.status.hostIP, cluster.node('node2').ip);
    assert.equal(pod.status.phase, 'Running');
    const svc = await yamlDoc(manifestDir, 'service-default-echo.yaml') as { spec: { clusterIP: string; ports: { appProtocol?: string }[] } };
    assert.equal(svc.spec.clusterIP, cluster.service('default', 'echo')?.vip);
    assert.equal(svc.spec.ports[0]?.appProtocol, 'http');
    const slice = await yamlDoc(manifestDir, 'endpointslice-default-echo.yaml') as {
      endpoints: { addresses: string[]; nodeName: string; targetRef: { name: string; uid: string }; conditions: { ready: boolean } }[];
    };
    assert.deepEqual(slice.endpoints.map((e) => [e.addresses[0], e.nodeName, e.targetRef.name, e.conditions.ready]).sort(),
      [[echo1.ip, 'node1', 'echo-1', true], [echo2.ip, 'node2', 'echo-2', true]].sort());
    const node = await yamlDoc(manifestDir, 'node-node1.yaml') as { status: { addresses: { type: string; address: string }[] } };
    assert.deepEqual(node.status.addresses[0], { type: 'InternalIP', address: cluster.node('node1').ip });
  });

  test('bad input gives clear errors and leaves nothing behind', async () => {
    await assert.rejects(LocalCluster.start({ name: 'e2e-local', nodes: 1 }), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_NAME_IN_USE'));
    assert.ok(await exists(cluster.node('node1').netnsPath), 'the running cluster is untouched');
    await assert.rejects(cluster.addPod({ namespace: 'default', name: 'lost', node: 'node9' }),
      (e) => isWeftError(e, 'WEFT_ERR_LOCAL_UNKNOWN_NODE') && /node1, node2/.test(e.message));
    await assert.rejects(cluster.addPod({ namespace: 'default', name: 'echo-1', node: 'node1' }), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_POD_EXISTS'));
    await assert.rejects(cluster.addPod({ namespace: 'Bad_NS', name: 'x', node: 'node1' }), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_BAD_NAME'));
    assert.ok(!(await listNetns()).some((n) => n.endsWith('.lost') || n.includes('Bad_NS')));

    const tiny = await LocalCluster.start({ name: 'e2e-tiny', nodes: 1, podCidrPrefix: 30 });
    extra.push(tiny);
    await tiny.addPod({ namespace: 'default', name: 'only', node: 'node1' });
    await assert.rejects(tiny.addPod({ namespace: 'default', name: 'one-too-many', node: 'node1' }),
      (e) => isWeftError(e, 'WEFT_ERR_LOCAL_CIDR_EXHAUSTED'));
    const tinyNetns = (await listNetns()).filter((n) => n.startsWith(`${tiny.prefix}-`));
    assert.deepEqual(tinyNetns.sort(), [`${tiny.prefix}-default.only`, `${tiny.prefix}-node1`, `${tiny.prefix}-underlay`]);
  });

  test('two clusters at once use apart ranges and both work', async () => {
    const other = await LocalCluster.start({ name: 'e2e-local-b', nodes: 1 });
    extra.push(other);
    assert.notEqual(other.index, cluster.index);
    assert.notEqual(other.prefix, cluster.prefix);
    assert.notEqual(other.podCidr, cluster.podCidr);
    assert.notEqual(other.serviceCidr, cluster.serviceCidr);
    const pod = await other.addPod({ namespace: 'default', name: 'echo-1', node: 'node1', labels: { app: 'echo' } });
    await startEcho(pod);
    const svc = await other.addService({ namespace: 'default', name: 'echo', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080 }] });
    assert.equal((await curlJson(undefined, `http://${svc.vip}/`)).remoteAddress, other.node('node1').ip);
    await other.stop();
    assert.deepEqual(await leftovers(other.prefix), []);
    // The first cluster is unaffected.
    assert.equal((await curlJson(client, `http://${echo2.ip}:8080/`)).remoteAddress, client.ip);
  });

  test('Ctrl-C with signal handlers cleans up; a crash leaves leftovers that the next start sweeps', async () => {
    const run = (name: string, handlers: string): LocalProcess =>
      new LocalProcess(process.execPath, [CHILD, name, handlers], `child:${name}`);
    const polite = run('e2e-sigint', 'yes');
    const crash = run('e2e-crash', 'no');
    try {
      const [p1, p2] = await Promise.all([polite.waitForLine(/^up /, 10_000), crash.waitForLine(/^up /, 10_000)]);
      const prefix1 = p1.slice(3);
      const prefix2 = p2.slice(3);
      process.kill(polite.pid, 'SIGINT');
      assert.equal((await polite.exited).code, 130);
      assert.deepEqual(await leftovers(prefix1), []);
      assert.equal(await exists(join(RUN_DIR, 'e2e-sigint')), false);

      process.kill(crash.pid, 'SIGKILL');
      await crash.exited;
      assert.ok((await leftovers(prefix2)).length > 0, 'a crash leaves its netns');
      const again = await LocalCluster.start({ name: 'e2e-crash', nodes: 1 });
      extra.push(again);
      const netns = (await listNetns()).filter((n) => n.startsWith(`${prefix2}-`));
      assert.ok(!netns.includes(`${prefix2}-default.sleeper`), 'the old pod was swept');
      await again.stop();
      assert.deepEqual(await leftovers(prefix2), []);
    } finally {
      await polite.stop();
      await crash.stop();
      await LocalCluster.sweep('e2e-crash').catch(() => undefined);
      await LocalCluster.sweep('e2e-sigint').catch(() => undefined);
    }
  });

  test('stop() removes every netns, link, rule, claim and manifest, and is idempotent', async () => {
    const prefix = cluster.prefix;
    const nodeNetns = cluster.node('node1').netnsPath;
    await cluster.stop();
    await cluster.stop();
    assert.deepEqual(await leftovers(prefix), []);
    assert.equal(await exists(nodeNetns), false);
    assert.equal(await exists(`/var/run/netns/${prefix}-underlay`), false);
    assert.equal(await exists(join(RUN_DIR, 'e2e-local')), false);
    assert.deepEqual(await readdir(manifestDir), []);
    const ruleLines = (await runCommand('iptables-save', [])).stdout.split('\n').filter((l) => l.includes(`${prefix}-`));
    assert.deepEqual(ruleLines, [], 'no rule of the cluster in the root netns');
    await assert.rejects(cluster.addPod({ namespace: 'default', name: 'late', node: 'node1' }), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_STOPPED'));
  });
});
