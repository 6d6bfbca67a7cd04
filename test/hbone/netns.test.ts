// End-to-end: HBONE between two network namespaces of the embedded cluster. A client in a pod
// on node1 tunnels to an HBONE server listening inside a pod on node2, across the underlay, and
// a capture on the server pod's interface shows the payload never crosses the wire in the
// clear (with a plaintext control run, so the check can fail). Needs root and tcpdump.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { testPki } from '#core/ca/testing.ts';
import type { WorkloadCertificate } from '#core/certs/types.ts';
import { HbonePool } from '#core/hbone/pool.ts';
import { HboneServer, type HboneServerEvent } from '#core/hbone/server.ts';
import { LocalCluster } from '#local/cluster.ts';
import { ECHO_TCP_PORT, startEcho } from '#local/echo.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalProcess } from '#local/process.ts';
import { connectInNetns, listenInNetns } from '#ztunnel/native/index.ts';
import { tcpSegments, tcpStreams } from './pcap.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (network namespaces, tcpdump)';

const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/client';
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/server';
const HBONE_PORT = 15008;
const MARKER = Buffer.from('WEFT-PLAINTEXT-CANARY-7c1e9b');
const PAYLOAD_BYTES = 4 * 1024 * 1024;

/** MARKER every 1 KiB between random bytes: easy to find in the clear, useless to compress. */
function markedPayload(bytes: number): Buffer {
  const block = 1024;
  const out = randomBytes(bytes);
  for (let at = 0; at + MARKER.length <= bytes; at += block) MARKER.copy(out, at);
  return out;
}

/** Writes payload, half-closes, and resolves with everything read back until the far end closes. */
async function roundTrip(stream: Duplex, payload: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
  for (let at = 0; at < payload.length; at += 64 * 1024) {
    if (!stream.write(payload.subarray(at, at + 64 * 1024))) await new Promise((r) => stream.once('drain', r));
  }
  stream.end();
  return done;
}

interface Capture {
  /** Stops tcpdump and returns the capture file. */
  stop(): Promise<Buffer>;
}

async function startCapture(pod: LocalPod, file: string): Promise<{ proc: LocalProcess; capture: Capture }> {
  // tcpdump announces itself on stderr; folding it into stdout lets waitForLine see it.
  const proc = pod.spawn(['sh', '-c', `exec tcpdump -i ${pod.link} -n -U --immediate-mode -s 0 -w ${file} tcp 2>&1`], { label: `${pod.name}:tcpdump` });
  await proc.waitForLine(/listening on/, 10_000);
  return {
    proc,
    capture: {
      stop: async () => {
        // Immediate mode hands over each packet at once; the pause covers the last ACKs in flight.
        await new Promise((r) => setTimeout(r, 100));
        await proc.stop(2000);
        return readFile(file);
      },
    },
  };
}

