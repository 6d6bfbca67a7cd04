// Endpoint pickers for service VIPs: the route decision asks one of these which healthy
// backend gets the next connection.
import type { Service, Workload } from '#core/config/model.ts';

export type EndpointPicker = (candidates: readonly Workload[], service: Service) => Workload | undefined;

export const randomPicker: EndpointPicker = (candidates) => candidates[Math.floor(Math.random() * candidates.length)];

/** Round robin per service; candidates are ordered by uid so the rotation is stable across calls. */
export function roundRobinPicker(): EndpointPicker {
  const next = new Map<string, number>();
  return (candidates, service) => {
    if (candidates.length === 0) return undefined;
    const key = `${service.namespace}/${service.hostname}`;
    const i = next.get(key) ?? 0;
    next.set(key, (i + 1) % candidates.length);
    return [...candidates].sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0))[i % candidates.length];
  };
}
