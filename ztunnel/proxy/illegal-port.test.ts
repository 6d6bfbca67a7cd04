import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ILLEGAL_PORTS, selfCallReason } from '#ztunnel/proxy/illegal-port.ts';

test('ILLEGAL_PORTS are the three pod listener ports', () => {
  assert.deepEqual([...ILLEGAL_PORTS].sort(), [15001, 15006, 15008]);
});

test('selfCallReason refuses ztunnel ports and the listener address, allows the rest', () => {
  const listener = { address: '10.244.1.5', port: 15001 };
  const cases: { name: string; dst: { address: string; port: number }; local?: { address?: string; port?: number }; refused: RegExp | undefined }[] = [
    { name: 'an app port', dst: { address: '10.244.2.7', port: 8080 }, local: listener, refused: undefined },
    { name: 'pod IP :15001', dst: { address: '10.244.2.7', port: 15001 }, local: listener, refused: /port 15001/ },
    { name: 'pod IP :15006', dst: { address: '10.244.2.7', port: 15006 }, local: listener, refused: /port 15006/ },
    { name: 'pod IP :15008', dst: { address: '10.244.2.7', port: 15008 }, local: listener, refused: /port 15008/ },
    { name: 'loopback :15001', dst: { address: '127.0.0.1', port: 15001 }, local: { address: '127.0.0.1', port: 15001 }, refused: /port 15001/ },
    { name: 'admin port is not a data-path listener', dst: { address: '10.244.2.7', port: 15000 }, local: listener, refused: undefined },
    { name: 'listener own address (other port)', dst: { address: '10.244.1.5', port: 9000 }, local: { address: '10.244.1.5', port: 9000 }, refused: /listener's own address/ },
    { name: 'listener own address, v4-mapped', dst: { address: '10.244.1.5', port: 9000 }, local: { address: '::ffff:10.244.1.5', port: 9000 }, refused: /listener's own address/ },
    { name: 'same IP, other port', dst: { address: '10.244.1.5', port: 9001 }, local: { address: '10.244.1.5', port: 9000 }, refused: undefined },
    { name: 'HBONE target app port (no local)', dst: { address: '10.244.1.5', port: 7000 }, refused: undefined },
    { name: 'HBONE target :15008 (no local)', dst: { address: '10.244.1.5', port: 15008 }, refused: /port 15008/ },
  ];
  for (const c of cases) {
    const r = selfCallReason(c.dst, c.local);
    if (c.refused === undefined) assert.equal(r, undefined, c.name);
    else assert.match(r ?? '', c.refused, c.name);
  }
});
