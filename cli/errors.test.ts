// Every error code the CLI's sources throw is in the catalog, and every catalog entry is used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CLI_ERRORS } from '#cli/errors.ts';

test('the catalog lists exactly the codes the CLI throws', async () => {
  const dir = fileURLToPath(new URL('.', import.meta.url));
  const used = new Set<string>();
  for (const f of await readdir(dir)) {
    if (!f.endsWith('.ts') || f.endsWith('.test.ts') || f === 'errors.ts') continue;
    for (const m of (await readFile(`${dir}${f}`, 'utf8')).matchAll(/new WeftError\('(WEFT_ERR_[A-Z_]+)'/g)) used.add(m[1] ?? '');
  }
  assert.deepEqual([...used].sort(), Object.keys(CLI_ERRORS).sort());
});
