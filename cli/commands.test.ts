// The commands' output formats (table, wide, json, yaml) and errors, run through the commander
// program on the manifests of cli/testdata and on fixtures of the controller's admin JSON.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { parseDuration } from '#cli/weft.ts';
import { runWeft } from '#cli/testing.ts';
import { parseSet, renderInstall } from '#cli/install.ts';
import { statusPrintable, statusReport } from '#cli/status.ts';
import { buildTag } from '#cli/version.ts';

const MESH = fileURLToPath(new URL('./testdata/', import.meta.url));
let dir: string;
let admin: Server;
let adminUrl: string;

const run = runWeft;

const NOW = Date.parse('2026-01-01T00:00:00Z');
const STATUS = {
  objects: [{ kind: 'AuthorizationPolicy', namespace: 'shop', name: 'ext', conditions: [{ type: 'Accepted', status: 'False', reason: 'UnsupportedValue', message: 'action CUSTOM' }] }],
  clients: [
    { id: 'a', client: { kind: 'ztunnel', node: 'node1' }, connected: true, version: 7 },
    { id: 'b', client: { kind: 'ztunnel', node: 'node3' }, connected: false, version: 5 },
  ],
  sourceRejections: [],
};
const DASHBOARD = {
  nodes: [{
    node: 'node1', health: { up: true }, version: '0.1.0', config: { state: 'synced', version: 7 },
    certificates: [{ identity: 'spiffe://cluster.local/ns/shop/sa/web', expiresAt: NOW + 30 * 60_000 }, { identity: 'spiffe://cluster.local/ns/shop/sa/client', expiresAt: NOW + 20 * 3600_000 }],
  }],
  waypoints: [{ name: 'shop/waypoint', node: 'node1', health: { up: false }, version: '0.1.0', config: { state: 'pending', version: 6 } }],
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-cli-commands-'));
  // A proxy's admin endpoint (its /config_dump), and a controller's.
  admin = createServer((req, res) => {
    const body = req.url === '/config_dump' ? { node: 'node1', version: 3, workloads: [{ namespace: 'shop', name: 'web', addresses: ['10.1.0.5'] }], policies: [] }
      : req.url === '/status' ? STATUS : req.url === '/api/dashboard' ? DASHBOARD : req.url === '/healthz' ? 'ok' : undefined;
    if (body === undefined) res.writeHead(404).end('not found');
    else res.writeHead(200, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body));
  });
  admin.listen(0, '127.0.0.1');
  await once(admin, 'listening');
  adminUrl = `http://127.0.0.1:${(admin.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((resolve) => admin.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

test('authz check: the waypoint\'s L7 and the ztunnel\'s L4 decisions, with policy and rule, in every format', async () => {
  const allowed = await run('authz', 'check', '--manifests', MESH, '--from', 'shop/client', '--to', 'shop/web:80', '--method', 'get', '--path', '/cart');
  assert.equal(allowed.code, 0, allowed.out);
  assert.match(allowed.out, /^L7\s+waypoint shop\/waypoint\s+ALLOW\s+shop\/client-may-get\s+rules\[1\]\s+allowed by ALLOW policy/m);
  // Through the waypoint, the destination ztunnel sees the waypoint's identity: the L4 ALLOW for it decides.
  assert.match(allowed.out, /^L4\s+ztunnel node1\s+ALLOW\s+shop\/web-from-waypoint\s+rules\[0\]/m);
  assert.match(allowed.out, /shop\/client -> shop\/web:80: ALLOWED\n$/);

  const post = await run('authz', 'check', '--manifests', MESH, '-n', 'shop', '--from', 'client', '--to', 'web', '--method', 'POST', '--path', '/cart', '-o', 'json');
  assert.equal(post.code, 1);
  const result = JSON.parse(post.out) as { allowed: boolean; port: number; steps: { layer: string; allowed: boolean; policy?: string; reason: string }[] };
  assert.equal(result.allowed, false);
  assert.equal(result.port, 80);
  assert.deepEqual(result.steps.map((s) => [s.layer, s.allowed]), [['L7', false], ['L4', true]]);
  assert.match(result.steps[0]?.reason ?? '', /no ALLOW policy matched \(shop\/client-may-get\)/);

  const db = await run('authz', 'check', '--manifests', MESH, '--from', 'shop/client', '--to', 'data/db', '-o', 'yaml');
  assert.equal(db.code, 1);
  const dbResult = parseYaml(db.out) as { steps: { layer: string; enforcer: string; policy: string; rule: number }[]; notes: string[] };
  assert.deepEqual(dbResult.steps, [{ layer: 'L4', enforcer: 'ztunnel node2', target: 'data/db 10.1.1.5:5432', allowed: false, policy: 'data/no-shop', rule: 1, reason: 'denied by DENY policy data/no-shop' }]);

  const wide = await run('authz', 'check', '--manifests', MESH, '--from', 'shop/client', '--to', 'data/db:5432', '--method', 'GET', '-o', 'wide');
  assert.match(wide.out, /^LAYER\s+ENFORCER\s+DECISION\s+POLICY\s+RULE\s+TARGET\s+REASON$/m);
  assert.match(wide.out, /note: service data\/db has no waypoint: nothing checks method or path \(L4 only\)/);

  await assert.rejects(run('authz', 'check', '--manifests', MESH, '--from', 'shop/ghost', '--to', 'shop/web'), /no running workload shop\/ghost/);
  await assert.rejects(run('authz', 'check', '--manifests', MESH, '--from', 'shop/client', '--to', 'shop/web:81'), /has no port 81 \(hint: its ports: 80\)/);
  await assert.rejects(run('authz', 'check', '--manifests', MESH, '--from', 'shop/client', '--to', 'shop/web:x'), /is not SERVICE\[:PORT\]/);
});

test('config: what the controller pushes to a ztunnel and to a waypoint, and a proxy\'s own dump', async () => {
  const zt = await run('config', 'ztunnel', 'node2', '--manifests', MESH);
  assert.match(zt.out, /^node: node2, source: manifests$/m);
  // node2 runs only db: of the policies, only db's reaches its ztunnel; every workload and service does.
  assert.match(zt.out, /^policies\s+data\/no-shop$/m);
  assert.doesNotMatch(zt.out, /web-from-waypoint/);
  assert.equal(zt.out.match(/^workloads /gm)?.length, 3);
  const wp = JSON.parse((await run('config', 'waypoint', 'waypoint', '-n', 'shop', '--manifests', MESH, '-o', 'json')).out) as { waypoint: { identity: string }; policies: { name: string }[] };
  assert.equal(wp.waypoint.identity, 'spiffe://cluster.local/ns/shop/sa/waypoint');
  assert.deepEqual(wp.policies.map((p) => p.name), ['client-may-get']);
  const own = await run('config', 'ztunnel', 'node1', '--admin', adminUrl, '-o', 'wide');
  assert.equal(own.out, 'node: node1, version: 3\nSECTION    NAME      DETAIL\nworkloads  shop/web  10.1.0.5\n');
  assert.deepEqual(parseYaml((await run('config', 'ztunnel', 'node1', '--admin', adminUrl, '-o', 'yaml')).out), {
    node: 'node1', version: 3, workloads: [{ namespace: 'shop', name: 'web', addresses: ['10.1.0.5'] }], policies: [],
  });
});

test('status: proxies, versions, config sync, certificates near expiry and conditions; wide and json', () => {
  const report = statusReport({ url: 'http://c', healthy: true, status: STATUS, dashboard: DASHBOARD, now: NOW, warnSeconds: 3600 });
  const table = statusPrintable(report).table(false);
  assert.match(table, /^controller http:\/\/c: healthy, 1 proxies connected, config version 7$/m);
  assert.match(table, /^waypoint\s+shop\/waypoint\s+no\s+0\.1\.0\s+pending$/m);
  assert.match(table, /^ztunnel\s+node1\s+yes\s+0\.1\.0\s+synced$/m);
  // A push client the dashboard has no card for still shows, from the push server's records.
  assert.match(table, /^ztunnel\s+node3\s+-\s+-\s+disconnected$/m);
  assert.match(table, /^ztunnel\/node1\s+spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web\s+2026-01-01T00:30:00\.000Z\s+30m$/m);
  assert.doesNotMatch(table, /sa\/client/, 'not near expiry: only in wide');
  assert.match(table, /^AuthorizationPolicy\s+shop\/ext\s+Accepted\s+False\s+UnsupportedValue\s+action CUSTOM$/m);
  const wide = statusPrintable(report).table(true);
  assert.match(wide, /^ztunnel\/node1\s+spiffe:\/\/cluster\.local\/ns\/shop\/sa\/client\s+\S+\s+20h0m\s+no$/m);
  assert.match(wide, /^ztunnel\s+node1\s+yes\s+0\.1\.0\s+synced\s+node1\s+7$/m);
  const none = statusPrintable(statusReport({ url: 'http://c', healthy: false, status: { objects: [], clients: [] }, dashboard: undefined, now: NOW, warnSeconds: 3600 })).table(false);
  assert.equal(none, 'controller http://c: NOT READY, 0 proxies connected\n\nno proxies known\n\n0 certificates, none near expiry\n\nno conditions reported\n');
});

test('status against a controller\'s admin endpoint, as json', async () => {
  const { out } = await run('status', '--controller', adminUrl, '-o', 'json', '--expiry-warning', '1h');
  const report = JSON.parse(out) as { controller: { healthy: boolean }; certificates: { nearExpiry: boolean }[]; proxies: unknown[] };
  assert.equal(report.controller.healthy, true);
  assert.equal(report.proxies.length, 3);
  assert.ok(report.certificates.length === 2);
  await assert.rejects(run('status', '--controller', adminUrl, '--expiry-warning', 'soon'), /"soon" is not a duration/);
});

test('version: the client always, the controller where it answers', async () => {
  const json = JSON.parse((await run('version', '--client', '-o', 'json')).out) as { client: { version: string }; controller?: unknown };
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(json.client.version, pkg.version);
  assert.equal(json.controller, undefined);
  const reached = await run('version', '--controller', adminUrl);
  assert.match(reached.out, new RegExp(`^client\\s+${pkg.version.replaceAll('.', '\\.')}$`, 'm'));
  assert.match(reached.out, new RegExp(`^controller\\s+unknown\\s+${adminUrl}$`, 'm'));
  const gone = await run('version', '--controller', 'http://127.0.0.1:1');
  assert.match(gone.out, /^controller\s+-\s+unreachable: cannot reach http:\/\/127\.0\.0\.1:1\/healthz/m);
  assert.equal(buildTag('# HELP x\nistio_build{component="ztunnel",tag="0.1.0"} 1\nistio_build{component="controller",tag="1.2.3"} 1\n', 'controller'), '1.2.3');
  assert.equal(buildTag('istio_build{component="ztunnel",tag="0.1.0"} 1\n', 'controller'), undefined);
});

test('completion bash: a real bash completes commands, subcommands, options and option values', async () => {
  const script = join(dir, 'weft.bash');
  await writeFile(script, (await run('completion', 'bash')).out);
  const complete = async (...words: string[]): Promise<string> => {
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
      execFile('bash', ['-c', `source "$0"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _weft; printf '%s\\n' "\${COMPREPLY[@]}"`, script],
        (err, stdout) => (err === null ? resolve({ stdout }) : reject(new Error(`bash: ${err.message}`))));
    });
    return stdout.trim().split('\n').join(' ');
  };
  assert.equal(await complete('weft', 'wa'), 'waypoint');
  assert.equal(await complete('weft', 'waypoint', ''), 'apply list status delete --help');
  assert.equal(await complete('weft', 'status', '-o', ''), 'table wide json yaml');
  assert.equal(await complete('weft', 'completion', ''), 'bash zsh --help');
  assert.match(await complete('weft', 'authz', 'check', '--f'), /^--from$/);
});

test('completion zsh: a real zsh, with compinit loaded, registers the function and completes what bash does', async () => {
  const script = join(dir, 'weft.zsh');
  await writeFile(script, (await run('completion', 'zsh')).out);
  // compadd is a builtin only inside a completion widget: a function of the same name takes its
  // place and prints what the completion offers. `words` and CURRENT are what zsh hands a widget.
  const complete = async (...words: string[]): Promise<string> => {
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
      execFile('zsh', ['-f', '-c', [
        'autoload -U compinit && compinit -u -D',
        'source "$0"',
        'print -r -- "registered:${_comps[weft]}"',
        'compadd() { [[ "$1" == "--" ]] && shift; print -l -- "$@"; }',
        `words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}`,
        '_weft',
      ].join('\n'), script], (err, stdout) => (err === null ? resolve({ stdout }) : reject(new Error(`zsh: ${err.message}`))));
    });
    const lines = stdout.trim().split('\n');
    assert.equal(lines[0], 'registered:_weft');
    return lines.slice(1).join(' ');
  };
  assert.equal(await complete('weft', 'waypoint', ''), 'apply list status delete --help');
  assert.equal(await complete('weft', 'status', '-o', ''), 'table wide json yaml');
  assert.equal(await complete('weft', 'completion', ''), 'bash zsh --help');
  assert.match(await complete('weft', 'authz', 'check', ''), /--from/);
});

test('install --dry-run prints the rendered chart as YAML, CRDs first; --set reaches the chart', async () => {
  const { out } = await run('install', '--dry-run');
  const docs = parseAllDocuments(out).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } });
  const r = renderInstall();
  assert.equal(docs.length, r.crds.length + r.objects.length);
  assert.ok(docs.slice(0, r.crds.length).every((d) => d.kind === 'CustomResourceDefinition'));
  assert.ok(docs.some((d) => d.kind === 'Deployment' && d.metadata.name === 'weft-controller' && d.metadata.namespace === 'istio-system'));
  const other = parseAllDocuments((await run('install', '--dry-run', '-n', 'mesh')).out).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } });
  assert.ok(other.some((d) => d.kind === 'Namespace' && d.metadata.name === 'mesh'));
  assert.deepEqual(parseSet(['a.b=2', 'a.c=x', 'd=true']), { a: { b: 2, c: 'x' }, d: true });
  assert.throws(() => parseSet(['novalue']), /expected key=value/);
  assert.equal(parseDuration('90s') + parseDuration('2m') + parseDuration('1h'), 90 + 120 + 3600);
});

test('enroll and unenroll label the namespace in the folder that declares it; an unknown one is an error', async () => {
  const folder = join(dir, 'enroll');
  await cp(MESH, folder, { recursive: true });
  assert.equal((await run('unenroll', 'shop', '--manifests', folder)).out, 'namespace/shop unlabeled istio.io/dataplane-mode\n');
  const labelsOf = async (): Promise<Record<string, string> | undefined> => parseAllDocuments(await readFile(join(folder, 'mesh.yaml'), 'utf8'))
    .map((d) => d.toJS() as { kind: string; metadata: { name: string; labels?: Record<string, string> } })
    .find((o) => o.kind === 'Namespace' && o.metadata.name === 'shop')?.metadata.labels;
  assert.deepEqual(await labelsOf(), { 'istio.io/use-waypoint': 'waypoint' });
  const outside = await run('authz', 'check', '--manifests', folder, '--from', 'shop/client', '--to', 'data/db');
  assert.match(outside.out, /shop\/client is not in the mesh/);
  assert.equal((await run('enroll', 'shop', '--manifests', folder)).out, 'namespace/shop labeled istio.io/dataplane-mode=ambient\n');
  assert.deepEqual(await labelsOf(), { 'istio.io/use-waypoint': 'waypoint', 'istio.io/dataplane-mode': 'ambient' });
  await assert.rejects(run('enroll', 'nowhere', '--manifests', folder), /no Namespace nowhere in/);
});

test('workloads and waypoint list print json and yaml as well as tables', async () => {
  const list = JSON.parse((await run('waypoint', 'list', '-A', '--manifests', MESH, '-o', 'json')).out) as { namespace: string; name: string }[];
  assert.deepEqual(list.map((w) => `${w.namespace}/${w.name}`), ['shop/waypoint']);
  const status = await run('waypoint', 'status', '-n', 'shop', '--manifests', MESH);
  assert.match(status.out, /^waypoint\s+service\s+-\s+-\s+-\s+NotReconciled/m);
  await assert.rejects(run('waypoint', 'status', '-n', 'shop', 'nope', '--manifests', MESH), /waypoint shop\/nope not found/);
});
