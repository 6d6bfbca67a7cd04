// Self time by function from a V8 CPU profile (the `.cpuprofile` that node's `--cpu-prof`
// writes), to name what dominates a benchmark's cost. Pure: the caller reads the file.
// A sample's time is the gap to the next sample, as DevTools counts it; V8's own entries
// ((program), (garbage collector), (idle)) stay as they are named, and idle time is left out
// of the busy total. Windows (µs of CLOCK_MONOTONIC, the clock of the profile's timestamps and
// of process.hrtime in any process on the machine) keep only the samples taken inside them: one
// scenario's load, without start-up, shutdown or the other scenarios.

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  /** µs, CLOCK_MONOTONIC. */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Microseconds of CLOCK_MONOTONIC, inclusive; `process.hrtime.bigint() / 1000n` reads the same clock. */
export interface SampleWindow {
  fromUs: number;
  toUs: number;
}

export interface SelfTime {
  /** `function (file:line)` (or the file alone), the file relative to the project or inside node_modules. */
  name: string;
  /** Milliseconds of samples in the function itself. */
  selfMs: number;
  /** Share of the busy (non-idle) time, 0..1. */
  share: number;
}

export interface ProfileSummary {
  /** Busy milliseconds (every sample but idle ones). */
  busyMs: number;
  /** Every function with self time, the largest first. */
  functions: SelfTime[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Checks the parts of a parsed `.cpuprofile` this module reads. */
export function parseCpuProfile(text: string): CpuProfile {
  const o: unknown = JSON.parse(text);
  if (!isObj(o) || !Array.isArray(o['nodes']) || !Array.isArray(o['samples']) || !Array.isArray(o['timeDeltas']) || typeof o['startTime'] !== 'number') {
    throw new Error('not a V8 CPU profile: needs nodes, startTime, samples and timeDeltas');
  }
  return o as unknown as CpuProfile;
}

/** Where a function lives, short: project files relative to root, node_modules by package path. */
export function shortUrl(url: string, root: string): string {
  const path = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) return path.slice(modules + '/node_modules/'.length);
  const base = root.endsWith('/') ? root : `${root}/`;
  return path.startsWith(base) ? path.slice(base.length) : path;
}

/** `function` groups samples by function, `file` by the file it lives in (V8's own entries stay apart). */
export type Grouping = 'function' | 'file';

function frameName(frame: CpuProfile['nodes'][number]['callFrame'], root: string, by: Grouping): string {
  const fn = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  if (frame.url === '') return by === 'file' && !fn.startsWith('(') ? '(native)' : fn;
  if (by === 'file') return shortUrl(frame.url, root);
  // lineNumber is 0-based in the profile.
  return `${fn} (${shortUrl(frame.url, root)}:${frame.lineNumber + 1})`;
}

export function selfTimes(profile: CpuProfile, root: string, by: Grouping = 'function', windows?: readonly SampleWindow[]): ProfileSummary {
  const names = new Map<number, string>();
  for (const n of profile.nodes) names.set(n.id, frameName(n.callFrame, root, by));
  const byName = new Map<string, number>();
  let busyUs = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (windows !== undefined && !windows.some((w) => at >= w.fromUs && at <= w.toUs)) return;
    const us = profile.timeDeltas[i + 1] ?? 0;
    const name = names.get(id) ?? '(unknown)';
    if (name === '(idle)') return;
    busyUs += us;
    byName.set(name, (byName.get(name) ?? 0) + us);
  });
  const functions = [...byName].map(([name, us]) => ({ name, selfMs: us / 1000, share: busyUs > 0 ? us / busyUs : 0 }))
    .filter((f) => f.selfMs > 0)
    .sort((a, b) => b.selfMs - a.selfMs || a.name.localeCompare(b.name));
  return { busyMs: busyUs / 1000, functions };
}

export interface SelfTimeDifference {
  name: string;
  /** Self milliseconds per 1000 requests in each profile, and the second minus the first. */
  baseMsPer1000: number;
  otherMsPer1000: number;
  addedMsPer1000: number;
}

/**
 * Per function, self time per 1000 requests of `other` minus `base` (each profile over its own
 * request count), the largest increase first: what the extra work of `other` is spent in.
 */
export function selfTimeDifference(base: ProfileSummary, baseRequests: number, other: ProfileSummary, otherRequests: number): SelfTimeDifference[] {
  if (baseRequests <= 0 || otherRequests <= 0) throw new Error('request counts must be positive');
  const perK = (ms: number, requests: number): number => (ms * 1000) / requests;
  const names = new Set([...base.functions, ...other.functions].map((f) => f.name));
  const baseBy = new Map(base.functions.map((f) => [f.name, f.selfMs]));
  const otherBy = new Map(other.functions.map((f) => [f.name, f.selfMs]));
  return [...names].map((name) => {
    const b = perK(baseBy.get(name) ?? 0, baseRequests);
    const o = perK(otherBy.get(name) ?? 0, otherRequests);
    return { name, baseMsPer1000: b, otherMsPer1000: o, addedMsPer1000: o - b };
  }).sort((x, y) => y.addedMsPer1000 - x.addedMsPer1000 || x.name.localeCompare(y.name));
}
