// Child process of the controller scale benchmark: runs many push clients (one per node) so
// the controller's memory and CPU are measured apart from its clients'. Two kinds:
// - real: ConfigClient, which parses and validates every frame as a proxy does;
// - lean: a bare WebSocket that reads only the version at the head of each frame and ACKs,
//   so the run measures the controller (and TLS) rather than 100 parsers sharing its cores.
//   With compression it inflates each deflated frame first, as every proxy must.
// Both ask for deflated frames as ConfigClient does, unless the run is uncompressed.
// Reports every applied update to the parent over IPC.
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import WebSocket from 'ws';
import type { RawData } from 'ws';
import { ConfigClient } from '#core/config/client.ts';
import { PUSH_COMPRESSION_DEFLATE, PUSH_COMPRESSION_HEADER, inflateFrame } from '#core/config/compression.ts';
import { MAX_SERVER_FRAME_BYTES, PUSH_PATH } from '#core/config/protocol.ts';
import { validateResources } from '#core/config/validate.ts';

interface Start {
  url: string;
  rootsPem: string[];
  nodes: { node: string; token: string }[];
  lean: boolean;
  compression: boolean;
}

function isStart(v: unknown): v is Start {
  return typeof v === 'object' && v !== null && 'url' in v && 'rootsPem' in v && 'nodes' in v && 'lean' in v && 'compression' in v;
}

const closers: (() => Promise<void>)[] = [];

function realClient(m: Start, node: string, token: string, i: number): void {
  // Keys only: a hundred full stores in one process would measure this process's garbage
  // collector rather than the push path (each real proxy holds its own store).
  const store = new Set<string>();
  const c = new ConfigClient({
    url: m.url, client: { kind: 'ztunnel', node }, token, rootsPem: m.rootsPem, compression: m.compression,
    apply: (u) => {
      if (u.snapshot) store.clear();
      for (const r of u.removed) store.delete(`${r.kind}/${r.key}`);
      // Validated here, as a proxy's mutator does (the client hands resources on unchecked).
      const { valid, rejected } = validateResources(u.updated);
      for (const r of valid) store.add(`${r.kind}/${r.key}`);
      return { rejected };
    },
  });
  c.on('update', (e) => process.send?.({ i, version: e.version, bytes: 0 }));
  c.start();
  closers.push(() => c.close());
}

function leanClient(m: Start, node: string, token: string, i: number): void {
  const ws = new WebSocket(`${m.url}${PUSH_PATH}`, {
    ca: m.rootsPem, maxPayload: MAX_SERVER_FRAME_BYTES, perMessageDeflate: false,
    ...(m.compression ? { headers: { [PUSH_COMPRESSION_HEADER]: PUSH_COMPRESSION_DEFLATE } } : {}),
  });
  ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', client: { kind: 'ztunnel', node }, token })));
  ws.on('message', (data: RawData, isBinary: boolean) => {
    // The frame as ws handed it over, not a copy: only its first bytes are read.
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    let head = buf;
    if (isBinary) {
      // Inflated whole, as a proxy must before it can parse anything (but not decoded to a
      // string, which the uncompressed lean client skips too).
      const inflated = inflateFrame(buf, MAX_SERVER_FRAME_BYTES);
      if (!inflated.ok) {
        console.error(`lean client ${node}: ${inflated.reason}`);
        return;
      }
      head = inflated.message;
    }
    const version = /"version":(\d+)/.exec(head.subarray(0, 64).toString('latin1'))?.[1];
    if (version === undefined) return;
    ws.send(JSON.stringify({ type: 'ack', version: Number(version) }));
    process.send?.({ i, version: Number(version), bytes: buf.length });
  });
  ws.on('error', (err) => console.error(`lean client ${node}: ${err.message}`));
  closers.push(() => new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    ws.once('close', () => resolve());
    ws.close(1000);
  }));
}

let profiler: Session | undefined;

/** Answers a CPU-time request, starting or stopping a CPU profile first when asked. */
async function answerCpu(m: { profile?: { start: boolean; file: string } }): Promise<void> {
  if (m.profile?.start === true) {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  const u = process.cpuUsage();
  if (m.profile?.start === false && profiler !== undefined) {
    const { profile } = await profiler.post('Profiler.stop');
    profiler.disconnect();
    profiler = undefined;
    await writeFile(m.profile.file, JSON.stringify(profile));
  }
  process.send?.({ cpuMs: (u.user + u.system) / 1000 });
}

process.on('message', (m: unknown) => {
  if (typeof m === 'object' && m !== null && 'cpu' in m) {
    void answerCpu(m as { profile?: { start: boolean; file: string } }).catch((err: unknown) => console.error(`profile: ${String(err)}`));
    return;
  }
  if (m === 'stop') {
    void Promise.all(closers.map((c) => c())).then(() => process.exit(0));
    return;
  }
  if (!isStart(m)) return;
  m.nodes.forEach(({ node, token }, i) => (m.lean ? leanClient : realClient)(m, node, token, i));
});
