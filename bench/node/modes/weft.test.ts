import { test } from 'node:test';
import assert from 'node:assert/strict';
import { weftMode, ztunnelNodeArgs } from '#bench/node/modes/weft.ts';
import { MODES } from '#bench/node/modes/index.ts';

test('WEFT_ZTUNNEL_NODE_OPTIONS splits on whitespace into node flags for the ztunnels', () => {
  assert.deepEqual(ztunnelNodeArgs({}), []);
  assert.deepEqual(ztunnelNodeArgs({ WEFT_ZTUNNEL_NODE_OPTIONS: '  ' }), []);
  assert.deepEqual(ztunnelNodeArgs({ WEFT_ZTUNNEL_NODE_OPTIONS: ' --cpu-prof  --cpu-prof-dir=/tmp/p\n' }), ['--cpu-prof', '--cpu-prof-dir=/tmp/p']);
});

test('the weft mode brings its own cluster and runs after direct and the TLS tunnels', async () => {
  assert.equal(typeof weftMode.startCluster, 'function');
  assert.deepEqual(MODES.map((m) => m.name), ['direct', 'stunnel', 'node-tls', 'weft']);
  // Without its cluster there is no mesh to enroll the pods in.
  await assert.rejects(weftMode.setup({} as never), /before startCluster/);
});
