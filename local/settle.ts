// When the embedded mesh's push stream is at rest, read from the controller's /status: every
// connected proxy has answered its last push and has nothing in flight. Proxies need not hold
// the same version: a change that touches one node's view (a policy for a namespace that
// only runs there) is pushed to that node alone, and the others rightly stay where they are.
import { WeftError, errorMessage } from '#core/errors.ts';

/** One proxy's push state as /status lists it. */
export interface PushClientStatus {
  id: string;
  connected: boolean;
  /** Last version the proxy answered (ACK or NACK). */
  version: number | undefined;
  inFlight: boolean;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The clients of a /status document; undefined when it is not one. */
export function pushClientsOf(body: unknown): PushClientStatus[] | undefined {
  if (!isRecord(body) || !Array.isArray(body['clients'])) return undefined;
  const out: PushClientStatus[] = [];
  for (const c of body['clients'] as unknown[]) {
    if (!isRecord(c) || typeof c['id'] !== 'string') return undefined;
    const version = c['version'];
    const inFlight = c['inFlightVersion'];
    out.push({
      id: c['id'],
      connected: c['connected'] === true,
      version: typeof version === 'number' ? version : undefined,
      inFlight: inFlight !== undefined && inFlight !== null,
    });
  }
  return out;
}

/**
 * A fingerprint of the push state when it is at rest: at least `minConnected` proxies
 * connected, each with an answered version and no push in flight. Undefined while not.
 */
export function restingPushState(clients: readonly PushClientStatus[], minConnected: number): string | undefined {
  const connected = clients.filter((c) => c.connected);
  if (connected.length < minConnected) return undefined;
  const parts: string[] = [];
  for (const c of connected) {
    if (c.inFlight || c.version === undefined) return undefined;
    parts.push(`${c.id}=${c.version}`);
  }
  return parts.sort().join(',');
}

export interface QuietPushOptions {
  /** Fetches the controller's /status document; a rejection is retried at the next poll. */
  status: () => Promise<unknown>;
  /** Proxies that must be connected (the node ztunnels). */
  minClients: number;
  timeoutMs: number;
  /** Poll interval (100 ms). */
  intervalMs?: number;
  /**
   * How long the same resting state must hold (500 ms): a manifest written just before still
   * has to pass the controller's folder watch and two debounces before anything is pushed.
   */
  quietMs?: number;
}

/**
 * Resolves once the polls have seen one resting state for `quietMs` (so a change still being
 * coalesced by the controller is not mistaken for quiet); a failed fetch is polled again.
 */
export async function waitForQuietPush(opts: QuietPushOptions): Promise<void> {
  const interval = opts.intervalMs ?? 100;
  const quietMs = opts.quietMs ?? 500;
  const deadline = Date.now() + opts.timeoutMs;
  let last: string | undefined;
  let since = 0;
  let why = 'no /status answer yet';
  for (;;) {
    let now: string | undefined;
    try {
      const clients = pushClientsOf(await opts.status());
      if (clients === undefined) why = 'the /status answer lists no push clients';
      else {
        now = restingPushState(clients, opts.minClients);
        if (now === undefined) {
          const busy = clients.filter((c) => c.connected && (c.inFlight || c.version === undefined)).map((c) => c.id);
          const connected = clients.filter((c) => c.connected).length;
          why = connected < opts.minClients ? `${connected} of ${opts.minClients} proxies connected` : `waiting on ${busy.join(', ')}`;
        }
      }
    } catch (err) {
      why = `/status failed: ${errorMessage(err)}`;
    }
    if (now === undefined || now !== last) since = Date.now();
    else if (Date.now() - since >= quietMs) return;
    last = now;
    if (Date.now() > deadline) {
      throw new WeftError('WEFT_ERR_LOCAL_TIMEOUT', `the proxies did not all acknowledge the controller's config within ${opts.timeoutMs} ms (${why})`, {
        hint: 'a proxy that NACKs or stops answering shows in the controller\'s /status',
      });
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}
