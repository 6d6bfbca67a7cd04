import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { parseDeploymentFile } from './waypoints.ts';

const file = (spec: Record<string, unknown>): string => [
  { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'waypoint', namespace: 'shop' } },
  {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'waypoint', namespace: 'shop' },
    spec: {
      ...spec,
      template: {
        metadata: { labels: { app: 'wp' } },
        spec: { serviceAccountName: 'waypoint', containers: [{ name: 'waypoint', env: [{ name: 'WEFT_RATE_LIMIT_REDIS', value: '10.96.0.10:6379' }, { name: 'FROM_REF', valueFrom: {} }] }] },
      },
    },
  },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'waypoint', namespace: 'shop' }, spec: { selector: { app: 'wp' }, ports: [{ name: 'mesh', port: 15008 }] } },
].map((o) => stringify(o)).join('---\n');

test('a deployments file: environment, Service ports, and spec.replicas (1 when absent or not a count)', () => {
  const d = parseDeploymentFile(file({}));
  assert.ok(d !== undefined);
  assert.deepEqual({ ns: d.namespace, name: d.name, sa: d.serviceAccount, env: d.env, selector: d.selector, ports: d.servicePorts },
    { ns: 'shop', name: 'waypoint', sa: 'waypoint', env: { WEFT_RATE_LIMIT_REDIS: '10.96.0.10:6379' }, selector: { app: 'wp' }, ports: [{ name: 'mesh', port: 15008, targetPort: 15008 }] });
  const cases: [unknown, number][] = [[undefined, 1], [3, 3], [0, 0], [-1, 1], [1.5, 1], ['3', 1]];
  for (const [replicas, want] of cases) assert.equal(parseDeploymentFile(file(replicas === undefined ? {} : { replicas }))?.replicas, want, String(replicas));
  assert.equal(parseDeploymentFile(stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' } })), undefined, 'no Deployment, nothing to run');
});
