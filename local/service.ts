// A Service of the embedded cluster: a virtual IP whose ports the nodes DNAT to the ready
// pods its selector picks, as kube-proxy does.
import { randomUUID } from 'node:crypto';
import type { ServicePortSpec } from './manifests.ts';

export class LocalService {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** The cluster IP. */
  readonly vip: string;
  readonly selector: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly ports: readonly ServicePortSpec[];
  readonly createdAt: Date;

  constructor(init: {
    namespace: string; name: string; vip: string; selector: Record<string, string>;
    labels: Record<string, string>; ports: readonly ServicePortSpec[];
  }) {
    this.namespace = init.namespace;
    this.name = init.name;
    this.uid = randomUUID();
    this.vip = init.vip;
    this.selector = Object.freeze({ ...init.selector });
    this.labels = Object.freeze({ ...init.labels });
    this.ports = Object.freeze(init.ports.map((p) => Object.freeze({ ...p })));
    this.createdAt = new Date();
  }

  /** `<name>.<namespace>.svc.cluster.local` */
  get hostname(): string {
    return `${this.name}.${this.namespace}.svc.cluster.local`;
  }
}

/** Kubernetes semantics: an empty selector selects nothing (endpoints are managed by hand). */
export function selects(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}
