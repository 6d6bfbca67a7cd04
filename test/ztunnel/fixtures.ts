// Helpers for ztunnel's end-to-end tests: config resources built from embedded-cluster
// objects, a certificate provider backed by the test CA, and in-process ztunnels bound in
// their node's network namespace.
import type { CertificateStatus } from '#core/certs/manager.ts';
import type { CertificateProvider, WorkloadCertificate } from '#core/certs/types.ts';
import type { Authorization, Resource, Service, Workload } from '#core/config/model.ts';
import { resourceKey } from '#core/config/model.ts';
import type { TestPki } from '#core/ca/testing.ts';
import type { Logger } from '#core/log.ts';
import type { LocalNode } from '#local/node.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalService } from '#local/service.ts';
import { listenInNetns } from '#ztunnel/native/index.ts';
import { Ztunnel } from '#ztunnel/ztunnel.ts';

export function workloadOf(pod: LocalPod, opts: { mesh: boolean; services?: LocalService[]; policies?: string[] }): Workload {
  const services: Workload['services'] = {};
  for (const s of opts.services ?? []) {
    services[resourceKey.service({ namespace: s.namespace, hostname: s.hostname })] = Object.fromEntries(s.ports.map((p) => [String(p.port), p.targetPort]));
  }
  return {
    uid: pod.uid, name: pod.name, namespace: pod.namespace, addresses: [pod.ip], node: pod.node, nodeAddress: pod.nodeIp,
    tunnelProtocol: opts.mesh ? 'HBONE' : 'NONE', trustDomain: 'cluster.local', serviceAccount: pod.serviceAccount,
    canonicalName: pod.labels['app'] ?? pod.name, canonicalRevision: 'latest', workloadType: 'pod', workloadName: pod.name,
    services, authorizationPolicies: opts.policies ?? [], status: 'HEALTHY', clusterId: 'Kubernetes',
  };
}

export function serviceOf(s: LocalService): Service {
  return {
    name: s.name, namespace: s.namespace, hostname: s.hostname, addresses: [s.vip],
    ports: s.ports.map((p) => ({ servicePort: p.port, targetPort: p.targetPort })), subjectAltNames: [],
  };
}

export const res = {
  workload: (value: Workload): Resource => ({ kind: 'workload', key: resourceKey.workload(value), value }),
  service: (value: Service): Resource => ({ kind: 'service', key: resourceKey.service(value), value }),
  authorization: (value: Authorization): Resource => ({ kind: 'authorization', key: resourceKey.authorization(value), value }),
};

/** Certificates straight from the test CA, cached per identity, with CertificateManager-like states. */
export function pkiCertificates(pki: TestPki): CertificateProvider & { state(): CertificateStatus[] } {
  const held = new Map<string, Promise<WorkloadCertificate>>();
  const done = new Map<string, WorkloadCertificate>();
  return {
    get(identity) {
      let p = held.get(identity);
      if (p === undefined) {
        p = pki.issue(identity).then((c) => { done.set(identity, c); return c; });
        held.set(identity, p);
      }
      return p;
    },
    state: () => [...held.keys()].map((identity) => {
      const c = done.get(identity);
      return c === undefined ? { identity, state: 'pending' as const } : { identity, state: 'ready' as const, notBefore: c.notBefore, notAfter: c.notAfter };
    }),
  };
}

/** A ztunnel for `node`, its admin servers bound inside the node's namespace. */
export async function startNodeZtunnel(node: LocalNode, certificates: ReturnType<typeof pkiCertificates>, logger: Logger, accessLog?: string[]): Promise<Ztunnel> {
  return Ztunnel.start({
    node: node.name,
    trustDomain: 'cluster.local',
    certificates,
    certificateStatus: () => certificates.state(),
    logger,
    accessLog: { write: (chunk: string) => accessLog?.push(...chunk.trim().split('\n')) },
    admin: { host: node.ip, listen: (host, port) => listenInNetns(node.netnsPath, { address: host, port }) },
    configWaitMs: 3000,
    connectTimeoutMs: 1500,
  });
}
