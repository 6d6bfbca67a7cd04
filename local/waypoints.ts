// The embedded cluster's kubelet for what the controller asks for: it watches the
// controller's deployments folder (one YAML file of ServiceAccount, Deployment and Service
// per waypoint Gateway) and makes each one real: a pod on a node, the waypoint process
// inside its netns started with the Deployment's environment (plus the token and root
// certificate a kubelet would mount), and, once the process reports ready, the Service.
// A file that goes away takes its Service, process and pod with it. A Deployment runs
// `spec.replicas` pods (one by default), spread over the nodes; `scale()` changes the count
// as `kubectl scale` would. Every replica is an endpoint of the one Service.
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';
import { Ports } from '#core/ports.ts';
import type { LocalCluster } from './cluster.ts';
import type { LocalPod } from './pod.ts';
import type { LocalProcess } from './process.ts';

const WAYPOINT_MAIN = fileURLToPath(new URL('../waypoint/main.ts', import.meta.url));

export interface WaypointDeployment {
  namespace: string;
  name: string;
  serviceAccount: string;
  labels: Record<string, string>;
  env: Record<string, string>;
  servicePorts: { name?: string; port: number; targetPort: number; appProtocol?: string }[];
  selector: Record<string, string>;
  /** `spec.replicas`, 1 when absent. */
  replicas: number;
}

export interface RunningWaypointPod {
  deployment: WaypointDeployment;
  pod: LocalPod;
  process: LocalProcess;
  /** Serialized file content, to notice changes. */
  source: string;
  /** Which replica of its Deployment (0, 1, ...): it names the pod. */
  replica: number;
}

