// The scale scenario of one mode: many concurrent long-lived connections through its data path,
// then a fixed rate of short ones. For each count N: open N connections from the client pod to
// the echo app (up to `openConcurrency` at a time, each proven by one echo), keep them all open
// for `holdSeconds` while each echoes a few bytes every `pingMs` (staggered over the interval),
// then close them. The proxies' RSS growth per connection, their CPU per connection-second of
// the hold, and the time to open all N. Short connections: `shortRate` per second for
// `shortSeconds`, each connect → echo → close, launched on a clock whatever the answers' delays.
import type net from 'node:net';
import { summarize, type LatencySummary } from '#bench/lib/percentiles.ts';
import { measureProcesses, sampleProcess } from '#bench/lib/proc-stats.ts';
import { echoExchange, openEcho } from '#bench/node/echo-exchange.ts';
import type { HostPort, ModeSetup, Scene } from '#bench/node/mode.ts';

export interface ScaleOptions {
  counts: readonly number[];
  openConcurrency: number;
  holdSeconds: number;
  pingMs: number;
  shortRate: number;
  shortSeconds: number;
  /** Budget of one connection's open (or one short exchange). */
  timeoutMs: number;
}

export interface LongLivedResult {
  connections: number;
  /** Connections that failed to open (refused, reset, no echo in time). */
  failedToOpen: number;
  openSeconds: number;
  /** Open time of each connection (connect to first echo), ms. */
  openMs: LatencySummary;
  /** Sum over the proxies: RSS before opening, after opening, after the hold, MiB. */
  rssBeforeMiB: number | null;
  rssOpenMiB: number | null;
  rssHeldMiB: number | null;
  /** (RSS after the hold − RSS before) / N, KiB; null without a proxy. */
  rssPerConnectionKiB: number | null;
  /** Proxy CPU during the hold over N × holdSeconds, microseconds; null without a proxy. */
  cpuMicrosPerConnectionSecond: number | null;
  /** Proxy CPU seconds per second of the hold (cores in use, fixed costs included); null without a proxy. */
  proxyCoresHeld: number | null;
  /** Pings sent during the hold, and connections that broke during it. */
  pings: number;
  broken: number;
}

export interface ShortRateResult {
  rate: number;
  seconds: number;
  launched: number;
  failed: number;
  achievedPerSecond: number;
  /** Connect to echo, ms. */
  connectMs: LatencySummary;
  proxyCpuSecondsPer1000: number | null;
  errors: Record<string, number>;
}

export interface ScaleModeResult {
  mode: string;
  description: string;
  proxies: string[];
  longLived: LongLivedResult[];
  short: ShortRateResult;
}

const MiB = 1024 * 1024;

async function rssMiB(pids: readonly number[]): Promise<number | null> {
  if (pids.length === 0) return null;
  const s = await Promise.all(pids.map(sampleProcess));
  return s.reduce((a, x) => a + x.rssBytes, 0) / MiB;
}

function errorKey(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
}

async function longLived(scene: Scene, target: HostPort, pids: readonly number[], n: number, o: ScaleOptions): Promise<LongLivedResult> {
  const rssBeforeMiB = await rssMiB(pids);
  const sockets: net.Socket[] = [];
  const opened: number[] = [];
  let failedToOpen = 0;
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      try {
        const c = await openEcho(scene.client, target.host, target.port, o.timeoutMs);
        sockets.push(c.socket);
        opened.push(c.ms);
      } catch {
        failedToOpen++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.openConcurrency, n) }, worker));
  const openSeconds = (performance.now() - started) / 1000;
  const rssOpenMiB = await rssMiB(pids);

  let broken = 0;
  let pings = 0;
  for (const s of sockets) {
    s.on('error', () => undefined);
    s.once('close', () => broken++);
    // Echoes are read and dropped; the pings only keep every connection carrying traffic.
    s.on('data', () => undefined);
  }
  const done = await measureProcesses(pids);
  const holdStarted = performance.now();
  // Every connection pings once per interval, spread over it in slices of 10 ms.
  const slices = Math.max(1, Math.round(o.pingMs / 10));
  let slice = 0;
  const ticker = setInterval(() => {
    for (let i = slice; i < sockets.length; i += slices) {
      const s = sockets[i];
      if (s !== undefined && !s.destroyed) {
        s.write('ping');
        pings++;
      }
    }
    slice = (slice + 1) % slices;
  }, 10);
  await new Promise((r) => setTimeout(r, o.holdSeconds * 1000));
  clearInterval(ticker);
  const heldSeconds = (performance.now() - holdStarted) / 1000;
  const used = await done();
  const rssHeldMiB = await rssMiB(pids);
  const closing = sockets.map((s) => new Promise<void>((resolve) => {
    if (s.destroyed) return resolve();
    s.once('close', () => resolve());
    s.end();
  }));
  const brokenDuringHold = broken;
  await Promise.all(closing);
  const hasProxy = pids.length > 0;
  const live = sockets.length;
  return {
    connections: n, failedToOpen, openSeconds, openMs: summarize(opened),
    rssBeforeMiB, rssOpenMiB, rssHeldMiB,
    rssPerConnectionKiB: hasProxy && live > 0 && rssBeforeMiB !== null && rssHeldMiB !== null ? ((rssHeldMiB - rssBeforeMiB) * 1024) / live : null,
    cpuMicrosPerConnectionSecond: hasProxy && live > 0 ? (used.cpuSeconds * 1e6) / (live * heldSeconds) : null,
    proxyCoresHeld: hasProxy ? used.cpuSeconds / heldSeconds : null,
    pings, broken: brokenDuringHold,
  };
}

