// What an endpoint of a Service is to the waypoint: a healthy workload that backs it, reached
// at the target port from the endpoint's own port map (named target ports differ per pod),
// else the Service's, else the same port. Which one a request gets is destinations.ts's job.
import type { Service, Workload } from '#core/config/model.ts';
import { spiffeIdFor } from '#core/identity/spiffe.ts';
import type { Endpoint } from '#waypoint/endpoint/upstreams.ts';

export interface EndpointSource {
  service(key: string): Service | undefined;
  endpointsOf(serviceKey: string): Workload[];
}

export interface ChosenEndpoint extends Endpoint {
  workload: Workload;
}

export function endpointOf(w: Workload, port: number): ChosenEndpoint | undefined {
  const address = w.addresses[0];
  if (address === undefined) return undefined;
  return { address, port, identity: spiffeIdFor(w.namespace, w.serviceAccount, w.trustDomain), workload: w };
}

/** The workloads that may take requests for a Service, sorted by uid so balancing is stable. */
export function usableEndpoints(src: EndpointSource, serviceKey: string): Workload[] {
  return src.endpointsOf(serviceKey)
    .filter((w) => w.status === 'HEALTHY' && w.addresses.length > 0)
    .sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
}

export function targetPortOf(src: EndpointSource, w: Workload, serviceKey: string, port: number): number {
  return w.services[serviceKey]?.[String(port)] ?? src.service(serviceKey)?.ports.find((p) => p.servicePort === port)?.targetPort ?? port;
}
