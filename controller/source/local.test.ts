import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile, unlink, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '#core/log.ts';
import { LocalSource, parseFile } from '#controller/source/local.ts';

const logger = new Logger({ level: 'off' });
let root = '';

before(async () => { root = await mkdtemp(join(tmpdir(), 'weft-local-source-')); });
after(async () => { await rm(root, { recursive: true, force: true }); });

const podYaml = (name: string, ns = 'app', ip = '10.0.0.1'): string =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: ${ns}\nstatus:\n  phase: Running\n  podIP: ${ip}\n`;

/** Resolves at the next change notification (or fails after a timeout). */
function nextChange(source: LocalSource, label = '', ms = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no change seen: ${label}`)); }, ms);
    const off = source.onChange(() => { clearTimeout(timer); off(); resolve(); });
  });
}

async function withSource(dirs: string[], body: (s: LocalSource) => Promise<void>): Promise<void> {
  const source = new LocalSource({ dirs, logger, debounceMs: 20 });
  try {
    await source.start();
    await body(source);
  } finally {
    await source.stop();
  }
}

test('initial load across dirs, multi-document files, implicit namespaces', async () => {
  const cluster = join(root, 'initial-cluster');
  const user = join(root, 'initial-user');
  await mkdir(join(cluster, 'nested'), { recursive: true });
  await mkdir(user, { recursive: true });
  await writeFile(join(cluster, 'pod-app-a.yaml'), podYaml('a'));
  await writeFile(join(cluster, 'nested', 'pods.yml'), `${podYaml('b')}---\n${podYaml('c', 'other')}\n---\n`);
  await writeFile(join(user, 'ns.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app', labels: { 'istio.io/dataplane-mode': 'ambient' } } }));
  await writeFile(join(user, 'notes.txt'), 'not a manifest');
  await writeFile(join(user, '.hidden.yaml'), 'kind: [broken');
  await withSource([cluster, user], async (s) => {
    const objs = s.current();
    assert.deepEqual([...objs.pods.keys()].sort(), ['app/a', 'app/b', 'other/c']);
    assert.deepEqual(objs.namespaces.get('app')?.metadata.labels, { 'istio.io/dataplane-mode': 'ambient' });
    assert.deepEqual(objs.namespaces.get('other')?.metadata.labels, {});
    assert.deepEqual(s.rejected(), []);
  });
});

test('bad YAML, non-objects and unknown kinds are rejected while the rest loads', async () => {
  const dir = join(root, 'bad');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'broken.yaml'), 'kind: [unclosed\n');
  await writeFile(join(dir, 'mixed.yaml'), `${podYaml('good')}---\n- just\n- a list\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  namespace: app\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  namespace: app\n`);
  await withSource([dir], async (s) => {
    assert.deepEqual([...s.current().pods.keys()], ['app/good']);
    const reasons = s.rejected().map((r) => `${r.file?.split('/').pop()} ${r.kind ?? '-'} ${r.name ?? '-'} ${r.reason}`);
    assert.equal(reasons.length, 4, reasons.join('\n'));
    assert.match(reasons[0] ?? '', /^broken\.yaml - - document 0: not valid YAML/);
    assert.match(reasons[1] ?? '', /^mixed\.yaml - - document 1: not an object/);
    assert.match(reasons[2] ?? '', /^mixed\.yaml Deployment d document 2: unsupported kind Deployment/);
    assert.match(reasons[3] ?? '', /^mixed\.yaml Pod - document 3: metadata\.name/);
  });
});

