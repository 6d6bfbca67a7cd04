// Every program the sources start must be in DEBIAN_NEEDS in scripts/bootstrap.sh, the list
// it installs from: a program used by a test but installed only by hand on one machine makes
// `npm test` fail on the next, fresh one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const FOLDERS = ['core', 'ztunnel', 'waypoint', 'controller', 'local', 'cli', 'bench', 'test', 'scripts'];
const BIN_DIRS = ['/usr/bin', '/usr/sbin', '/bin', '/sbin', '/usr/local/bin', '/usr/local/sbin'];

/** command → Debian package, from the DEBIAN_NEEDS array of scripts/bootstrap.sh. */
function listed(): Map<string, string> {
  const script = readFileSync(join(ROOT, 'scripts/bootstrap.sh'), 'utf8');
  const body = /^DEBIAN_NEEDS=\(([^)]*)\)/m.exec(script)?.[1];
  assert.ok(body !== undefined, 'scripts/bootstrap.sh has no DEBIAN_NEEDS=( ... ) list');
  const out = new Map<string, string>();
  for (const pair of body.split(/\s+/)) {
    const [cmd, pkg] = pair.split(':');
    if (cmd !== undefined && pkg !== undefined && cmd !== '') out.set(cmd, pkg);
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

test('every program a source starts is in the bootstrap list', () => {
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
  assert.deepEqual(missing, [], 'add these to DEBIAN_NEEDS in scripts/bootstrap.sh with their Debian package');
});
