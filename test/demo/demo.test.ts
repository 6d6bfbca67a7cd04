// The README's main command, run as a user would (non-interactive): the tour must show
// encrypted cross-node traffic, a denial, STRICT refusing a non-mesh client, and leave no
// network namespace, link or process behind. Needs root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const DEMO = fileURLToPath(new URL('../../local/demo.ts', import.meta.url));
const skip = process.getuid?.() === 0 ? false : 'needs root (network namespaces, iptables)';

async function netnsNames(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith('demo-'));
}

test('npm run demo tours the mesh and cleans up', { skip, timeout: 120_000 }, async () => {
  assert.deepEqual(await netnsNames(), [], 'no demo namespaces before');
  const { stdout } = await run(process.execPath, [DEMO], { env: { ...process.env, CI: '1' }, timeout: 110_000 });
  // Before enrollment the secret is visible on the wire; after, it is not, and the call works.
  // The dashboard's address, at the start (to watch the tour live) and in the closing list.
  assert.match(stdout, /dashboard: http:\/\/[\d.]+:\d+\/dashboard \(live/);
  assert.match(stdout, /dashboard {11}http:\/\/[\d.]+:\d+\/dashboard /);
  assert.match(stdout, /Before the mesh[^\n]*\n[^\n]*secret appears [1-9]\d*×/);
  assert.match(stdout, /HBONE[^\n]*\n[^\n]*: ok, answered by backend, which saw the caller as (\S+) \(frontend is \1:/);
  assert.match(stdout, /on the wire at node2: \d+ bytes captured, the secret appears 0×/);
  assert.match(stdout, /connections_opened_total\{reporter=destination, source=frontend, destination=backend\.shop\.svc\.cluster\.local, flags=-, security=mutual_tls\} [1-9]/);
  assert.match(stdout, /frontend → backend: refused/);
  assert.match(stdout, /flags=DENY/);
  assert.match(stdout, /legacy\/client \(not enrolled\) → backend: allowed/);
  assert.match(stdout, /STRICT applied: legacy\/client refused/);
  assert.match(stdout, /still gets through: ok/);
  // The waypoint act: deployed from a Gateway, a 90/10 canary, a header match, an L7 policy.
  assert.match(stdout, /waypoint pod \S+ \([\d.]+, node\d\) serving after \d+ ms; calls now carry x-request-id [0-9a-f-]{36}/);
  const split = /200 calls from frontend: backend (\d+), backend-v2 (\d+)/.exec(stdout);
  assert.ok(split, 'the canary split is printed');
  const [v1, v2] = [Number(split[1]), Number(split[2])];
  assert.equal(v1 + v2, 200);
  // Binomial(200, 0.1): mean 20, sd 4.2; five sd either side.
  assert.ok(v2 >= 1 && v2 <= 41, `v2 answered ${v2} of 200`);
  assert.match(stdout, /20 calls with x-user: tester: backend-v2 20\n/);
  assert.match(stdout, /GET → ok \([^)]+\); POST → RBAC: access denied 403/);
  assert.match(stdout, /requests_total\{reporter=waypoint, destination=backend(-v2)?, code=200, flags=-\} [1-9]/);
  assert.match(stdout, /Stopped; no namespaces/);
  assert.deepEqual(await netnsNames(), [], 'no demo namespaces after');
  const { stdout: links } = await run('ip', ['-br', 'link']);
  assert.doesNotMatch(links, /^demo/m, 'no demo links in the root netns');
});
