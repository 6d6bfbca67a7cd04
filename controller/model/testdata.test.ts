// The realistic manifests in controller/testdata/ through the local source and the model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Logger } from '#core/log.ts';
import { LocalSource } from '#controller/source/local.ts';
import { buildModel } from '#controller/model/build.ts';
import { viewFor } from '#controller/model/view.ts';

const dir = (name: string): string => fileURLToPath(new URL(`../testdata/${name}`, import.meta.url));

test('controller/testdata: shop (ambient) and legacy (plain)', async () => {
  const source = new LocalSource({ dirs: [dir('cluster'), dir('user')], logger: new Logger({ level: 'off' }) });
  await source.start();
  try {
    assert.deepEqual(source.rejected(), []);
    const model = buildModel(source.current(), { trustDomain: 'cluster.local', clusterId: 'Kubernetes', rootNamespace: 'istio-system' });
    const summary = [...model.resources.values()].map((r) => {
      switch (r.kind) {
        case 'workload': {
          const w = r.value;
          return `workload ${w.namespace}/${w.name} ${w.tunnelProtocol} ${w.addresses.join(',')} node=${w.node}@${w.nodeAddress ?? '-'} sa=${w.serviceAccount} app=${w.canonicalName}:${w.canonicalRevision} svc=${JSON.stringify(w.services)} authz=${w.authorizationPolicies.join(',')}`;
        }
        case 'service':
          return `service ${r.key} ${r.value.addresses.join(',')} ${r.value.ports.map((p) => `${p.servicePort}->${p.targetPort}`).join(',')}`;
        case 'authorization':
          return `authorization ${r.key} ${r.value.scope} ${r.value.action} ${JSON.stringify(r.value.rules)}`;
        case 'routes':
          return `routes ${r.key} ${r.value.entries.length}`;
        case 'l7authorization':
          return `l7authorization ${r.key} ${r.value.action}`;
        case 'telemetry':
          return `telemetry ${r.key} ${JSON.stringify(r.value)}`;
      }
    }).sort();
    assert.deepEqual(summary, [
      'authorization shop/cart-from-frontend WORKLOAD_SELECTOR ALLOW [{"clauses":[{"matches":[{"namespaces":[],"notNamespaces":[],"principals":[{"exact":"cluster.local/ns/shop/sa/frontend"}],"notPrincipals":[],"serviceAccounts":[],"notServiceAccounts":[],"sourceIps":[],"notSourceIps":[],"destinationIps":[],"notDestinationIps":[],"destinationPorts":[],"notDestinationPorts":[]}]},{"matches":[{"namespaces":[],"notNamespaces":[],"principals":[],"notPrincipals":[],"serviceAccounts":[],"notServiceAccounts":[],"sourceIps":[],"notSourceIps":[],"destinationIps":[],"notDestinationIps":[],"destinationPorts":[7000],"notDestinationPorts":[]}]}]}]',
      'authorization shop/converted_peer_authentication_default NAMESPACE DENY [{"clauses":[{"matches":[{"namespaces":[],"notNamespaces":[],"principals":[],"notPrincipals":[{"presence":true}],"serviceAccounts":[],"notServiceAccounts":[],"sourceIps":[],"notSourceIps":[],"destinationIps":[],"notDestinationIps":[],"destinationPorts":[],"notDestinationPorts":[]}]}]}]',
      'authorization shop/no-deletes NAMESPACE DENY [{"clauses":[{"matches":[{"namespaces":[{"exact":"legacy"}],"notNamespaces":[],"principals":[],"notPrincipals":[],"serviceAccounts":[],"notServiceAccounts":[],"sourceIps":[],"notSourceIps":[],"destinationIps":[],"notDestinationIps":[],"destinationPorts":[],"notDestinationPorts":[]}]},{"matches":[{"namespaces":[],"notNamespaces":[],"principals":[],"notPrincipals":[],"serviceAccounts":[],"notServiceAccounts":[],"sourceIps":[],"notSourceIps":[],"destinationIps":[],"notDestinationIps":[],"destinationPorts":[],"notDestinationPorts":[]}]}]}]',
      'service legacy/batch.legacy.svc.cluster.local 10.96.20.1 9000->9000',
      'service shop/cart.shop.svc.cluster.local 10.96.10.2 7070->7000',
      'service shop/frontend.shop.svc.cluster.local 10.96.10.1 80->8080',
      'workload legacy/batch-job-x7v2n NONE 10.244.2.30 node=node-2@172.18.0.3 sa=default app=batch:latest svc={"legacy/batch.legacy.svc.cluster.local":{"9000":9000}} authz=',
      'workload shop/cart-7c5b8d9f4c-p4z7w HBONE 10.244.2.20 node=node-2@172.18.0.3 sa=cart app=cart:latest svc={"shop/cart.shop.svc.cluster.local":{"7070":7000}} authz=shop/cart-from-frontend',
      'workload shop/debug NONE 10.244.1.11 node=node-1@172.18.0.2 sa=default app=debug:latest svc={} authz=',
      'workload shop/frontend-6d8f9c7b5d-k2x9q HBONE 10.244.1.10 node=node-1@172.18.0.2 sa=frontend app=frontend:v1 svc={"shop/frontend.shop.svc.cluster.local":{"80":8080}} authz=',
    ]);
    const conditions = model.conditions.map((c) => `${c.kind} ${c.namespace}/${c.name} ${c.type}=${c.status} ${c.reason}`).sort();
    assert.deepEqual(conditions, [
      'AuthorizationPolicy shop/cart-from-frontend Accepted=True Accepted',
      'AuthorizationPolicy shop/log-everything Accepted=False UnsupportedValue',
      'AuthorizationPolicy shop/no-deletes Accepted=True UnsupportedValue',
      'PeerAuthentication shop/default Accepted=True Accepted',
    ]);
    assert.deepEqual([...model.identitiesByNode].map(([n, ids]) => `${n}: ${[...ids].join(',')}`).sort(), [
      'node-1: spiffe://cluster.local/ns/shop/sa/frontend',
      'node-2: spiffe://cluster.local/ns/shop/sa/cart',
    ]);
    const node1 = [...viewFor(model, { kind: 'ztunnel', node: 'node-1' }).keys()].filter((k) => k.startsWith('authorization/')).sort();
    assert.deepEqual(node1, ['authorization/shop/converted_peer_authentication_default', 'authorization/shop/no-deletes']);
  } finally {
    await source.stop();
  }
});
