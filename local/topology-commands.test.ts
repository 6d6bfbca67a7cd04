import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressPlan } from './addressing.ts';
import { ClusterNames } from './naming.ts';
import {
  clusterCreateBatch, hostBatch, nodeBatch, podBatch, podCreateBatch, podNodeBatch, underlayBatch, type PodPlumbing,
} from './topology-commands.ts';

const names = new ClusterNames('tst');
const plan = addressPlan(1);
const nodes = [{ index: 1, netns: 'tst-node1' }, { index: 2, netns: 'tst-node2' }];

test('cluster creation: netns first, then bridge and veths straight into their netns', () => {
  assert.deepEqual(clusterCreateBatch(names, nodes, true), [
    'netns add tst-underlay',
    'netns add tst-node1',
    'netns add tst-node2',
    'link add name tst-br netns tst-underlay type bridge',
    'link add name tst-n1 netns tst-node1 type veth peer name tst-n1b netns tst-underlay',
    'link add name tst-n2 netns tst-node2 type veth peer name tst-n2b netns tst-underlay',
    'link add name tst-host type veth peer name tst-hostb netns tst-underlay',
  ]);
  assert.ok(!clusterCreateBatch(names, nodes, false).some((l) => l.includes('host')));
  assert.deepEqual(underlayBatch(names, nodes, false), [
    'link set lo up', 'link set tst-br up', 'link set tst-n1b master tst-br up', 'link set tst-n2b master tst-br up',
  ]);
});

test('a node routes the other nodes\' pod CIDRs over the underlay', () => {
  assert.deepEqual(nodeBatch(names, plan, nodes[1]!, nodes), [
    'link set lo up',
    'addr add 10.225.2.1/32 dev lo',
    'addr add 192.168.201.12/24 dev tst-n2',
    'link set tst-n2 up',
    'route add 10.225.1.0/24 via 192.168.201.11 dev tst-n2',
  ]);
});

test('the host reaches pod CIDRs through their nodes and VIPs through the first node', () => {
  assert.deepEqual(hostBatch(names, plan, nodes), [
    'addr add 192.168.201.1/24 dev tst-host',
    'link set tst-host up',
    'route add 10.225.1.0/24 via 192.168.201.11 dev tst-host',
    'route add 10.225.2.0/24 via 192.168.201.12 dev tst-host',
    'route add 10.97.0.0/16 via 192.168.201.11 dev tst-host',
  ]);
});

test('pod plumbing: /32 in the pod, default via the node gateway, /32 route on the node', () => {
  const p: PodPlumbing = {
    podNetns: 'tst-default.a', nodeNetns: 'tst-node1', podLink: 'tst-p1', hostLink: 'tst-v1',
    ip: '10.225.1.2', gateway: '10.225.1.1', nodeIp: '192.168.201.11',
  };
  assert.deepEqual(podCreateBatch(p), [
    'netns add tst-default.a',
    'link add name tst-v1 netns tst-node1 type veth peer name tst-p1 netns tst-default.a',
  ]);
  assert.deepEqual(podBatch(p), [
    'link set lo up',
    'addr add 10.225.1.2/32 dev tst-p1',
    'link set tst-p1 up',
    'route add 10.225.1.1/32 dev tst-p1 scope link',
    'route add default via 10.225.1.1 dev tst-p1',
  ]);
  assert.deepEqual(podNodeBatch(p), ['link set tst-v1 up', 'route add 10.225.1.2/32 dev tst-v1 src 192.168.201.11']);
});
