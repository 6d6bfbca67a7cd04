// Table tests of reading and changing the fwmark rule and table 100's reply route.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countMarkRules, hasLocalRoute, routingChanges } from './routing.ts';
import { hasAddressOffLoopback } from './find-netns.ts';

test('countMarkRules counts only fwmark 0x111/0xfff → table 100', () => {
  const cases: Array<[string, unknown, number]> = [
    ['not json array', { fwmark: '0x111' }, 0],
    ['defaults only', [{ priority: 0, src: 'all', table: 'local' }, { priority: 32766, src: 'all', table: 'main' }], 0],
    ['ours', [{ priority: 32765, src: 'all', fwmark: '0x111', fwmask: '0xfff', table: '100' }], 1],
    ['ours twice', [{ fwmark: '0x111', fwmask: '0xfff', table: '100' }, { fwmark: '0x111', fwmask: '0xfff', table: '100' }], 2],
    ['other mask', [{ fwmark: '0x111', fwmask: '0xffff', table: '100' }], 0],
    ['no mask is a full mask', [{ fwmark: '0x111', table: '100' }], 0],
    ['other table', [{ fwmark: '0x111', fwmask: '0xfff', table: '101' }], 0],
  ];
  for (const [name, json, want] of cases) assert.equal(countMarkRules(json), want, name);
});

test('hasLocalRoute finds the local default route via lo', () => {
  assert.equal(hasLocalRoute([{ type: 'local', dst: 'default', dev: 'lo', scope: 'host', flags: [] }]), true);
  assert.equal(hasLocalRoute([{ type: 'unicast', dst: 'default', dev: 'lo' }]), false);
  assert.equal(hasLocalRoute([{ type: 'local', dst: '10.0.0.0/8', dev: 'lo' }]), false);
  assert.equal(hasLocalRoute([]), false);
  assert.equal(hasLocalRoute('nope'), false);
});

test('routingChanges adds what is missing and removes every copy', () => {
  const cases: Array<[string, { rules: number; route: boolean }, boolean, string[]]> = [
    ['install on empty', { rules: 0, route: false }, true, ['rule add fwmark 0x111/0xfff lookup 100', 'route add local 0.0.0.0/0 dev lo table 100']],
    ['install when present', { rules: 1, route: true }, true, []],
    ['install, route missing', { rules: 1, route: false }, true, ['route add local 0.0.0.0/0 dev lo table 100']],
    ['remove duplicates', { rules: 2, route: true }, false,
      ['rule del fwmark 0x111/0xfff lookup 100', 'rule del fwmark 0x111/0xfff lookup 100', 'route del local 0.0.0.0/0 dev lo table 100']],
    ['remove when absent', { rules: 0, route: false }, false, []],
  ];
  for (const [name, now, want, lines] of cases) assert.deepEqual(routingChanges(now, want), lines, name);
});

test('hasAddressOffLoopback looks at IPv4 addresses of non-loopback links', () => {
  const links = [
    { ifname: 'lo', flags: ['LOOPBACK', 'UP'], link_type: 'loopback', addr_info: [{ family: 'inet', local: '127.0.0.1' }, { family: 'inet', local: '10.9.9.9' }] },
    { ifname: 'eth0', flags: ['BROADCAST', 'UP'], link_type: 'ether', addr_info: [{ family: 'inet6', local: 'fe80::1' }, { family: 'inet', local: '10.1.2.3' }] },
  ];
  assert.equal(hasAddressOffLoopback(links, '10.1.2.3'), true);
  assert.equal(hasAddressOffLoopback(links, '10.9.9.9'), false, 'an address on lo is not a pod address');
  assert.equal(hasAddressOffLoopback(links, '127.0.0.1'), false);
  assert.equal(hasAddressOffLoopback(links, '10.1.2.4'), false);
  assert.equal(hasAddressOffLoopback({}, '10.1.2.3'), false);
  assert.equal(hasAddressOffLoopback([null, 1, { addr_info: 'x' }], '10.1.2.3'), false);
});
