// A watch on the objects of one name in one collection (ConfigMaps istio-ca-root-cert in every
// namespace, Secret cacerts in the controller's), for the CA's reconcilers. It is started without
// a resourceVersion, so the API server first replays what exists as ADDED events; when the
// stream ends or fails it starts again after a capped, doubling delay, and `onStart` tells the
// caller a replay is coming (a deletion missed in between shows only as an object not replayed).
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';
import { InformerWatch } from '#controller/source/kube/watch.ts';

export type ObjectEvent = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ObjectWatchOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Collection path, e.g. `/api/v1/configmaps` or `/api/v1/namespaces/istio-system/secrets`. */
  path: string;
  /** Only objects of this name are reported (asked of the server as a field selector, and checked here). */
  name: string;
  onEvent: (type: ObjectEvent, object: KubernetesObject) => void;
  /** Called before each (re)start: the objects that exist are about to be reported again. */
  onStart?: () => void;
  backoff?: { initialMs: number; maxMs: number };
}

export class ObjectWatch {
  readonly #o: ObjectWatchOptions;
  readonly #log: Logger;
  readonly #watch: InformerWatch;
  /** Streams in a row that ended without an event: each waits twice as long before the next. */
  #idle = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #started = false;

  constructor(options: ObjectWatchOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'object-watch', path: options.path, name: options.name });
    this.#watch = new InformerWatch(options.kubeConfig);
  }

  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    void this.#run();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#watch.close();
  }

  async #run(): Promise<void> {
    if (this.#stopped) return;
    this.#o.onStart?.();
    let seen = false;
    await this.#watch.watch(this.#o.path, { fieldSelector: `metadata.name=${this.#o.name}` }, (phase: string, object: KubernetesObject | undefined) => {
      if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') return;
      if (object?.metadata?.name !== this.#o.name) return;
      seen = true;
      this.#idle = 0;
      try {
        this.#o.onEvent(phase, object);
      } catch (err) {
        this.#log.error('watch handler failed', { err: errorMessage(err) });
      }
    }, (err: unknown) => {
      if (this.#stopped) return;
      if (!seen) this.#idle++;
      const backoff = this.#o.backoff ?? { initialMs: 500, maxMs: 30_000 };
      const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(this.#idle, 20));
      if (err !== null && err !== undefined) this.#log.warn('watch failed; restarting', { err: errorMessage(err), retryInMs: delay });
      this.#timer = setTimeout(() => void this.#run(), delay);
      this.#timer.unref();
    });
  }
}