describe('HBONE across network namespaces', { skip }, () => {
  let cluster: LocalCluster | undefined;
  let client: LocalPod;
  let server: LocalPod;
  let hbone: HboneServer | undefined;
  let listener: net.Server | undefined;
  let pool: HbonePool | undefined;
  let tmp: string | undefined;
  let clientCert: WorkloadCertificate;
  const captures: LocalProcess[] = [];
  const events: HboneServerEvent[] = [];

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'weft-hbone-netns-'));
    cluster = await LocalCluster.start({ name: 'hbnetns', nodes: 2 });
    [client, server] = await Promise.all([
      cluster.addPod({ namespace: 'default', name: 'client', node: 'node1', serviceAccount: 'client' }),
      cluster.addPod({ namespace: 'default', name: 'server', node: 'node2', serviceAccount: 'server' }),
    ]);
    await startEcho(server);
    const pki = await testPki();
    clientCert = await pki.issue(CLIENT_ID);
    const serverCert = await pki.issue(SERVER_ID);
    const serverNetns = server.netnsPath;
    hbone = new HboneServer({
      trustDomain: 'cluster.local',
      certificateFor: async () => serverCert,
      // Upstream dials happen inside the server pod, as ztunnel's inbound does.
      connectUpstream: (t) => connectInNetns(serverNetns, { host: t.host, port: t.port }),
      onTunnel: (e) => events.push(e),
    });
    listener = await listenInNetns(serverNetns, { address: server.ip, port: HBONE_PORT });
    listener.on('connection', (s: net.Socket) => hbone?.handleConnection(s));
    pool = new HbonePool();
  });

  after(async () => {
    for (const p of captures) await p.stop(500);
    await pool?.close(0);
    await hbone?.close(0);
    listener?.close();
    await cluster?.stop();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  test('pod on node1 → HBONE server in a pod on node2: byte-exact echo, client identity seen, no plaintext on the wire', async () => {
    assert.notEqual(client.node, server.node);
    const payload = markedPayload(PAYLOAD_BYTES);
    const file = join(tmp ?? '', 'hbone.pcap');
    const { proc, capture } = await startCapture(server, file);
    captures.push(proc);

    const clientNetns = client.netnsPath;
    const stream = await (pool as HbonePool).connect({
      sourceCert: clientCert,
      destinationIdentity: SERVER_ID,
      address: { host: server.ip, port: HBONE_PORT },
      authority: `${server.ip}:${ECHO_TCP_PORT}`,
      dial: (host, port) => connectInNetns(clientNetns, { host, port }),
    });
    assert.equal(stream.peerIdentity, SERVER_ID);
    const echoed = await roundTrip(stream, payload);
    assert.equal(echoed.length, payload.length);
    assert.ok(echoed.equals(payload), 'echoed bytes differ from the payload');

    const opened = events.find((e) => e.type === 'tunnel_open');
    assert.ok(opened?.type === 'tunnel_open', `no tunnel_open event; got ${events.map((e) => e.type).join(', ')}`);
    assert.equal(opened.ctx.peerIdentity, CLIENT_ID);
    assert.equal(opened.ctx.peerAddress, client.ip, 'the tunnel should arrive from the client pod, across the nodes');
    assert.equal(opened.ctx.localIdentity, SERVER_ID);

    const pcap = await capture.stop();
    const segments = tcpSegments(pcap);
    const tunnelBytes = segments
      .filter((s) => s.dstPort === HBONE_PORT || s.srcPort === HBONE_PORT)
      .reduce((n, s) => n + s.payload.length, 0);
    // Both directions of the 4 MiB (plus TLS and HTTP/2 framing) crossed this interface.
    assert.ok(tunnelBytes >= 2 * PAYLOAD_BYTES, `captured only ${tunnelBytes} bytes of tunnel traffic`);
    assert.equal(pcap.indexOf(MARKER), -1, 'marker found in the raw capture');
    for (const [flow, bytes] of tcpStreams(segments)) assert.equal(bytes.indexOf(MARKER), -1, `marker in the clear on ${flow}`);
  });

  test('control: the same payload over direct TCP shows the marker in the capture', async () => {
    const payload = markedPayload(256 * 1024);
    const file = join(tmp ?? '', 'direct.pcap');
    const { proc, capture } = await startCapture(server, file);
    captures.push(proc);
    const socket = await connectInNetns(client.netnsPath, { host: server.ip, port: ECHO_TCP_PORT });
    socket.allowHalfOpen = true;
    const echoed = await roundTrip(socket, payload);
    assert.ok(echoed.equals(payload));
    const streams = tcpStreams(tcpSegments(await capture.stop()));
    const toServer = streams.get([...streams.keys()].find((k) => k.endsWith(`>${server.ip}:${ECHO_TCP_PORT}`)) ?? '');
    assert.ok(toServer !== undefined, `no client → echo flow in the capture: ${[...streams.keys()].join(', ')}`);
    assert.notEqual(toServer.indexOf(MARKER), -1, 'marker missing from a plaintext capture: the no-plaintext check could not fail');
  });
});