async function shortRate(scene: Scene, target: HostPort, pids: readonly number[], o: ScaleOptions): Promise<ShortRateResult> {
  const times: number[] = [];
  const errors: Record<string, number> = {};
  let failed = 0;
  let launched = 0;
  const total = Math.round(o.shortRate * o.shortSeconds);
  const pending: Promise<void>[] = [];
  const done = await measureProcesses(pids);
  const started = performance.now();
  // Launched on the clock: each 10 ms tick tops the count up to where the rate says it should be.
  await new Promise<void>((resolve) => {
    const ticker = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * o.shortRate));
      for (; launched < due; launched++) {
        pending.push(echoExchange(scene.client, target.host, target.port, o.timeoutMs).then((ms) => {
          times.push(ms);
        }, (err: unknown) => {
          failed++;
          const k = errorKey(err);
          errors[k] = (errors[k] ?? 0) + 1;
        }));
      }
      if (launched >= total) {
        clearInterval(ticker);
        resolve();
      }
    }, 10);
  });
  const launchSeconds = (performance.now() - started) / 1000;
  await Promise.all(pending);
  const used = await done();
  return {
    rate: o.shortRate, seconds: o.shortSeconds, launched, failed,
    achievedPerSecond: launched / launchSeconds,
    connectMs: summarize(times),
    proxyCpuSecondsPer1000: pids.length > 0 && launched > 0 ? used.cpuSeconds / (launched / 1000) : null,
    errors,
  };
}

export async function measureScale(
  mode: { name: string; description: string }, scene: Scene, setup: ModeSetup, o: ScaleOptions, log: (line: string) => void,
): Promise<ScaleModeResult> {
  const pids = setup.proxies.map((p) => p.pid);
  const target = setup.targets.tcp;
  // One exchange first, so a tunnel's first session is not in the first count's figures.
  await echoExchange(scene.client, target.host, target.port, o.timeoutMs);
  const results: LongLivedResult[] = [];
  for (const n of o.counts) {
    const r = await longLived(scene, target, pids, n, o);
    results.push(r);
    log(`${mode.name}: ${n} connections open in ${r.openSeconds.toFixed(2)} s (${r.failedToOpen} failed, p99 ${r.openMs.p99.toFixed(1)} ms), `
      + `RSS ${r.rssPerConnectionKiB?.toFixed(1) ?? '–'} KiB/conn, CPU ${r.cpuMicrosPerConnectionSecond?.toFixed(1) ?? '–'} µs/conn·s, ${r.broken} broke`);
  }
  const short = await shortRate(scene, target, pids, o);
  log(`${mode.name}: ${short.launched} short connections at ${short.achievedPerSecond.toFixed(0)}/s, ${short.failed} failed, `
    + `connect p50 ${short.connectMs.p50.toFixed(1)} ms p99 ${short.connectMs.p99.toFixed(1)} ms`);
  return { mode: mode.name, description: mode.description, proxies: setup.proxies.map((p) => p.label), longLived: results, short };
}
