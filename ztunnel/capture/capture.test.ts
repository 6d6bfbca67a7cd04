// Root-only end-to-end test of in-pod capture: a "pod" and a "peer" namespace joined by a veth;
// capture installed in the pod; ztunnel-like listeners on 15001/15006/15008 opened inside the
// pod with the native addon. Checks redirection, the exemptions, the transparent reply path,
// exact removal, and finding namespaces by address and by a pod's cgroup.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdir, rmdir, stat, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import { PROBE_SOURCE, Ports, ZTUNNEL_MARK } from '#core/ports.ts';
import { connectInNetns, listenInNetns, originalDst, type Endpoint } from '#ztunnel/native/index.ts';
import { NetnsFixture, isRoot, readAll, sh } from '#ztunnel/native/netns-fixture.ts';
import { captureInstalled, findNetnsByAddress, findPodNetns, installCapture, removeCapture } from './index.ts';

const POD_IP = '198.18.3.2';
const PEER_IP = '198.18.3.1';
const APP_PORT = 8080;
const PEER_PORT = 9090;
const skip = isRoot ? false : 'needs root (network namespaces, iptables)';

interface Arrival { listener: string; remote: string; dst: Endpoint }

async function save(path: string): Promise<string> {
  return sh('nsenter', [`--net=${path}`, 'iptables-save']);
}

