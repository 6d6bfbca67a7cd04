// Everything the data path reads, in one bundle handed to each handler: config, certificates,
// telemetry, and the registry of pods this ztunnel serves.
import type { CertificateProvider } from '#core/certs/types.ts';
import type { Workload } from '#core/config/model.ts';
import type { HbonePool } from '#core/hbone/pool.ts';
import type { Logger } from '#core/log.ts';
import type { EndpointPicker } from '#ztunnel/proxy/pick.ts';
import type { ProxyState } from '#ztunnel/state/proxy-state.ts';
import type { AccessLog } from '#core/telemetry/access-log.ts';
import type { ZtunnelMetrics } from '#ztunnel/telemetry/metrics.ts';
import type { InboundConnections } from '#ztunnel/proxy/inbound-connections.ts';

/** A pod whose traffic this ztunnel captures. */
export interface EnrolledPod {
  uid: string;
  ip: string;
  netnsPath: string;
  identity: string;
  /** Outbound HBONE sessions of this pod, dialed from inside its namespace. */
  pool: HbonePool;
}

export interface ProxyInputs {
  state: ProxyState;
  certificates: CertificateProvider;
  metrics: ZtunnelMetrics;
  accessLog: AccessLog;
  logger: Logger;
  pick: EndpointPicker;
  /** Enrolled pod by pod IP. */
  podByAddress(ip: string): EnrolledPod | undefined;
  inbound: InboundConnections;
  /** How long a connection waits for config it needs (5 s). */
  configWaitMs: number;
  /** TCP connect budget towards a peer's 15008 or an app (5 s). */
  connectTimeoutMs: number;
}

/** The current config of an enrolled pod, waiting (bounded) for it if it has not arrived. */
export type WorkloadOf = (pod: EnrolledPod) => Promise<Workload>;
