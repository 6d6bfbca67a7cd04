import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import { MIN_DEFLATED_FRAME_BYTES, acceptsDeflate, deflateFrame, inflateFrame } from './compression.ts';
import { MAX_SERVER_FRAME_BYTES } from './protocol.ts';
import { zipBomb } from './testing.ts';

test('acceptsDeflate reads a comma-separated header, in any case', () => {
  const cases: [string | string[] | undefined, boolean][] = [
    [undefined, false], ['', false], ['deflate', true], ['Deflate', true], ['gzip, deflate', true], [['gzip', ' deflate '], true],
    ['gzip', false], ['deflated', false], ['x-deflate', false],
  ];
  for (const [header, want] of cases) assert.equal(acceptsDeflate(header), want, JSON.stringify(header));
});

test('deflateFrame: a large frame round-trips; a small or incompressible one stays text', () => {
  const text = Buffer.from(JSON.stringify({ type: 'snapshot', version: 3, resources: Array.from({ length: 500 }, (_, i) => ({ kind: 'workload', key: `w${i}` })) }));
  const deflated = deflateFrame(text);
  assert.ok(deflated !== undefined && deflated.length < text.length / 4);
  assert.deepEqual(inflateFrame(deflated, MAX_SERVER_FRAME_BYTES), { ok: true, message: text });
  assert.equal(deflateFrame(Buffer.alloc(MIN_DEFLATED_FRAME_BYTES - 1, 0x61)), undefined);
  // Random bytes do not shrink: deflate stores them, a few bytes longer.
  assert.equal(deflateFrame(randomBytes(4096)), undefined);
});

test('inflateFrame refuses corrupt data and a frame that inflates past the bound', () => {
  const corrupt = inflateFrame(Buffer.from('not deflate at all'), MAX_SERVER_FRAME_BYTES);
  assert.equal(corrupt.ok, false);
  assert.match(corrupt.ok ? '' : corrupt.reason, /not valid deflate data/);
  const good = deflateRawSync(Buffer.from('{"type":"delta"}'));
  assert.equal(inflateFrame(good, 16).ok, true);
  assert.deepEqual(inflateFrame(good, 15), { ok: false, reason: 'compressed frame inflates to more than 15 bytes' });
});

test('a zip bomb (1 GiB of zeros in ≈ 1 MB) is refused at the bound, never inflated whole', () => {
  const bomb = zipBomb(1);
  assert.ok(bomb.length < 2 * 1024 * 1024);
  const rssBefore = process.resourceUsage().maxRSS * 1024;
  const got = inflateFrame(bomb, 16 * 1024 * 1024);
  assert.deepEqual(got, { ok: false, reason: `compressed frame inflates to more than ${16 * 1024 * 1024} bytes` });
  // The bound is the behaviour here: inflating stops near 16 MB (the whole would be 1 GiB).
  const grew = process.resourceUsage().maxRSS * 1024 - rssBefore;
  assert.ok(grew < 256 * 1024 * 1024, `peak RSS grew by ${Math.round(grew / 1024 / 1024)} MB`);
});
