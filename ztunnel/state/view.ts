// The read-only face of ztunnel's config stores: what the proxy, enrollment and admin read.
import type { Authorization, Service, Workload } from '#core/config/model.ts';

export interface StateView {
  /** Version of the last applied update; undefined until config has arrived. */
  readonly version: string | undefined;
  readonly hasConfig: boolean;
  workload(uid: string): Workload | undefined;
  workloadByAddress(ip: string): Workload | undefined;
  service(key: string): Service | undefined;
  serviceByVip(ip: string): Service | undefined;
  authorization(key: string): Authorization | undefined;
  workloads(): Workload[];
  services(): Service[];
  authorizations(): Authorization[];
  /** Workloads that back the service with this key (`<namespace>/<hostname>`). */
  endpointsOf(serviceKey: string): Workload[];
  /** Policies that apply to a destination workload: GLOBAL, its namespace's, and those selecting it. */
  policiesFor(workload: Workload): Authorization[];
}
