// Bounded waiting for config: a connection that arrives before the config it needs waits a
// little (new pods race their config) instead of failing at once.
import { WeftError } from '#core/errors.ts';
import type { ProxyState } from '#ztunnel/state/proxy-state.ts';

/** Resolves with `get()` once it is defined, re-checking on every config change; rejects after timeoutMs. */
export function waitForState<T>(state: ProxyState, get: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const now = get();
  if (now !== undefined) return Promise.resolve(now);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new WeftError('WEFT_ERR_CONFIG_WAIT', `gave up after ${timeoutMs} ms waiting for ${what}`, {
        hint: 'is the controller reachable and does its config list this workload?',
      }));
    }, timeoutMs);
    const off = state.onChange(() => {
      const v = get();
      if (v === undefined) return;
      clearTimeout(timer);
      off();
      resolve(v);
    });
  });
}