export interface LocalWaypointsOptions {
  cluster: LocalCluster;
  /** The controller's deployments folder. */
  dir: string;
  controllerUrl: string;
  rootCertFile: string;
  controllerIdentity: string;
  tokenFile(namespace: string, serviceAccount: string): string;
  logLevel: string;
  logger: Logger;
  echo?: boolean;
  /** Added to every waypoint's environment, over the Deployment's (e.g. a test's trace collector). */
  env?: Readonly<Record<string, string>>;
  /** Flags for node before the waypoint's entry point (e.g. `--cpu-prof`). */
  nodeArgs?: readonly string[];
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const strRecord = (v: unknown): Record<string, string> => {
  const out: Record<string, string> = {};
  if (isObj(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
};

/** Reads one deployments file; undefined when it holds no Deployment. */
export function parseDeploymentFile(text: string): WaypointDeployment | undefined {
  let deployment: Json | undefined;
  let service: Json | undefined;
  for (const doc of parseAllDocuments(text)) {
    const o = doc.toJS() as unknown;
    if (!isObj(o)) continue;
    if (o['kind'] === 'Deployment') deployment = o;
    if (o['kind'] === 'Service') service = o;
  }
  if (deployment === undefined) return undefined;
  const meta = isObj(deployment['metadata']) ? deployment['metadata'] : {};
  const spec = isObj(deployment['spec']) ? deployment['spec'] : {};
  const template = isObj(spec['template']) ? spec['template'] : {};
  const podMeta = isObj(template['metadata']) ? template['metadata'] : {};
  const podSpec = isObj(template['spec']) ? template['spec'] : {};
  const containers = Array.isArray(podSpec['containers']) ? podSpec['containers'] : [];
  const first: unknown = containers[0];
  const env: Record<string, string> = {};
  if (isObj(first) && Array.isArray(first['env'])) {
    for (const e of first['env'] as unknown[]) if (isObj(e) && typeof e['name'] === 'string' && typeof e['value'] === 'string') env[e['name']] = e['value'];
  }
  const svcSpec = service !== undefined && isObj(service['spec']) ? service['spec'] : {};
  const ports = Array.isArray(svcSpec['ports']) ? svcSpec['ports'] as unknown[] : [];
  const name = typeof meta['name'] === 'string' ? meta['name'] : '';
  const replicas = spec['replicas'];
  const namespace = typeof meta['namespace'] === 'string' ? meta['namespace'] : 'default';
  if (name === '') return undefined;
  return {
    namespace, name,
    serviceAccount: typeof podSpec['serviceAccountName'] === 'string' ? podSpec['serviceAccountName'] : 'default',
    labels: strRecord(podMeta['labels']),
    env,
    selector: strRecord(svcSpec['selector']),
    replicas: typeof replicas === 'number' && Number.isInteger(replicas) && replicas >= 0 ? replicas : 1,
    servicePorts: ports.filter(isObj).map((p) => ({
      ...(typeof p['name'] === 'string' ? { name: p['name'] } : {}),
      port: Number(p['port']),
      targetPort: Number(p['targetPort'] ?? p['port']),
      ...(typeof p['appProtocol'] === 'string' ? { appProtocol: p['appProtocol'] } : {}),
    })).filter((p) => Number.isInteger(p.port) && Number.isInteger(p.targetPort)),
  };
}

export class LocalWaypoints {
  readonly #o: LocalWaypointsOptions;
  /** `<namespace>/<name>` → its replicas, by replica number. */
  readonly #running = new Map<string, RunningWaypointPod[]>();
  /** Replica counts set by scale(), over the Deployment's. */
  readonly #scaled = new Map<string, number>();
  #watcher: FSWatcher | undefined;
  #queue: Promise<void> = Promise.resolve();
  #again = false;
  #busy = false;
  #stopped = false;
  readonly #waiters = new Set<() => void>();

  constructor(o: LocalWaypointsOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    await mkdir(this.#o.dir, { recursive: true });
    this.#watcher = watch(this.#o.dir, () => this.#kick());
    this.#kick();
    await this.#queue;
  }

  /** Waypoints running now, by `<namespace>/<name>`: the first replica of each. */
  get running(): ReadonlyMap<string, RunningWaypointPod> {
    const out = new Map<string, RunningWaypointPod>();
    for (const [k, list] of this.#running) if (list[0] !== undefined) out.set(k, list[0]);
    return out;
  }

  /** Every running replica of one waypoint (`<namespace>/<name>`). */
  replicas(key: string): readonly RunningWaypointPod[] {
    return [...(this.#running.get(key) ?? [])];
  }

  /**
   * Runs `replicas` pods of the waypoint from now on, whatever its Deployment says (as
   * `kubectl scale deployment`); resolves once they all serve.
   */
  async scale(key: string, replicas: number): Promise<void> {
    if (!Number.isInteger(replicas) || replicas < 0) throw new Error(`replicas must be a whole number ≥ 0, got ${replicas}`);
    this.#scaled.set(key, replicas);
    await this.reconciled();
    const have = this.replicas(key).length;
    if (have !== replicas) throw new Error(`waypoint ${key} runs ${have} replicas, not ${replicas} (no Deployment for it, or a replica did not start: see the log)`);
  }

  /** Resolves once a pass over the folder finished after this call (for callers that just wrote to it). */
  reconciled(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiters.add(resolve);
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#stopped) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    this.#queue = (async () => {
      do {
        this.#again = false;
        const waiters = [...this.#waiters];
        this.#waiters.clear();
        await this.#reconcile().catch((err: unknown) => this.#o.logger.warn('waypoint reconcile failed', { err: errorMessage(err) }));
        for (const w of waiters) w();
      } while (this.#again && !this.#stopped);
      this.#busy = false;
    })();
  }

  async #reconcile(): Promise<void> {
    const want = new Map<string, { d: WaypointDeployment; text: string }>();
    for (const f of await readdir(this.#o.dir)) {
      if (!f.endsWith('.yaml') || f.startsWith('.')) continue;
      const text = await readFile(join(this.#o.dir, f), 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const d = parseDeploymentFile(text);
      if (d !== undefined) want.set(`${d.namespace}/${d.name}`, { d, text });
    }
    for (const [key, list] of [...this.#running]) {
      const text = want.get(key)?.text;
      for (const r of [...list].reverse()) if (r.source !== text) await this.#remove(key, r);
    }
    for (const [key, { d, text }] of want) {
      const count = this.#scaled.get(key) ?? d.replicas;
      for (const r of this.replicas(key).filter((x) => x.replica >= count).reverse()) await this.#remove(key, r);
      for (let replica = 0; replica < count && !this.#stopped; replica++) {
        if (this.replicas(key).some((x) => x.replica === replica)) continue;
        try {
          await this.#create(key, d, text, replica);
        } catch (err) {
          this.#o.logger.warn('waypoint pod did not start', { waypoint: key, replica, err: errorMessage(err) });
        }
      }
    }
  }

  async #create(key: string, d: WaypointDeployment, text: string, replica: number): Promise<void> {
    const { cluster } = this.#o;
    const nodes = cluster.nodes;
    const hash = createHash('sha256').update(key).digest();
    // Replicas go round the nodes from the first one's, as a scheduler spreading them would.
    const node = nodes[(hash.readUInt32BE(0) + replica) % nodes.length];
    if (node === undefined) throw new Error('the cluster has no node');
    const podName = `${d.name}-${hash.toString('hex').slice(0, 5)}${replica === 0 ? '' : `-${replica}`}`;
    // Not an endpoint of the Service until its readiness probe passes, as on Kubernetes: a replica
    // added while traffic flows gets none before it listens.
    const pod = await cluster.addPod({ namespace: d.namespace, name: podName, node: node.name, labels: d.labels, serviceAccount: d.serviceAccount, ready: false });
    let proc: LocalProcess | undefined;
    try {
      proc = pod.spawn([process.execPath, ...(this.#o.nodeArgs ?? []), WAYPOINT_MAIN], {
        label: `waypoint-${d.namespace}-${d.name}`,
        echo: this.#o.echo ?? false,
        env: {
          ...d.env,
          ...this.#o.env,
          // What a kubelet would mount and the cluster's DNS would resolve.
          WEFT_CONTROLLER_URL: this.#o.controllerUrl,
          WEFT_TOKEN_FILE: this.#o.tokenFile(d.namespace, d.serviceAccount),
          WEFT_ROOT_CERT: this.#o.rootCertFile,
          WEFT_CONTROLLER_IDENTITY: this.#o.controllerIdentity,
          WEFT_ADMIN_HOST: pod.ip,
          WEFT_LOG_LEVEL: this.#o.logLevel,
        },
      });
      await proc.waitForLine('ready', 20_000);
      await waitReady(`http://${pod.ip}:${Ports.readiness}/healthz/ready`, proc, 20_000);
      await cluster.setPodReady(pod, true);
      // The Service appears once the first replica serves: the controller programs the Gateway
      // with its address, and ztunnels start sending to it, only then. Later replicas join it
      // as endpoints by their labels.
      if (cluster.service(d.namespace, d.name) === undefined) {
        await cluster.addService({ namespace: d.namespace, name: d.name, selector: d.selector, ports: d.servicePorts, labels: d.labels });
      }
      const list = this.#running.get(key) ?? [];
      list.push({ deployment: d, pod, process: proc, source: text, replica });
      list.sort((a, b) => a.replica - b.replica);
      this.#running.set(key, list);
    } catch (err) {
      await proc?.stop(2000);
      await cluster.removePod(pod).catch(() => undefined);
      throw new Error(`${errorMessage(err)}${proc === undefined ? '' : `; output: ${proc.stderr.slice(-1500)}`}`, { cause: err });
    }
  }

  async #remove(key: string, r: RunningWaypointPod): Promise<void> {
    const left = (this.#running.get(key) ?? []).filter((x) => x !== r);
    if (left.length > 0) this.#running.set(key, left);
    else this.#running.delete(key);
    // The last replica takes the Service with it.
    if (left.length === 0) await this.#o.cluster.removeService({ namespace: r.deployment.namespace, name: r.deployment.name }).catch(() => undefined);
    await r.process.stop(3000);
    await this.#o.cluster.removePod(r.pod).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.close();
    await this.#queue;
    await Promise.allSettled([...this.#running].flatMap(([k, list]) => list.map((r) => this.#remove(k, r))));
  }

  killSync(): void {
    for (const list of this.#running.values()) for (const r of list) r.process.killSync();
  }
}

async function waitReady(url: string, proc: LocalProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`waypoint not ready at ${url} after ${timeoutMs} ms`);
    const exited = await Promise.race([proc.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 100))]);
    if (exited) throw new Error('the waypoint process exited');
  }
}
