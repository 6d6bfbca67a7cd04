// HBONE benchmark: bulk throughput (Gbit/s) for `direct` TCP, a plain mutual-TLS tunnel and
// HBONE with 1, 2 and 8 concurrent streams; small request/response latency (p50/p99); and
// the CPU cost of a full mutual TLS handshake. Results go to bench/results/hbone.json and a
// markdown table on stdout.
//   node_modules/.bin/node bench/hbone/throughput.ts [--split | --netns] [--mib N] [--repeat N] [--sweep]
// --split runs the servers in a child process (two cores: one per side). --netns starts an
// embedded cluster and runs the servers in a pod on node2 and the client in a pod on node1
// (sockets opened in the pod's namespace), so every byte crosses veths and the underlay.
// --sweep also compares HTTP/2 window settings for HBONE.
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { WorkloadCertificate } from '#core/certs/types.ts';
import { testPki } from '#core/ca/testing.ts';
import { HbonePool } from '#core/hbone/pool.ts';
import { defaultTuning, type HboneTuning } from '#core/hbone/settings.ts';
import { HBONE_ALPN, HBONE_CIPHERSUITES } from '#core/hbone/tls-context.ts';
import { startServers, type ServerPorts } from '#bench/hbone/servers.ts';
import { percentile } from '#bench/lib/percentiles.ts';
import { markdownTable } from '#bench/lib/table.ts';
import { finishRun, startRun, writeResults, type RunContext } from '#bench/lib/results.ts';
import { startNetnsTopology, type Topology } from '#bench/hbone/netns-topology.ts';
import { startServerProcess, type Endpoints } from '#bench/hbone/server-process.ts';
import type { Dialer } from '#core/hbone/dial.ts';

const SERVER_ID = 'spiffe://cluster.local/ns/bench/sa/server';
const CLIENT_ID = 'spiffe://cluster.local/ns/bench/sa/client';

const args = process.argv.slice(2);
const split = args.includes('--split');
const netns = args.includes('--netns');
const layout: Results['layout'] = netns ? 'netns' : split ? 'split' : 'in-process';
const sweep = args.includes('--sweep');
const mibArg = args.indexOf('--mib');
const TOTAL_MIB = mibArg >= 0 ? Number(args[mibArg + 1]) : 256;
const repeatArg = args.indexOf('--repeat');
/** Each throughput figure is the best of this many runs (the machine is shared; the best run is the least disturbed). */
const REPEAT = repeatArg >= 0 ? Number(args[repeatArg + 1]) : 2;
const CHUNK = Buffer.alloc(64 * 1024, 0x5a);

type Mode = 'direct' | 'tls' | 'hbone';

/** Loopback, one process or two. */
function loopbackTopology(): Topology {
  const host = '127.0.0.1';
  return {
    host,
    dial: (h, port) => new Promise((resolve, reject) => {
      const s = net.connect({ host: h, port, noDelay: true, allowHalfOpen: true }, () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    }),
    startEndpoints: (cert, tuning) => startEndpointsLocal(host, cert, tuning),
    describe: split ? 'servers in a child process' : 'one process',
    stop: async () => undefined,
  };
}

async function startEndpointsLocal(host: string, cert: WorkloadCertificate, tuning?: Partial<HboneTuning>): Promise<Endpoints> {
  if (!split) {
    const r = await startServers({ cert, host, ...(tuning === undefined ? {} : { tuning }) });
    return { ports: r.ports, stop: () => r.close() };
  }
  return startServerProcess({ cert, host, tuning });
}

interface Client {
  open(target: 'sink' | 'echo'): Promise<Duplex>;
  close(): Promise<void>;
}

/** A mutual TLS client over a socket from dial (TLS 1.3, AES-GCM, ALPN h2, no SNI). */
async function tlsOver(dial: Dialer, host: string, port: number, context: tls.SecureContext): Promise<tls.TLSSocket> {
  const raw = await dial(host, port);
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      socket: raw, secureContext: context, ALPNProtocols: HBONE_ALPN, servername: '', checkServerIdentity: () => undefined,
    }, () => resolve(s));
    s.allowHalfOpen = true;
    s.setNoDelay(true);
    s.once('error', reject);
  });
}

