// Which endpoint of a Service a request goes to: healthy workloads that back it, in turn
// (round robin per service), with the target port from the endpoint's own port map (named
// target ports differ per pod), else the Service's, else the same port.
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

export class EndpointPicker {
  readonly #next = new Map<string, number>();

  /** Undefined when the service has no healthy endpoint (the caller answers 503 UH). */
  pick(src: EndpointSource, serviceKey: string, port: number, exclude?: ReadonlySet<string>): ChosenEndpoint | undefined {
    const all = src.endpointsOf(serviceKey).filter((w) => w.status === 'HEALTHY' && w.addresses.length > 0);
    // A retry prefers an endpoint not tried yet, when there is one.
    const fresh = exclude === undefined ? all : all.filter((w) => !exclude.has(w.uid));
    const healthy = fresh.length > 0 ? fresh : all;
    if (healthy.length === 0) return undefined;
    healthy.sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
    const i = this.#next.get(serviceKey) ?? 0;
    this.#next.set(serviceKey, (i + 1) % 1_000_000);
    const w = healthy[i % healthy.length];
    if (w === undefined) return undefined;
    const svc = src.service(serviceKey);
    const targetPort = w.services[serviceKey]?.[String(port)] ?? svc?.ports.find((p) => p.servicePort === port)?.targetPort ?? port;
    return endpointOf(w, targetPort);
  }
}
