// Weighted backend choice for a route entry: each backend gets weight/sum of the requests,
// weight 0 never. The random source is injected so tests can drive every branch.
import type { RouteBackend } from '#core/config/routes.ts';

/**
 * The backend a request goes to, or undefined when no backend has a weight above 0 (the
 * waypoint answers 500, gRPC UNAVAILABLE). An invalid backend can be chosen: its share of
 * requests gets a 500, as the spec requires. `random` returns a number in [0, 1).
 */
export function pickBackend<B extends Pick<RouteBackend, 'weight'>>(backends: readonly B[], random: () => number): B | undefined {
  let total = 0;
  for (const b of backends) total += b.weight;
  if (total <= 0) return undefined;
  const point = random() * total;
  let upTo = 0;
  let last: B | undefined;
  for (const b of backends) {
    if (b.weight <= 0) continue;
    upTo += b.weight;
    last = b;
    if (point < upTo) return b;
  }
  // Only reached if random() returned 1 or more; the last weighted backend is the honest answer.
  return last;
}