function clientFor(mode: Mode, topo: Topology, ports: ServerPorts, cert: WorkloadCertificate, tuning?: Partial<HboneTuning>): Client {
  const host = topo.host;
  if (mode === 'direct') {
    return {
      open: async (target) => {
        const s = await topo.dial(host, target === 'sink' ? ports.sink : ports.echo);
        s.allowHalfOpen = true;
        s.setNoDelay(true);
        return s;
      },
      close: async () => undefined,
    };
  }
  if (mode === 'tls') {
    const context = tls.createSecureContext({ key: cert.keyPem, cert: cert.certPem, ca: cert.rootsPem, minVersion: 'TLSv1.3', ciphers: HBONE_CIPHERSUITES });
    return {
      open: (target) => tlsOver(topo.dial, host, target === 'sink' ? ports.tlsSink : ports.tlsEcho, context),
      close: async () => undefined,
    };
  }
  const pool = new HbonePool(tuning === undefined ? {} : { tuning });
  return {
    open: (target) => pool.connect({
      sourceCert: cert, destinationIdentity: SERVER_ID, address: { host, port: ports.hbone },
      authority: `${host}:${target === 'sink' ? ports.sink : ports.echo}`, dial: topo.dial,
    }),
    close: () => pool.close(0),
  };
}

/** Writes `bytes` with backpressure, ends, and waits for the far end to close its side. */
async function push(stream: Duplex, bytes: number): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    stream.once('end', resolve);
    stream.once('error', reject);
    stream.resume();
  });
  let left = bytes;
  while (left > 0) {
    const n = Math.min(left, CHUNK.length);
    left -= n;
    if (!stream.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
      await new Promise<void>((r) => stream.once('drain', r));
    }
  }
  stream.end();
  await done;
}

async function throughput(client: Client, streams: number, totalBytes: number): Promise<number> {
  const per = Math.floor(totalBytes / streams);
  const opened = await Promise.all(Array.from({ length: streams }, () => client.open('sink')));
  const t0 = performance.now();
  await Promise.all(opened.map((s) => push(s, per)));
  const seconds = (performance.now() - t0) / 1000;
  return (per * streams * 8) / seconds / 1e9;
}

async function best(run: () => Promise<number>): Promise<number> {
  let top = 0;
  for (let i = 0; i < REPEAT; i++) top = Math.max(top, await run());
  return top;
}

