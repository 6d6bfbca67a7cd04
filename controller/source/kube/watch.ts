// The library's Watch with three changes the informers need: it asks for bookmarks (the
// library's ListWatch does not, so a quiet resource's resourceVersion would go stale and
// its reconnect end in 410 Gone and a full relist); a failure before the request is made
// (e.g. credentials that cannot be loaded) is reported through `done` like any other
// instead of escaping as an unhandled rejection; and `close()` aborts every watch and
// refuses new ones, because ListWatch.stop() during a list still opens a watch afterwards.
import { Watch } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';

type QueryParams = Record<string, string | number | boolean | undefined>;
// The library types event objects as `any`; this class passes them on untouched.
type EventCallback = Parameters<Watch['watch']>[2];

export class InformerWatch extends Watch {
  readonly #active = new Set<AbortController>();
  #closed = false;

  constructor(kc: KubeConfig) {
    super(kc);
  }

  override async watch(path: string, queryParams: QueryParams, callback: EventCallback, done: (err: unknown) => void): Promise<AbortController> {
    if (this.#closed) return abortedController();
    let controller: AbortController | undefined;
    let finished = false;
    const onDone = (err: unknown): void => {
      finished = true;
      if (controller !== undefined) this.#active.delete(controller);
      // After close() the informer is going away: its abort is not an error to report.
      if (!this.#closed) done(err);
    };
    try {
      controller = await super.watch(path, { ...queryParams, allowWatchBookmarks: true }, callback, onDone);
    } catch (err) {
      onDone(err);
      return abortedController();
    }
    if (!finished) this.#active.add(controller);
    if (this.#closed) controller.abort();
    return controller;
  }

  close(): void {
    this.#closed = true;
    for (const c of this.#active) c.abort();
    this.#active.clear();
  }
}

function abortedController(): AbortController {
  const c = new AbortController();
  c.abort();
  return c;
}
