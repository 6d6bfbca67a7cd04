// Every program the sources start must be in scripts/programs.txt, the list bootstrap.sh
// installs from: a program used by a test but installed only by hand on one machine makes
// `npm test` fail on the next, fresh one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const FOLDERS = ['core', 'ztunnel', 'waypoint', 'controller', 'local', 'cli', 'bench', 'test', 'scripts'];
const BIN_DIRS = ['/usr/bin', '/usr/sbin', '/bin', '/sbin', '/usr/local/bin', '/usr/local/sbin'];

function listed(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(join(ROOT, 'scripts/programs.txt'), 'utf8').split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const [cmd, pkg] = t.split(/\s+/);
    if (cmd !== undefined && pkg !== undefined) out.set(cmd, pkg);
  }
  return out;
}

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'build') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

// A program name as the first element of an argv array or the first argument of a spawn-like
// call; non-program strings drop out below because no such executable exists.
const CANDIDATE = /(?:[eE]xec|[sS]pawn|[rR]un)\w*\(\s*\[\s*'([a-z0-9][a-z0-9_.+-]*)'|\[\s*'([a-z0-9][a-z0-9_.+-]*)',\s*'-|(?:spawn|spawnSync|execFile|execFileSync|runChecked|LocalProcess)\(\s*'([a-z0-9][a-z0-9_.+-]*)'/g;

/** Names in the given text that look like a program started and that exist on this machine. */
export function programsStarted(text: string): Set<string> {
  const found = new Set<string>();
  for (const m of text.matchAll(CANDIDATE)) {
    const name = m[1] ?? m[2] ?? m[3];
    if (name !== undefined && BIN_DIRS.some((d) => existsSync(join(d, name)))) found.add(name);
  }
  return found;
}

test('the candidate scan finds programs in argv arrays and spawn calls', () => {
  const seen = programsStarted("x.exec(['sh', '-c', 'true']); spawn('sleep', ['1']); const a = ['curl', '-sS']; labels(['reporter', 'le'])");
  assert.deepEqual([...seen].sort(), ['curl', 'sh', 'sleep']);
});

test('every program a source starts is in scripts/programs.txt', () => {
  const known = listed();
  const missing: string[] = [];
  for (const folder of FOLDERS) {
    const dir = join(ROOT, folder);
    if (!existsSync(dir)) continue;
    for (const file of sources(dir)) {
      for (const name of programsStarted(readFileSync(file, 'utf8'))) {
        if (!known.has(name) && name !== 'node') missing.push(`${name} (${file.slice(ROOT.length + 1)})`);
      }
    }
  }
  assert.deepEqual(missing, [], 'add these to scripts/programs.txt with their Debian package');
});