/** Round trips of a 64-byte message on one open connection/stream; µs. */
async function latency(client: Client, rounds: number): Promise<{ p50: number; p99: number }> {
  const s = await client.open('echo');
  const msg = Buffer.alloc(64, 0x61);
  const samples: number[] = [];
  let pending: (() => void) | undefined;
  let got = 0;
  s.on('data', (c: Buffer) => {
    got += c.length;
    if (got >= msg.length && pending !== undefined) {
      got -= msg.length;
      const p = pending;
      pending = undefined;
      p();
    }
  });
  for (let i = 0; i < rounds + 200; i++) {
    const t0 = performance.now();
    await new Promise<void>((r) => {
      pending = r;
      s.write(msg);
    });
    if (i >= 200) samples.push((performance.now() - t0) * 1000);
  }
  s.destroy();
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

/** A new CONNECT stream per request on a warm session: CONNECT + 64-byte round trip; µs. */
async function hboneStreamLatency(client: Client, rounds: number): Promise<{ p50: number; p99: number }> {
  const samples: number[] = [];
  for (let i = 0; i < rounds + 50; i++) {
    const t0 = performance.now();
    const s = await client.open('echo');
    await new Promise<void>((resolve) => {
      s.once('data', () => resolve());
      s.write(Buffer.alloc(64));
    });
    s.end();
    s.resume();
    if (i >= 50) samples.push((performance.now() - t0) * 1000);
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

/** CPU ms (user+system, this process) per full mutual TLS 1.3 handshake, ECDSA P-256. */
async function handshakeCost(topo: Topology, ports: ServerPorts, cert: WorkloadCertificate, n: number): Promise<{ cpuMs: number; wallMs: number }> {
  const context = tls.createSecureContext({ key: cert.keyPem, cert: cert.certPem, ca: cert.rootsPem, minVersion: 'TLSv1.3', ciphers: HBONE_CIPHERSUITES });
  const one = async (): Promise<void> => {
    (await tlsOver(topo.dial, topo.host, ports.tlsEcho, context)).destroy();
  };
  for (let i = 0; i < 20; i++) await one();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await one();
  const cpu = process.cpuUsage(cpu0);
  return { cpuMs: (cpu.user + cpu.system) / 1000 / n, wallMs: (performance.now() - t0) / n };
}

interface Results extends RunContext {
  layout: 'in-process' | 'split' | 'netns';
  /** Where the two ends ran. */
  topology: string;
  mibPerRun: number;
  repeat: number;
  tuning: HboneTuning;
  throughputGbps: Record<Mode, Record<string, number>>;
  latencyUs: Record<string, { p50: number; p99: number }>;
  handshake: { cpuMsPerHandshake: number; wallMsPerHandshake: number; note: string };
  sweep?: { tuning: Partial<HboneTuning>; streams1: number; streams8: number }[];
}

async function main(): Promise<void> {
  const pki = await testPki();
  const serverCert = await pki.issue(SERVER_ID);
  const clientCert = await pki.issue(CLIENT_ID);
  const totalBytes = TOTAL_MIB * 1024 * 1024;
  const topo = netns ? await startNetnsTopology() : loopbackTopology();
  const results: Results = {
    ...startRun(), layout, topology: topo.describe, mibPerRun: TOTAL_MIB, repeat: REPEAT,
    tuning: defaultTuning, throughputGbps: { direct: {}, tls: {}, hbone: {} }, latencyUs: {},
    handshake: { cpuMsPerHandshake: 0, wallMsPerHandshake: 0, note: '' },
  };
  try {
    await measureAll(topo, results, serverCert, clientCert, totalBytes);
    if (sweep) results.sweep = await runSweep(topo, serverCert, clientCert, totalBytes);
  } finally {
    await topo.stop();
  }
  finishRun(results);
  await writeResults(layout === 'in-process' ? 'hbone' : `hbone-${layout}`, results);
  console.log(table(results));
}

async function measureAll(topo: Topology, results: Results, serverCert: WorkloadCertificate, clientCert: WorkloadCertificate, totalBytes: number): Promise<void> {
  const ep = await topo.startEndpoints(serverCert);
  try {
    for (const mode of ['direct', 'tls', 'hbone'] as const) {
      const client = clientFor(mode, topo, ep.ports, clientCert);
      await throughput(client, 1, 8 * 1024 * 1024); // warm-up: JIT, pool session
      for (const streams of [1, 2, 8]) {
        results.throughputGbps[mode][String(streams)] = await best(() => throughput(client, streams, totalBytes));
        console.error(`${mode} x${streams}: ${results.throughputGbps[mode][String(streams)]?.toFixed(2)} Gbit/s`);
      }
      results.latencyUs[mode] = await latency(client, 2000);
      console.error(`${mode} latency: ${JSON.stringify(results.latencyUs[mode])}`);
      if (mode === 'hbone') {
        results.latencyUs['hbone-new-stream'] = await hboneStreamLatency(client, 500);
        console.error(`hbone new-stream latency: ${JSON.stringify(results.latencyUs['hbone-new-stream'])}`);
      }
      await client.close();
    }
    const hs = await handshakeCost(topo, ep.ports, clientCert, 200);
    results.handshake = {
      cpuMsPerHandshake: hs.cpuMs, wallMsPerHandshake: hs.wallMs,
      note: layout === 'in-process' ? 'client and server sides together (one process)' : 'client side only (server in another process)',
    };
  } finally {
    await ep.stop();
  }
}

async function runSweep(topo: Topology, serverCert: WorkloadCertificate, clientCert: WorkloadCertificate, totalBytes: number): Promise<NonNullable<Results['sweep']>> {
  const KiB = 1024;
  const MiB = 1024 * 1024;
  const variants: Partial<HboneTuning>[] = [
    { streamWindow: 64 * KiB - 1, connectionWindow: 64 * KiB - 1 },
    { streamWindow: 1 * MiB, connectionWindow: 4 * MiB },
    { streamWindow: 4 * MiB, connectionWindow: 16 * MiB },
    { streamWindow: 16 * MiB, connectionWindow: 64 * MiB },
    { streamWindow: 4 * MiB, connectionWindow: 16 * MiB, maxFrameSize: 64 * KiB },
    { streamWindow: 4 * MiB, connectionWindow: 16 * MiB, maxFrameSize: 1024 * KiB - 1 },
    { streamWindow: 4 * MiB, connectionWindow: 16 * MiB, relay: 'manual' },
  ];
  const out: NonNullable<Results['sweep']> = [];
  for (const tuning of variants) {
    const ep = await topo.startEndpoints(serverCert, tuning);
    const client = clientFor('hbone', topo, ep.ports, clientCert, tuning);
    try {
      await throughput(client, 1, 8 * MiB);
      const streams1 = await best(() => throughput(client, 1, totalBytes));
      const streams8 = await best(() => throughput(client, 8, totalBytes));
      out.push({ tuning, streams1, streams8 });
      console.error(`sweep ${JSON.stringify(tuning)}: x1 ${streams1.toFixed(2)}  x8 ${streams8.toFixed(2)} Gbit/s`);
    } finally {
      await client.close();
      await ep.stop();
    }
  }
  return out;
}

function table(r: Results): string {
  const g = (m: Mode, n: number): number | undefined => r.throughputGbps[m][String(n)];
  const lines = [
    `Throughput (Gbit/s, ${r.mibPerRun} MiB per run, best of ${r.repeat}, ${r.layout}: ${r.topology}, ${r.node}, load average ${r.loadavg.map((l) => l.toFixed(1)).join(' → ')})`,
    '',
    markdownTable(['mode', '1 stream', '2 streams', '8 streams', '1 stream vs direct'], (['direct', 'tls', 'hbone'] as const).map((m) =>
      [m, g(m, 1), g(m, 2), g(m, 8), (g(m, 1) ?? 0) / (g('direct', 1) ?? 1)])),
    '', 'Latency, 64-byte round trip (µs)', '',
    markdownTable(['mode', 'p50', 'p99'], Object.entries(r.latencyUs).map(([m, l]) => [m, l.p50, l.p99]), 0),
  ];
  lines.push('', `Full mutual TLS 1.3 handshake (ECDSA P-256): ${r.handshake.cpuMsPerHandshake.toFixed(2)} ms CPU, ${r.handshake.wallMsPerHandshake.toFixed(2)} ms wall (${r.handshake.note})`);
  if (r.sweep !== undefined) {
    lines.push('', 'HBONE tuning sweep (Gbit/s)', '', '| stream window | connection window | max frame | relay | 1 stream | 8 streams |', '|---|---|---|---|---|---|');
    for (const s of r.sweep) {
      const t = { ...defaultTuning, ...s.tuning };
      lines.push(`| ${t.streamWindow} | ${t.connectionWindow} | ${t.maxFrameSize} | ${t.relay} | ${s.streams1.toFixed(2)} | ${s.streams8.toFixed(2)} |`);
    }
  }
  return lines.join('\n');
}

await main();
