// Where benchmark results go: bench/results/<name>.json, pretty-printed, plus the context
// every figure needs to be read (date, Node version, load average before and after).
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

export interface RunContext {
  date: string;
  node: string;
  /** 1-minute load average at the start and the end: the machine is shared, so figures move with it. */
  loadavg: [number, number];
}

/** Call at the start of a run; finishRun() fills in the closing load average. */
export function startRun(): RunContext {
  return { date: new Date().toISOString(), node: process.version, loadavg: [loadavg()[0] ?? 0, 0] };
}

export function finishRun(ctx: RunContext): RunContext {
  ctx.loadavg[1] = loadavg()[0] ?? 0;
  return ctx;
}

/** Writes results as bench/results/<name>.json and returns the path. */
export async function writeResults(name: string, data: unknown, dir = RESULTS_DIR): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify(data, null, 2) + '\n');
  return file;
}

/**
 * Ends a run: closing load average, results written as bench/results/<name>.json (the path
 * logged), then the load average line, `note` after it, and the tables on stdout.
 */
export async function publishRun(run: RunContext, name: string, data: object, tables: string, log: (line: string) => void, note = ''): Promise<void> {
  finishRun(run);
  const file = await writeResults(name, { ...run, ...data });
  log(`results: ${file}`);
  console.log(`load average ${run.loadavg.map((l) => l.toFixed(1)).join(' → ')}, ${run.node}${note}\n`);
  console.log(tables);
}
