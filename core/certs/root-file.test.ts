// The trust bundle file: read at start, read again when the kubelet swaps the ConfigMap's files
// (a symlink renamed in the folder), kept when the new content is unreadable.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { testPki } from '#core/ca/testing.ts';
import { silentLogger } from '#core/log.ts';
import { RootFile, readRootBundle } from './root-file.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const fp = (pem: string): string => new X509Certificate(pem).fingerprint256;

/** Lays the bundle out as the kubelet does a ConfigMap volume: `..data` → a timestamped folder, the key a link through it. */
async function publish(dir: string, version: number, text: string): Promise<void> {
  const data = join(dir, `..v${version}`);
  await mkdir(data);
  await writeFile(join(data, 'root-cert.pem'), text);
  await symlink(`..v${version}`, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  if (version === 1) await symlink('..data/root-cert.pem', join(dir, 'root-cert.pem'));
}

test('a bundle holds one or more roots; none or an unreadable one is refused', async () => {
  const [a, b] = [(await testPki()).rootsPem[0] ?? '', (await testPki()).rootsPem[0] ?? ''];
  assert.deepEqual(readRootBundle(`${a}${b}`, 'x').map(fp), [fp(a), fp(b)]);
  assert.throws(() => readRootBundle('', 'x'), /holds no certificate/);
  assert.throws(() => readRootBundle('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'x'), /unreadable certificate/);
});

test('a swapped ConfigMap volume is read again and reported; unreadable content keeps the last bundle', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-root-file-'));
  dirs.push(dir);
  const [a, b] = [(await testPki()).rootsPem[0] ?? '', (await testPki()).rootsPem[0] ?? ''];
  await publish(dir, 1, a);
  const changes: string[][] = [];
  let wake = (): void => undefined;
  const file = await RootFile.open(join(dir, 'root-cert.pem'), silentLogger, (roots) => {
    changes.push(roots.map(fp));
    wake();
  });
  try {
    assert.deepEqual(file.current().map(fp), [fp(a)]);
    const changed = new Promise<void>((resolve) => { wake = resolve; });
    await publish(dir, 2, `${b}${a}`);
    await changed;
    assert.deepEqual(changes, [[fp(b), fp(a)]]);
    assert.deepEqual(file.current().map(fp), [fp(b), fp(a)]);
    // Unreadable, then the same bundle again, then a real change: only the last is reported.
    const next = new Promise<void>((resolve) => { wake = resolve; });
    await publish(dir, 3, 'garbage');
    await publish(dir, 4, `${b}${a}`);
    await publish(dir, 5, b);
    await next;
    assert.deepEqual(changes.at(-1), [fp(b)]);
    assert.ok(changes.every((c) => c.length > 0));
  } finally {
    file.close();
  }
});
