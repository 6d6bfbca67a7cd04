// One measured h2load run: the proxy processes' CPU and memory, the ztunnels' CPU and the
// whole machine's busy share sampled around it.
import { readFile } from 'node:fs/promises';
import { measureProcesses } from '#bench/lib/proc-stats.ts';
import type { LocalPod } from '#local/pod.ts';
import { runLoad, type LoadOptions } from '#bench/waypoint/load.ts';
import { busyShare, parseProcStat, type Measured } from '#bench/waypoint/report.ts';

const MiB = 1024 * 1024;

export interface MeasureTarget {
  client: LocalPod;
  urls: readonly string[];
  proxyPids: readonly number[];
  ztunnelPids?: readonly number[];
}

export async function measureRun(t: MeasureTarget, o: LoadOptions): Promise<Measured> {
  const proxy = await measureProcesses(t.proxyPids);
  const ztunnels = t.ztunnelPids === undefined ? undefined : await measureProcesses(t.ztunnelPids);
  const cpuBefore = parseProcStat(await readFile('/proc/stat', 'utf8'));
  const started = performance.now();
  const load = await runLoad(t.client, t.urls, o);
  const wallSeconds = (performance.now() - started) / 1000;
  const cpuAfter = parseProcStat(await readFile('/proc/stat', 'utf8'));
  const p = await proxy();
  const z = ztunnels === undefined ? undefined : await ztunnels();
  return {
    load, wallSeconds,
    proxyCpuSeconds: p.cpuSeconds, proxyRssMiB: p.rssBytes / MiB, proxyPeakRssMiB: p.peakRssBytes / MiB,
    ...(z === undefined ? {} : { ztunnelCpuSeconds: z.cpuSeconds }),
    machineBusy: busyShare(cpuBefore, cpuAfter),
  };
}
