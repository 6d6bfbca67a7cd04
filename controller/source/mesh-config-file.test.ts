import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { silentLogger } from '#core/log.ts';
import type { MeshConfig } from '#controller/model/mesh-config.ts';
import { MeshConfigFile } from '#controller/source/mesh-config-file.ts';

const provider = (name: string): string => `extensionProviders:\n- name: ${name}\n  opentelemetry: { service: c, port: 4318, http: {} }\n`;

test('the mesh config file: read at start, again on change (also a ConfigMap-style rename), and a bad edit keeps the last good config with the fault named', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-mesh-'));
  const path = join(dir, 'mesh');
  const seen: MeshConfig[] = [];
  const waiters: { check: (m: MeshConfig) => boolean; resolve: () => void }[] = [];
  const next = (check: (m: MeshConfig) => boolean): Promise<void> => new Promise((resolve) => {
    if (seen.some(check)) resolve();
    else waiters.push({ check, resolve });
  });
  let file: MeshConfigFile | undefined;
  try {
    await writeFile(path, provider('first'));
    file = await MeshConfigFile.open(path, silentLogger, (m) => {
      seen.push(m);
      for (const w of waiters.splice(0)) if (w.check(m)) w.resolve(); else waiters.push(w);
    }, 10);
    assert.deepEqual([...file.current().extensionProviders.keys()], ['first']);

    // The kubelet writes a new file beside the old one and renames it into place.
    await writeFile(join(dir, '.tmp'), provider('second'));
    await rename(join(dir, '.tmp'), path);
    await next((m) => m.extensionProviders.has('second'));
    assert.deepEqual([...file.current().extensionProviders.keys()], ['second']);

    await writeFile(path, 'extensionProviders: [unclosed');
    await next((m) => m.problems.length > 0);
    assert.deepEqual([...file.current().extensionProviders.keys()], ['second'], 'the last good config stays');
    assert.match(file.current().problems.join('\n'), new RegExp(`${path}: .*the last good mesh config stays in force`));

    await rm(path);
    await next((m) => m.problems.some((p) => p.startsWith(`cannot read ${path}`)));
    assert.deepEqual([...file.current().extensionProviders.keys()], ['second']);

    await writeFile(path, provider('third'));
    await next((m) => m.extensionProviders.has('third'));
    assert.deepEqual(file.current().problems, []);
  } finally {
    file?.close();
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * Opens `relative` (under a fresh folder, which may not exist yet) and hands `body` the file,
 * the path and the first config it reports; closes and removes everything after.
 */
async function withLateFile(relative: string, body: (file: MeshConfigFile, path: string, first: Promise<MeshConfig>) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-mesh-'));
  const path = join(dir, relative);
  let file: MeshConfigFile | undefined;
  try {
    let heard: (m: MeshConfig) => void = () => undefined;
    const first = new Promise<MeshConfig>((resolve) => { heard = resolve; });
    file = await MeshConfigFile.open(path, silentLogger, (m) => heard(m), 10, 20);
    await body(file, path, first);
  } finally {
    file?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('no mesh config file at start is the empty config, with no problem; the file appearing later is read', async () => {
  await withLateFile('mesh', async (file, path, first) => {
    assert.deepEqual(file.current().problems, []);
    assert.equal(file.current().extensionProviders.size, 0);
    await writeFile(path, provider('late'));
    assert.deepEqual([...(await first).extensionProviders.keys()], ['late']);
  });
});

test('a folder that is not there at start is looked for again, and the file in it read once it appears', async () => {
  await withLateFile('config/mesh', async (file, path, first) => {
    assert.deepEqual(file.current().problems, [], 'no folder: the empty config, nothing wrong');
    await mkdir(dirname(path));
    await writeFile(path, provider('appeared'));
    assert.deepEqual([...(await first).extensionProviders.keys()], ['appeared']);
  });
});
