// An undici Client that retires its connection after a set number of requests
// (DestinationRule `connectionPool.http.maxRequestsPerConnection`). undici's own
// `maxRequestsPerClient` lets a connection carry one request more than it says, and not
// reliably so in a Pool; here every n-th request dispatched asks for the connection to close
// after its response (undici's `reset`). With one request at a time per connection
// (pipelining 1) requests go out in dispatch order, so a connection carries at most n; one
// that closes early for another reason only makes the next carry fewer.
import { Client, type Dispatcher } from 'undici';

export class RetiringClient extends Client {
  readonly #max: number;
  #dispatched = 0;

  constructor(origin: string | URL, options: Client.Options, maxRequestsPerConnection: number) {
    super(origin, options);
    this.#max = maxRequestsPerConnection;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    this.#dispatched++;
    return super.dispatch(this.#dispatched % this.#max === 0 ? { ...options, reset: true } : options, handler);
  }
}