test('add, modify, delete files and atomic-rename writes', async () => {
  const dir = join(root, 'live');
  await mkdir(dir, { recursive: true });
  await withSource([dir], async (s) => {
    assert.equal(s.current().pods.size, 0);

    let changed = nextChange(s, 'step 1');
    await writeFile(join(dir, 'pod-app-a.yaml'), podYaml('a'));
    await changed;
    assert.deepEqual([...s.current().pods.keys()], ['app/a']);

    changed = nextChange(s, 'step 2');
    await writeFile(join(dir, 'pod-app-a.yaml'), podYaml('a2', 'app', '10.0.0.2'));
    await changed;
    assert.deepEqual([...s.current().pods.keys()], ['app/a2'], 'a file replaces what it contributed');

    changed = nextChange(s, 'step 3');
    const tmp = join(dir, '.pod-app-b.yaml.tmp');
    await writeFile(tmp, podYaml('b', 'app', '10.0.0.3'));
    await rename(tmp, join(dir, 'pod-app-b.yaml'));
    await changed;
    assert.deepEqual([...s.current().pods.keys()].sort(), ['app/a2', 'app/b']);
    assert.equal(s.current().pods.get('app/b')?.status.podIP, '10.0.0.3');

    changed = nextChange(s, 'step 4');
    await writeFile(join(dir, 'x.yaml.tmp'), podYaml('b', 'app', '10.0.0.9'));
    await rename(join(dir, 'x.yaml.tmp'), join(dir, 'pod-app-b.yaml'));
    await changed;
    assert.equal(s.current().pods.get('app/b')?.status.podIP, '10.0.0.9', 'rename over an existing file');

    changed = nextChange(s, 'step 5');
    await unlink(join(dir, 'pod-app-a.yaml'));
    await changed;
    assert.deepEqual([...s.current().pods.keys()], ['app/b'], 'a deleted file withdraws its objects');

    changed = nextChange(s, 'step 6');
    await writeFile(join(dir, 'pod-app-b.yaml'), 'kind: [oops');
    await changed;
    assert.equal(s.current().pods.size, 0);
    assert.equal(s.rejected().length, 1);
  });
});

test('the same object in two files: the later path wins and the other is reported', async () => {
  const dir = join(root, 'dup');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'a.yaml'), podYaml('p', 'app', '10.0.0.1'));
  await writeFile(join(dir, 'b.yaml'), podYaml('p', 'app', '10.0.0.2'));
  await withSource([dir], async (s) => {
    assert.equal(s.current().pods.get('app/p')?.status.podIP, '10.0.0.2');
    assert.match(s.rejected()[0]?.reason ?? '', /also declared in .*b\.yaml/);
  });
});

test('a missing dir is created; no change event when nothing changed', async () => {
  const dir = join(root, 'later', 'cluster');
  await withSource([dir], async (s) => {
    let events = 0;
    s.onChange(() => events++);
    await writeFile(join(dir, 'readme.md'), 'ignored');
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(events, 0);
  });
});

test('parseFile unpacks kind: List', () => {
  const out = parseFile('f.yaml', `apiVersion: v1\nkind: List\nitems:\n- ${podYaml('a').trim().split('\n').join('\n  ')}\n- {apiVersion: v1, kind: Secret, metadata: {name: s}}\n`);
  assert.equal(out.objects.length, 1);
  assert.match(out.rejections[0]?.reason ?? '', /document 0 item 1: unsupported kind Secret/);
});

test('a folder created later is watched too', async () => {
  const dir = join(root, 'tree');
  await mkdir(dir, { recursive: true });
  await withSource([dir], async (s) => {
    let changed = nextChange(s, 'new folder');
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'p.yaml'), podYaml('p'));
    await changed;
    if (s.current().pods.size === 0) await nextChange(s, 'file in new folder');
    assert.deepEqual([...s.current().pods.keys()], ['app/p']);
    changed = nextChange(s, 'edit in new folder');
    await writeFile(join(dir, 'sub', 'p.yaml'), podYaml('q'));
    await changed;
    assert.deepEqual([...s.current().pods.keys()], ['app/q']);
  });
});

test('a Telemetry manifest, as Istio users write it, is read from a folder and its changes are seen', async () => {
  const dir = join(root, 'telemetry');
  await mkdir(dir, { recursive: true });
  const manifest = (disabled: boolean): string => [
    'apiVersion: telemetry.istio.io/v1', 'kind: Telemetry', 'metadata:', '  name: quiet', '  namespace: shop', 'spec:',
    '  accessLogging:', '    - providers:', '        - name: envoy', `      disabled: ${disabled}`,
    '  tracing:', '    - randomSamplingPercentage: 100', '',
  ].join('\n');
  await writeFile(join(dir, 'telemetry.yaml'), manifest(true));
  await withSource([dir], async (s) => {
    assert.deepEqual(s.rejected(), []);
    const t = s.current().telemetries.get('shop/quiet');
    assert.deepEqual(t?.spec, { targetRefs: [], accessLogging: [{ providers: ['envoy'], disabled: true }], tracing: [{ providers: [], randomSamplingPercentage: 100 }] });
    assert.ok(s.current().namespaces.has('shop'), 'its namespace exists implicitly');
    const changed = nextChange(s, 'telemetry edited');
    await writeFile(join(dir, 'telemetry.yaml'), manifest(false));
    await changed;
    assert.equal(s.current().telemetries.get('shop/quiet')?.spec.accessLogging[0]?.disabled, false);
  });
});
