// The CLI's side of the Kubernetes API: the kubeconfig found as kubectl finds it, and API
// failures turned into one-line errors in kubectl's words (`HTTP 404: namespaces "x" not found`)
// with a hint of what to check.
import { KubeConfig } from '@kubernetes/client-node';
import { WeftError, errorMessage } from '#core/errors.ts';

/** The field manager of everything the CLI writes. */
export const CLI_FIELD_MANAGER = 'weft';

export interface KubeTarget {
  /** A kubeconfig file; otherwise KUBECONFIG, ~/.kube/config or the in-cluster service account. */
  kubeconfig?: string;
  context?: string;
}

/** The client library's configuration as kubectl would find it. */
export function loadCliKubeConfig(target: KubeTarget): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (target.kubeconfig !== undefined) kc.loadFromFile(target.kubeconfig);
    else kc.loadFromDefault();
    if (target.context !== undefined) kc.setCurrentContext(target.context);
  } catch (err) {
    throw new WeftError('WEFT_ERR_KUBECONFIG', `cannot load the kubeconfig: ${errorMessage(err).split('\n')[0] ?? ''}`, { hint: 'check --kubeconfig, --context or KUBECONFIG', cause: err });
  }
  if (kc.getCurrentCluster() === null) {
    throw new WeftError('WEFT_ERR_KUBECONFIG', 'no Kubernetes cluster configured', {
      hint: 'pass --kubeconfig (or set KUBECONFIG); for the embedded cluster pass --manifests DIR, the folder the demo prints',
    });
  }
  return kc;
}

/** Hints by HTTP status, for what the command was doing. */
export type ApiHints = Readonly<Partial<Record<403 | 404 | 409 | 422, string>>>;

export async function call<T>(hints: ApiHints, what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw apiError(hints, what, err);
  }
}

/** The HTTP status of a client library failure (ApiException's `code`). */
export function statusCode(err: unknown): number | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'number' ? code : undefined;
}

/** `<what> failed: HTTP 403: <the API server's message>`, as kubectl's "Error from server". */
export function apiError(hints: ApiHints, what: string, err: unknown): WeftError {
  const code = statusCode(err);
  if (code === undefined) {
    return new WeftError('WEFT_ERR_KUBE_API', `${what} failed: ${errorMessage(err)}`, { hint: 'is the cluster in the kubeconfig reachable? For the embedded cluster pass --manifests DIR', cause: err });
  }
  const body = (err as { body?: unknown }).body;
  let message = '';
  if (typeof body === 'string') {
    try {
      const parsed: unknown = JSON.parse(body);
      const m = typeof parsed === 'object' && parsed !== null ? (parsed as { message?: unknown }).message : undefined;
      if (typeof m === 'string') message = m;
    } catch {
      message = body.slice(0, 200);
    }
  }
  const hint = hints[code as keyof ApiHints];
  return new WeftError('WEFT_ERR_KUBE_API', `${what} failed: HTTP ${code}${message === '' ? '' : `: ${message}`}`, { ...(hint === undefined ? {} : { hint }), cause: err });
}
