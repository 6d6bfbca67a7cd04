import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHostPort, parseAuthority } from '#core/hbone/authority.ts';

test('parseAuthority accepts ip:port and [ipv6]:port only', () => {
  const cases: [string, { host: string; port: number } | undefined][] = [
    ['10.0.0.1:8080', { host: '10.0.0.1', port: 8080 }],
    ['127.0.0.1:1', { host: '127.0.0.1', port: 1 }],
    ['127.0.0.1:65535', { host: '127.0.0.1', port: 65535 }],
    ['[::1]:443', { host: '::1', port: 443 }],
    ['[fd00::1:2]:15008', { host: 'fd00::1:2', port: 15008 }],
    ['127.0.0.1:0', undefined],
    ['127.0.0.1:65536', undefined],
    ['127.0.0.1:', undefined],
    ['127.0.0.1', undefined],
    ['127.0.0.1:80x', undefined],
    ['127.0.0.1:+80', undefined],
    ['127.0.0.1:080080', undefined],
    ['example.com:80', undefined],
    ['::1:80', undefined],
    ['[::1]80', undefined],
    ['[::1]', undefined],
    ['[fe80::1%eth0]:80', undefined],
    ['[10.0.0.1]:80', undefined],
    ['256.0.0.1:80', undefined],
    ['', undefined],
  ];
  for (const [input, want] of cases) assert.deepEqual(parseAuthority(input), want, input);
});

test('formatHostPort brackets IPv6', () => {
  assert.equal(formatHostPort('10.1.2.3', 80), '10.1.2.3:80');
  assert.equal(formatHostPort('fd00::1', 80), '[fd00::1]:80');
});
