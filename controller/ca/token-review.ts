// Client authentication in Kubernetes mode: a proxy presents its projected service-account
// token (audience istio-ca), the API server says through a TokenReview whose it is, and the
// service account plus the pod the token is bound to name the client — the ztunnel by the node
// its pod runs on, a waypoint by its own identity. Local mode keeps the HMAC tokens of
// tokens.ts. Answers are cached briefly so a reconnect storm does not become a review storm.
import { createHash } from 'node:crypto';
import { AuthenticationV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1TokenReviewStatus } from '@kubernetes/client-node';
import type { ClientDescriptor } from '#core/config/protocol.ts';
import { WeftError, errorMessage } from '#core/errors.ts';
import { silentLogger } from '#core/log.ts';
import type { Logger } from '#core/log.ts';

/** The audience the chart projects into proxy pods, as Istio's istiod expects. */
export const CA_AUDIENCE = 'istio-ca';
/** Extra fields of a bound service-account token (node-name since Kubernetes 1.30). */
export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';

const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/;

export interface ReviewMapping {
  trustDomain: string;
  audience: string;
  /** The ztunnel DaemonSet's service account. */
  ztunnel: { namespace: string; name: string };
  /** Where a pod runs, for tokens bound to a pod but not naming its node (before Kubernetes 1.30). */
  nodeOfPod?: (namespace: string, pod: string) => string | undefined;
  /** Whether an identity is a waypoint's; any other service account is no client. */
  isWaypoint?: (identity: string) => boolean;
}

/** Why a review names no client, or the client it names: a pure decision, table-tested. */
export type ReviewDecision = { ok: true; client: ClientDescriptor } | { ok: false; reason: string };

export function clientOfReview(status: V1TokenReviewStatus | undefined, m: ReviewMapping): ReviewDecision {
  if (status?.authenticated !== true) return { ok: false, reason: status?.error ?? 'not authenticated' };
  // An API server that ignores audiences returns none: such a token might be meant for anyone.
  if (!(status.audiences ?? []).includes(m.audience)) return { ok: false, reason: `the token is not for audience ${m.audience}` };
  const user = SERVICE_ACCOUNT_USER.exec(status.user?.username ?? '');
  const namespace = user?.[1];
  const account = user?.[3];
  if (namespace === undefined || account === undefined) return { ok: false, reason: `${status.user?.username ?? 'the user'} is not a service account` };
  const extra = status.user?.extra ?? {};
  const pod = single(extra[POD_NAME_EXTRA]);
  // A legacy Secret-based token is bound to no pod: it outlives every pod and is never a proxy's.
  if (pod === undefined) return { ok: false, reason: 'the token is not bound to a pod' };
  if (namespace === m.ztunnel.namespace && account === m.ztunnel.name) {
    const node = single(extra[NODE_NAME_EXTRA]) ?? m.nodeOfPod?.(namespace, pod);
    if (node === undefined || node === '') return { ok: false, reason: `the node of ztunnel pod ${namespace}/${pod} is not known` };
    return { ok: true, client: { kind: 'ztunnel', node } };
  }
  // A waypoint runs as the service account named after its Gateway.
  const identity = `spiffe://${m.trustDomain}/ns/${namespace}/sa/${account}`;
  if (m.isWaypoint !== undefined && !m.isWaypoint(identity)) return { ok: false, reason: `${namespace}/${account} is neither ztunnel nor a waypoint` };
  return { ok: true, client: { kind: 'waypoint', identity } };
}

function single(values: string[] | undefined): string | undefined {
  return values?.length === 1 ? values[0] : undefined;
}

export interface TokenReviewerOptions extends ReviewMapping {
  kubeConfig: KubeConfig;
  logger?: Logger;
  /** How long an answer is reused (default 10 s; refusals for a fifth of it). */
  cacheMs?: number;
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  at: number;
  client: ClientDescriptor | undefined;
}

export class TokenReviewer {
  readonly #api: AuthenticationV1Api;
  readonly #o: TokenReviewerOptions;
  readonly #log: Logger;
  readonly #cache = new Map<string, Entry>();
  /** Reviews under way, so concurrent requests with one token share one review. */
  readonly #pending = new Map<string, Promise<ClientDescriptor | undefined>>();
  readonly #cacheMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(options: TokenReviewerOptions) {
    this.#o = options;
    this.#api = options.kubeConfig.makeApiClient(AuthenticationV1Api);
    this.#log = (options.logger ?? silentLogger).child({ component: 'token-review' });
    this.#cacheMs = options.cacheMs ?? 10_000;
    this.#maxEntries = options.maxEntries ?? 4096;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The client the token belongs to, or undefined when the API server or the mapping refuses
   * it. Rejects (WEFT_ERR_TOKEN_REVIEW) when the API server cannot be asked; that is not cached.
   */
  authenticate(token: string): Promise<ClientDescriptor | undefined> {
    // Keyed by digest: the cache holds no credential.
    const key = createHash('sha256').update(token).digest('base64url');
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      const ttl = hit.client === undefined ? this.#cacheMs / 5 : this.#cacheMs;
      if (this.#now() - hit.at < ttl) return Promise.resolve(hit.client);
      this.#cache.delete(key);
    }
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = this.#review(token).then((client) => {
        this.#remember(key, client);
        return client;
      }).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }

  async #review(token: string): Promise<ClientDescriptor | undefined> {
    let status: V1TokenReviewStatus | undefined;
    try {
      status = (await this.#api.createTokenReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [this.#o.audience] } },
      })).status;
    } catch (err) {
      this.#log.warn('token review failed', { err: errorMessage(err) });
      throw new WeftError('WEFT_ERR_TOKEN_REVIEW', `cannot review the client's token: ${errorMessage(err)}`, {
        hint: 'the controller needs create on tokenreviews.authentication.k8s.io (the chart\'s ClusterRole weft-controller) and a reachable API server',
        cause: err,
      });
    }
    const decision = clientOfReview(status, this.#o);
    if (!decision.ok) {
      this.#log.info('client token refused', { user: status?.user?.username, reason: decision.reason });
      return undefined;
    }
    return decision.client;
  }

  #remember(key: string, client: ClientDescriptor | undefined): void {
    if (this.#cache.size >= this.#maxEntries) {
      // Maps iterate in insertion order: the oldest answer goes first.
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
    this.#cache.set(key, { at: this.#now(), client });
  }
}
