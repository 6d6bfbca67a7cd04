// Whether ztunnel writes the access log line of a connection it carries for a pod: on, unless
// Istio Telemetry resolved for that pod turned it off (pushed as `Workload.accessLog`).
// Outbound connections ask the source pod, inbound ones the destination pod, as a sidecar
// logs the traffic of the workload it serves.
import type { Workload } from '#core/config/model.ts';

export function accessLogged(pod: Pick<Workload, 'accessLog'> | undefined): boolean {
  return pod?.accessLog !== false;
}