describe('in-pod capture', { skip }, () => {
  const fixture = new NetnsFixture('c');
  let pod = { name: '', path: '' };
  let peer = { name: '', path: '' };
  const servers: net.Server[] = [];
  const arrivals: Arrival[] = [];
  let hidden: ChildProcess | undefined;
  const twins: ChildProcess[] = [];
  const cgroups: string[] = [];

  /** A process in a namespace of its own, nobody naming it, with ip on a veth. */
  async function unnamedNetns(ip: string): Promise<ChildProcess> {
    const child = spawn('unshare', ['--net', 'sh', '-c',
      `ip link add h0 type veth peer name h1 && ip addr add ${ip}/24 dev h0 && echo ready && exec sleep 60`],
    { stdio: ['ignore', 'pipe', 'inherit'] });
    const [ready] = await once(child.stdout ?? child, 'data') as [Buffer];
    assert.equal(ready.toString().trim(), 'ready');
    return child;
  }

  /**
   * A ztunnel-like listener in the pod: records the arrival, then proxies like ztunnel would
   * (outbound: to the original destination; inbound: to the app from the caller's address),
   * or just closes (hbone, where there is nothing to terminate here).
   */
  async function ztunnelListener(name: string, port: number, mode: 'passthrough' | 'transparent' | 'close'): Promise<void> {
    const server = await listenInNetns(pod.path, { address: '0.0.0.0', port, mark: ZTUNNEL_MARK, reusePort: true });
    servers.push(server);
    server.on('connection', (downstream) => {
      const dst = originalDst(downstream);
      const remote = downstream.remoteAddress ?? '?';
      arrivals.push({ listener: name, remote, dst });
      if (mode === 'close') {
        downstream.destroy();
        return;
      }
      connectInNetns(pod.path, {
        host: dst.address, port: dst.port, mark: ZTUNNEL_MARK, timeoutMs: 2000,
        ...(mode === 'transparent' ? { localAddress: remote, transparent: true } : {}),
      }).then((upstream) => {
        downstream.pipe(upstream).pipe(downstream);
        upstream.on('error', () => downstream.destroy());
        downstream.on('error', () => upstream.destroy());
      }, () => downstream.destroy());
    });
  }

  /** An app that greets with the address it sees the caller come from. */
  async function greeter(ns: string, address: string, port: number): Promise<net.Server> {
    const server = await listenInNetns(ns, { address, port });
    servers.push(server);
    server.on('connection', (s) => s.end(`hello ${s.remoteAddress ?? '?'} from ${address}:${port}`));
    return server;
  }

  before(async () => {
    pod = await fixture.add('p');
    peer = await fixture.add('q');
    await fixture.veth({ ns: pod.name, address: `${POD_IP}/24` }, { ns: peer.name, address: `${PEER_IP}/24` });
    // Probes come from the host's SNAT address; here the peer plays the host.
    await sh('ip', ['-n', peer.name, 'addr', 'add', `${PROBE_SOURCE}/32`, 'dev', 'lo']);
    await sh('ip', ['-n', pod.name, 'route', 'add', `${PROBE_SOURCE}/32`, 'via', PEER_IP]);
    await installCapture(pod.path);
    await installCapture(pod.path); // a second install replaces the first
    await ztunnelListener('outbound', Ports.outbound, 'passthrough');
    await ztunnelListener('inbound', Ports.inboundPlaintext, 'transparent');
    await ztunnelListener('hbone', Ports.hbone, 'close');
    await greeter(pod.path, POD_IP, APP_PORT);
    await greeter(peer.path, PEER_IP, PEER_PORT);
  });

  after(async () => {
    hidden?.kill();
    for (const t of twins) t.kill();
    for (const t of twins) if (t.exitCode === null && t.signalCode === null) await once(t, 'exit');
    for (const dir of cgroups.reverse()) await rmdir(dir).catch(() => undefined);
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
    await fixture.dispose();
  });

  test('install is complete and idempotent', async () => {
    assert.equal(await captureInstalled(pod.path), true);
    assert.equal(await captureInstalled(peer.path), false);
    const dump = await save(pod.path);
    assert.equal(dump.match(/^-A PREROUTING -j WEFT_PREROUTING$/gm)?.length, 2, 'one hook in nat and one in mangle');
    assert.equal(dump.match(/^-A OUTPUT -j WEFT_OUTPUT$/gm)?.length, 2);
    const rules = await sh('ip', ['-n', pod.name, 'rule', 'show']);
    assert.equal(rules.match(/fwmark 0x111\/0xfff lookup 100/g)?.length, 1);
  });

  test('outbound from the app is redirected to 15001 with the peer as original destination', async () => {
    arrivals.length = 0;
    const app = await connectInNetns(pod.path, { host: PEER_IP, port: PEER_PORT });
    // Passed through by a marked socket, which capture lets go to the real peer.
    assert.equal(await readAll(app), `hello ${POD_IP} from ${PEER_IP}:${PEER_PORT}`);
    assert.deepEqual(arrivals, [{ listener: 'outbound', remote: POD_IP, dst: { address: PEER_IP, port: PEER_PORT } }]);
  });

  test('inbound to the app port lands on 15006; the app sees the caller and its reply returns', async () => {
    arrivals.length = 0;
    const client = await connectInNetns(peer.path, { host: POD_IP, port: APP_PORT });
    assert.equal(await readAll(client), `hello ${PEER_IP} from ${POD_IP}:${APP_PORT}`);
    assert.deepEqual(arrivals, [{ listener: 'inbound', remote: PEER_IP, dst: { address: POD_IP, port: APP_PORT } }]);
  });

  test('15008 is not redirected', async () => {
    arrivals.length = 0;
    const client = await connectInNetns(peer.path, { host: POD_IP, port: Ports.hbone });
    await once(client, 'close');
    assert.deepEqual(arrivals, [{ listener: 'hbone', remote: PEER_IP, dst: { address: POD_IP, port: Ports.hbone } }]);
    client.destroy();
  });

  test('ztunnel-marked sockets and probes are not redirected', async () => {
    arrivals.length = 0;
    const marked = await connectInNetns(pod.path, { host: PEER_IP, port: PEER_PORT, mark: ZTUNNEL_MARK });
    assert.equal(await readAll(marked), `hello ${POD_IP} from ${PEER_IP}:${PEER_PORT}`);
    const probe = await connectInNetns(peer.path, { host: POD_IP, port: APP_PORT, localAddress: PROBE_SOURCE });
    assert.equal(await readAll(probe), `hello ${PROBE_SOURCE} from ${POD_IP}:${APP_PORT}`);
    assert.deepEqual(arrivals, []);
  });

  test('findNetnsByAddress finds named namespaces and unnamed ones through /proc', async () => {
    assert.equal(await findNetnsByAddress(POD_IP), pod.path);
    assert.equal(await findNetnsByAddress(PEER_IP), peer.path);
    assert.equal(await findNetnsByAddress('198.18.3.250'), undefined);
    assert.equal(await findNetnsByAddress('127.0.0.1'), undefined, 'loopback addresses are never a pod address');
    // A namespace nobody named, held only by a running process.
    hidden = await unnamedNetns('198.18.3.99');
    const found = await findNetnsByAddress('198.18.3.99');
    assert.ok(found !== undefined && /^\/proc\/\d+\/ns\/net$/.test(found), String(found));
    assert.equal((await stat(found)).ino, (await stat(`/proc/${hidden.pid ?? 0}/ns/net`)).ino);
  });

  test('findPodNetns prefers the namespace whose cgroup names the pod, and never guesses between two', async () => {
    const uid = '5e0d7c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6';
    const ip = '198.18.3.77';
    const [a, b] = [await unnamedNetns(ip), await unnamedNetns(ip)];
    twins.push(a, b);
    const path = (c: ChildProcess) => `/proc/${c.pid ?? 0}/ns/net`;
    await assert.rejects(findNetnsByAddress(ip), /more than one network namespace/);
    // Put a into a pod's cgroup, as kubelet does (cgroupfs driver layout).
    let hierarchy: string | undefined;
    for (const h of ['/sys/fs/cgroup/pids', '/sys/fs/cgroup/unified', '/sys/fs/cgroup']) {
      if (await access(`${h}/cgroup.procs`).then(() => true, () => false)) { hierarchy = h; break; }
    }
    assert.ok(hierarchy !== undefined, 'a writable cgroup hierarchy');
    const base = `${hierarchy}/weft-up-${process.pid}`;
    for (const dir of [base, `${base}/kubepods`, `${base}/kubepods/pod${uid}`]) {
      await mkdir(dir);
      cgroups.push(dir);
    }
    await writeFile(`${base}/kubepods/pod${uid}/cgroup.procs`, String(a.pid ?? 0));
    assert.equal((await stat(await findPodNetns({ uid, ip }) ?? '')).ino, (await stat(path(a))).ino);
    assert.equal((await stat(await findPodNetns({ uid: 'another', ip }) ?? '')).ino, (await stat(path(b))).ino, 'a namespace another pod claims is not taken');
  });

  test('removeCapture leaves no weft chains, rule or route behind, and is idempotent', async () => {
    await removeCapture(pod.path);
    await removeCapture(pod.path);
    assert.equal(await captureInstalled(pod.path), false);
    assert.doesNotMatch(await save(pod.path), /WEFT_/);
    assert.doesNotMatch(await sh('ip', ['-n', pod.name, 'rule', 'show']), /0x111/);
    const table = await sh('ip', ['-n', pod.name, 'route', 'show', 'table', '100']).catch((err: unknown) => String(err));
    assert.doesNotMatch(table, /local/);
    // Traffic now goes straight to the app.
    arrivals.length = 0;
    const client = await connectInNetns(peer.path, { host: POD_IP, port: APP_PORT });
    assert.equal(await readAll(client), `hello ${PEER_IP} from ${POD_IP}:${APP_PORT}`);
    assert.deepEqual(arrivals, []);
  });
});
