import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWeftError } from '#core/errors.ts';
import { IpPool, addressPlan, cidrContains, formatCidr, intToIp, ipToInt, podPool, servicePool } from './addressing.ts';

test('ip <-> int round trip', () => {
  for (const ip of ['0.0.0.0', '10.224.1.2', '192.168.200.255', '255.255.255.255']) assert.equal(intToIp(ipToInt(ip)), ip);
  for (const bad of ['1.2.3', '1.2.3.256', 'a.b.c.d', '1.2.3.4.5']) {
    assert.throws(() => ipToInt(bad), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_BAD_ADDRESS'), bad);
  }
});

test('address plans of different indexes do not overlap', () => {
  const plans = Array.from({ length: 16 }, (_, i) => addressPlan(i));
  for (const a of plans) {
    for (const b of plans) {
      if (a === b) continue;
      assert.ok(!cidrContains(a.clusterPodCidr, b.clusterPodCidr.base));
      assert.ok(!cidrContains(a.serviceCidr, b.serviceCidr.base));
      assert.ok(!cidrContains(a.underlay, b.underlay.base));
      assert.ok(!cidrContains(a.underlay, b.hostIp));
    }
  }
});

test('plan of index 3', () => {
  const p = addressPlan(3);
  assert.equal(formatCidr(p.underlay), '192.168.203.0/24');
  assert.equal(p.hostIp, '192.168.203.1');
  assert.equal(p.nodeIp(1), '192.168.203.11');
  assert.equal(formatCidr(p.podCidr(2)), '10.227.2.0/24');
  assert.equal(p.podGateway(2), '10.227.2.1');
  assert.equal(formatCidr(p.serviceCidr), '10.99.0.0/16');
  assert.ok(cidrContains(p.clusterPodCidr, p.podGateway(200)));
  assert.equal(formatCidr(addressPlan(0, 28).podCidr(1)), '10.224.1.0/28');
});

test('plans refuse out-of-range input', () => {
  assert.throws(() => addressPlan(16), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_BAD_INDEX'));
  assert.throws(() => addressPlan(-1), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_BAD_INDEX'));
  assert.throws(() => addressPlan(0, 31), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_BAD_CIDR'));
  assert.throws(() => addressPlan(0, 16), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_BAD_CIDR'));
  assert.throws(() => addressPlan(0).nodeIp(0), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_BAD_INDEX'));
  assert.throws(() => addressPlan(0).podCidr(201), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_BAD_INDEX'));
});

test('pod pool skips network, gateway and broadcast, then is exhausted', () => {
  const pool = podPool('node1', { base: '10.224.1.0', prefixLength: 29 });
  assert.equal(pool.capacity, 5);
  const got = Array.from({ length: 5 }, () => pool.allocate());
  assert.deepEqual(got, ['10.224.1.2', '10.224.1.3', '10.224.1.4', '10.224.1.5', '10.224.1.6']);
  assert.throws(() => pool.allocate(), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_CIDR_EXHAUSTED') && /node1/.test(e.message));
  pool.release('10.224.1.4');
  assert.equal(pool.allocate(), '10.224.1.4');
});

test('a /30 pod CIDR holds exactly one pod', () => {
  const pool = podPool('node2', { base: '10.224.2.0', prefixLength: 30 });
  assert.equal(pool.allocate(), '10.224.2.2');
  assert.throws(() => pool.allocate(), (e) => isWeftError(e, 'WEFT_ERR_LOCAL_CIDR_EXHAUSTED'));
});

test('service pool starts at .0.10 and reuses the lowest released address', () => {
  const pool = servicePool({ base: '10.96.0.0', prefixLength: 16 });
  assert.equal(pool.allocate(), '10.96.0.10');
  assert.equal(pool.allocate(), '10.96.0.11');
  assert.equal(pool.allocate(), '10.96.0.12');
  pool.release('10.96.0.11');
  assert.equal(pool.allocate(), '10.96.0.11');
  assert.equal(pool.used, 3);
  assert.equal(new IpPool('x', { base: '10.0.0.0', prefixLength: 24 }, 250, 1000).capacity, 6);
});
