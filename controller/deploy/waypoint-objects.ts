// The objects a waypoint Gateway asks for, rendered from manifests/waypoint-template.yaml:
// a ServiceAccount (the waypoint's identity), a Deployment and a Service of the Gateway's
// name, each owned by the Gateway. On Kubernetes they are applied server-side; on the
// embedded cluster they are written to a folder that local/ serves as the kubelet would.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { Gateway } from '#controller/source/types.ts';

const TEMPLATE = fileURLToPath(new URL('../../manifests/waypoint-template.yaml', import.meta.url));

export type RenderedObject = Record<string, unknown> & { apiVersion: string; kind: string; metadata: Record<string, unknown> };

let templateText: string | undefined;

export interface WaypointRenderOptions {
  /** WEFT_CONTROLLER_URL, over the template's. */
  controllerUrl?: string;
  /** WEFT_RATE_LIMIT_REDIS (`host:port`): where global rate limits are counted; absent, the waypoint has none. */
  rateLimitRedis?: string;
}

/** The template's documents with ${NAME} and ${NAMESPACE} filled in and the Gateway as owner. */
export function renderWaypointObjects(gateway: Gateway, options: WaypointRenderOptions = {}): RenderedObject[] {
  const { controllerUrl, rateLimitRedis } = options;
  templateText ??= readFileSync(TEMPLATE, 'utf8');
  const { name, namespace, uid } = gateway.metadata;
  const text = templateText.replaceAll('${NAME}', name).replaceAll('${NAMESPACE}', namespace);
  const owner = uid === undefined ? undefined : [{
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name, uid, controller: true, blockOwnerDeletion: true,
  }];
  const out: RenderedObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    const o = doc.toJS() as unknown;
    if (typeof o !== 'object' || o === null) continue;
    const obj = o as RenderedObject;
    if (owner !== undefined) obj.metadata['ownerReferences'] = owner;
    if (controllerUrl !== undefined && obj.kind === 'Deployment') setEnv(obj, 'WEFT_CONTROLLER_URL', controllerUrl);
    if (rateLimitRedis !== undefined && rateLimitRedis !== '' && obj.kind === 'Deployment') setEnv(obj, 'WEFT_RATE_LIMIT_REDIS', rateLimitRedis);
    out.push(obj);
  }
  return out;
}

function setEnv(deployment: RenderedObject, name: string, value: string): void {
  const spec = deployment['spec'] as { template?: { spec?: { containers?: { env?: { name: string; value?: string }[] }[] } } } | undefined;
  for (const c of spec?.template?.spec?.containers ?? []) {
    c.env ??= [];
    const e = c.env.find((x) => x.name === name);
    if (e === undefined) c.env.push({ name, value });
    else e.value = value;
  }
}
