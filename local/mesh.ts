// The whole mesh on the embedded cluster: the controller as a process in the root netns
// (reached over the cluster's host link), one ztunnel process per node inside the node's
// netns, the cluster's own state (nodes, pods, services) written as manifests the controller
// watches, and a folder for the user's manifests. Used by the demo, end-to-end tests and
// benchmarks. Components run as processes, as they would in a real cluster. A ztunnel that
// stops leaves its pods' capture in place, as the DaemonSet's does: until the next one is up
// their traffic is refused, never let through in plaintext. With `redis`, a Redis pod holds
// the global rate-limit counters, and the controller hands its address to every waypoint.
import { access, mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { WeftError } from '#core/errors.ts';
import { Logger } from '#core/log.ts';
import type { LogLevelName } from '#core/log.ts';
import { Ports } from '#core/ports.ts';
import { tokenFilePath } from '#controller/ca/tokens.ts';
import { LocalCluster } from './cluster.ts';
import type { LocalNode } from './node.ts';
import type { LocalPod } from './pod.ts';
import { LocalProcess } from './process.ts';
import { LocalRedis } from './redis.ts';
import { LocalWaypoints } from './waypoints.ts';
import { waitForQuietPush } from './settle.ts';
import { DEPLOYMENTS_DIR } from '#controller/deploy/local-deployer.ts';
import { spiffeIdFor } from '#core/identity/spiffe.ts';

const CONTROLLER_MAIN = fileURLToPath(new URL('../controller/main.ts', import.meta.url));
const ZTUNNEL_MAIN = fileURLToPath(new URL('../ztunnel/main.ts', import.meta.url));

export const AMBIENT_LABEL = 'istio.io/dataplane-mode';
const CONTROLLER_IDENTITY = 'spiffe://cluster.local/ns/istio-system/sa/weft-controller';

export interface LocalMeshOptions {
  name?: string;
  nodes?: number;
  /** Log level of the controller and ztunnel processes. */
  logLevel?: LogLevelName;
  /** Copy component output to this process's stderr (debugging). */
  echo?: boolean;
  logger?: Logger;
  /** Extra flags for the ztunnel processes' node (e.g. `--cpu-prof` in benchmarks). */
  nodeArgs?: readonly string[];
  /** The ztunnel's entry file; default `ztunnel/main.ts`. E.g. `ztunnel/main.js` in what scripts/build-image.sh emits. */
  ztunnelEntry?: string;
  /** Extra environment for the ztunnel processes (e.g. glibc malloc settings in benchmarks). */
  ztunnelEnv?: Record<string, string>;
  /** Extra flags for the waypoint processes' node (e.g. `--cpu-prof` in benchmarks). */
  waypointNodeArgs?: readonly string[];
  /** Extra controller flags (e.g. `--workload-cert-ttl 10s` for rotation tests). */
  controllerArgs?: readonly string[];
  /** Extra environment for the waypoint processes, given the host link's address (where a test's collector can listen). */
  waypointEnv?: (hostIp: string) => Record<string, string>;
  /** Start a Redis for global rate limits; the waypoints get its address through their Deployment. */
  redis?: boolean;
  /**
   * Give each ztunnel a state folder (capture ledger, upgrade hand-off socket), as the chart's
   * hostPath does; upgradeZtunnel needs it.
   */
  ztunnelStateDirs?: boolean;
}

export interface ZtunnelHandle {
  node: LocalNode;
  process: LocalProcess;
  /** The command line it was started with (a restart reuses it). */
  argv: readonly string[];
  /** 15020, reachable from the root netns. */
  metricsUrl: string;
  readyUrl: string;
}

interface ConfigDump {
  enrolledPods?: { ip: string }[];
}

export class LocalMesh {
  readonly cluster: LocalCluster;
  readonly stateDir: string;
  /** Where the user's manifests go (AuthorizationPolicy, PeerAuthentication, Gateway, ...). */
  readonly manifestDir: string;
  readonly controllerUrl: string;
  readonly controllerAdminUrl: string;
  #controller: LocalProcess;
  readonly #controllerArgv: readonly string[];
  readonly #echo: boolean;
  readonly #ztunnelEnv: Record<string, string> | undefined;
  readonly #ztunnels: Map<string, ZtunnelHandle>;
  /** Waypoint pods, started from what the controller asks for. */
  readonly waypoints: LocalWaypoints;
  /** The global rate-limit Redis, when started with `redis: true`. */
  readonly redis: LocalRedis | undefined;
  #stopped = false;

  private constructor(init: {
    cluster: LocalCluster; stateDir: string; manifestDir: string; controllerUrl: string;
    controllerAdminUrl: string; controller: LocalProcess; controllerArgv: readonly string[]; echo: boolean;
    ztunnelEnv: Record<string, string> | undefined; ztunnels: Map<string, ZtunnelHandle>; waypoints: LocalWaypoints; redis: LocalRedis | undefined;
  }) {
    this.redis = init.redis;
    this.waypoints = init.waypoints;
    this.cluster = init.cluster;
    this.stateDir = init.stateDir;
    this.manifestDir = init.manifestDir;
    this.controllerUrl = init.controllerUrl;
    this.controllerAdminUrl = init.controllerAdminUrl;
    this.#controller = init.controller;
    this.#controllerArgv = init.controllerArgv;
    this.#echo = init.echo;
    this.#ztunnelEnv = init.ztunnelEnv;
    this.#ztunnels = init.ztunnels;
  }

  static async start(opts: LocalMeshOptions = {}): Promise<LocalMesh> {
    const log = (opts.logger ?? new Logger()).child({ component: 'local-mesh' });
    const stateDir = await mkdtemp(join(tmpdir(), 'weft-mesh-'));
    const clusterDir = join(stateDir, 'cluster');
    const manifestDir = join(stateDir, 'manifests');
    const level = opts.logLevel ?? 'warn';
    let cluster: LocalCluster | undefined;
    let controller: LocalProcess | undefined;
    const ztunnels = new Map<string, ZtunnelHandle>();
    let waypoints: LocalWaypoints | undefined;
    let redis: LocalRedis | undefined;
    try {
      cluster = await LocalCluster.start({ name: opts.name ?? 'weft', nodes: opts.nodes ?? 2, manifestDir: clusterDir, logger: log });
      const hostIp = cluster.hostIp;
      if (hostIp === undefined) throw new WeftError('WEFT_ERR_LOCAL_MESH', 'the embedded cluster has no host link; the controller could not be reached from the nodes');
      // Before the controller: the address goes into every waypoint Deployment it writes.
      if (opts.redis === true) redis = await LocalRedis.start(cluster, { echo: opts.echo ?? false });
      const controllerArgv = [
        CONTROLLER_MAIN, '--state-dir', join(stateDir, 'controller'), '--manifests', clusterDir, '--manifests', manifestDir,
        '--address', hostIp, '--admin-address', hostIp, '--log-level', level,
        ...(redis === undefined ? [] : ['--waypoint-rate-limit-redis', redis.address]), ...(opts.controllerArgs ?? []),
      ];
      controller = new LocalProcess(process.execPath, controllerArgv, 'controller', { echo: opts.echo ?? false });
      const controllerUrl = `https://${hostIp}:${Ports.controllerPush}`;
      const controllerAdminUrl = `http://${hostIp}:${Ports.controllerDashboard}`;
      let controllerExited = false;
      void controller.exited.then(() => { controllerExited = true; });
      await waitUntil(async () => {
        // A controller that exited (say, its port taken by a leftover one) must not pass for healthy.
        if (controllerExited) throw new WeftError('WEFT_ERR_LOCAL_MESH', `the controller exited: ${controller?.stderr.slice(-2000) ?? ''}`);
        return (await fetch(`${controllerAdminUrl}/healthz`).catch(() => undefined))?.ok === true;
      }, 15_000, () => `the controller did not become healthy: ${controller?.stderr.slice(-2000) ?? ''}`);

      const rootCert = join(stateDir, 'controller', 'ca', 'root-cert.pem');
      for (const node of cluster.nodes) {
        const tokenFile = tokenFilePath(join(stateDir, 'controller'), { kind: 'ztunnel', node: node.name });
        await waitUntil(() => exists(tokenFile), 10_000, () => `the controller wrote no token for ${node.name}`);
        // No --remove-capture-on-exit: a stopped ztunnel fails closed. The node folder is how
        // the cluster hands it new pods, so they are captured even while the controller is away.
        const argv = [
          process.execPath, ...(opts.nodeArgs ?? []), opts.ztunnelEntry ?? ZTUNNEL_MAIN, '--node', node.name, '--controller', controllerUrl,
          '--token-file', tokenFile, '--root-cert', rootCert,
          '--controller-identity', CONTROLLER_IDENTITY,
          '--admin-host', node.ip, '--log-level', level, '--node-dir', node.nodeDir,
          ...(opts.ztunnelStateDirs === true ? ['--state-dir', join(stateDir, 'ztunnel', node.name)] : []),
        ];
        const proc = node.spawn(argv, {
          label: `ztunnel-${node.name}`, echo: opts.echo ?? false, ...(opts.ztunnelEnv === undefined ? {} : { env: opts.ztunnelEnv }),
        });
        ztunnels.set(node.name, {
          node, process: proc, argv,
          metricsUrl: `http://${node.ip}:${Ports.metrics}/metrics`,
          readyUrl: `http://${node.ip}:${Ports.readiness}/healthz/ready`,
        });
      }
      await Promise.all([...ztunnels.values()].map((z) => z.process.waitForLine('ready', 20_000)));
      const controllerState = join(stateDir, 'controller');
      waypoints = new LocalWaypoints({
        cluster, dir: join(controllerState, DEPLOYMENTS_DIR), controllerUrl, rootCertFile: rootCert,
        controllerIdentity: CONTROLLER_IDENTITY, logLevel: level, logger: log, echo: opts.echo ?? false,
        ...(opts.waypointEnv === undefined ? {} : { env: opts.waypointEnv(hostIp) }),
        ...(opts.waypointNodeArgs === undefined ? {} : { nodeArgs: opts.waypointNodeArgs }),
        tokenFile: (ns, sa) => tokenFilePath(controllerState, { kind: 'waypoint', identity: spiffeIdFor(ns, sa) }),
      });
      await waypoints.start();
      return new LocalMesh({
        cluster, stateDir, manifestDir, controllerUrl, controllerAdminUrl, controller, controllerArgv, echo: opts.echo ?? false,
        ztunnelEnv: opts.ztunnelEnv, ztunnels, waypoints, redis,
      });
    } catch (err) {
      await waypoints?.stop();
      await Promise.allSettled([...ztunnels.values()].map((z) => z.process.stop(2000)));
      await controller?.stop(2000);
      await redis?.stopProcess();
      await cluster?.stop();
      await rm(stateDir, { recursive: true, force: true });
      throw err;
    }
  }

  ztunnel(node: string): ZtunnelHandle {
    const z = this.#ztunnels.get(node);
    if (z === undefined) throw new WeftError('WEFT_ERR_LOCAL_MESH', `no ztunnel on node ${JSON.stringify(node)}`);
    return z;
  }

  get ztunnels(): ZtunnelHandle[] {
    return [...this.#ztunnels.values()];
  }

  /**
   * Stops a node's ztunnel and starts it again with the same command line, as a DaemonSet
   * rollout does; resolves with the new handle once it reports ready. Capture stays in place
   * meanwhile, so the node's pods are unreachable (reset), not reachable in plaintext.
   */
  async restartZtunnel(node: string, timeoutMs = 20_000): Promise<ZtunnelHandle> {
    const old = this.ztunnel(node);
    await old.process.stop(3000);
    const proc = old.node.spawn(old.argv, {
      label: old.process.label, echo: this.#echo, ...(this.#ztunnelEnv === undefined ? {} : { env: this.#ztunnelEnv }),
    });
    const handle: ZtunnelHandle = { ...old, process: proc };
    this.#ztunnels.set(node, handle);
    await proc.waitForLine('ready', timeoutMs);
    await waitUntil(async () => (await fetch(handle.readyUrl).catch(() => undefined))?.status === 200, timeoutMs,
      () => `the restarted ztunnel of ${node} did not report ready within ${timeoutMs} ms: ${proc.stderr.slice(-2000)}`);
    return handle;
  }

  /**
   * A node's ztunnel upgraded as a DaemonSet surge rollout does it: a second process with the
   * same command line starts beside the running one and takes over through the hand-off socket
   * in the state folder (mesh started with `ztunnelStateDirs`); once it reports ready the old one
   * gets SIGTERM and drains. Resolves with the new handle and the old process, whose exit the
   * caller may await (it comes when its connections are done).
   */
  async upgradeZtunnel(node: string, timeoutMs = 30_000): Promise<{ handle: ZtunnelHandle; predecessor: LocalProcess }> {
    const old = this.ztunnel(node);
    if (!old.argv.includes('--state-dir')) throw new WeftError('WEFT_ERR_LOCAL_MESH', 'upgradeZtunnel needs a mesh started with ztunnelStateDirs');
    const proc = old.node.spawn(old.argv, {
      label: `${old.process.label}+`, echo: this.#echo, ...(this.#ztunnelEnv === undefined ? {} : { env: this.#ztunnelEnv }),
    });
    const handle: ZtunnelHandle = { ...old, process: proc };
    this.#ztunnels.set(node, handle);
    await proc.waitForLine('ready', timeoutMs);
    await waitUntil(async () => (await fetch(handle.readyUrl).catch(() => undefined))?.status === 200, timeoutMs,
      () => `the upgraded ztunnel of ${node} did not report ready within ${timeoutMs} ms: ${proc.stderr.slice(-2000)}`);
    old.process.signal('SIGTERM');
    return { handle, predecessor: old.process };
  }

  /** Stops the controller; proxies keep their last config and keep trying to reconnect. */
  async stopController(): Promise<void> {
    await this.#controller.stop(3000);
  }

  /** Starts the controller again on the same state (CA, token key); resolves once it is healthy. */
  async startController(timeoutMs = 15_000): Promise<void> {
    if (this.#controller.exitStatus === undefined) throw new WeftError('WEFT_ERR_LOCAL_MESH', 'the controller is already running');
    const proc = new LocalProcess(process.execPath, this.#controllerArgv, 'controller', { echo: this.#echo });
    this.#controller = proc;
    await waitUntil(async () => {
      if (proc.exitStatus !== undefined) throw new WeftError('WEFT_ERR_LOCAL_MESH', `the controller exited: ${proc.stderr.slice(-2000)}`);
      return (await fetch(`${this.controllerAdminUrl}/healthz`).catch(() => undefined))?.ok === true;
    }, timeoutMs, () => `the controller did not become healthy again: ${proc.stderr.slice(-2000)}`);
  }

  /** Labels a namespace into the mesh (running pods join without restart) or out of it. */
  async enrollNamespace(namespace: string, enrolled = true): Promise<void> {
    await this.cluster.setNamespaceLabels(namespace, enrolled ? { [AMBIENT_LABEL]: 'ambient' } : {});
  }

  /** Writes (or replaces) a user manifest file of one or more objects, as `kubectl apply -f`. */
  async apply(file: string, ...objects: object[]): Promise<void> {
    const path = join(this.manifestDir, file);
    const tmp = join(this.manifestDir, `.${file}.tmp`);
    await writeFile(tmp, objects.map((o) => stringify(o)).join('---\n'));
    await rename(tmp, path);
  }

  /** Removes a user manifest file, as `kubectl delete -f`. */
  async delete(file: string): Promise<void> {
    await unlink(join(this.manifestDir, file)).catch(() => undefined);
  }

  /** ztunnel's /config_dump (admin 15000 is on the node's localhost only). */
  async configDump(node: string): Promise<unknown> {
    const r = await this.ztunnel(node).node.exec(['curl', '-sS', '--max-time', '3', `http://127.0.0.1:${Ports.admin}/config_dump`]);
    if (r.code !== 0) throw new WeftError('WEFT_ERR_LOCAL_MESH', `config_dump of ${node} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as unknown;
  }

  /** Waits until the pod's node ztunnel has (or, with enrolled=false, no longer has) it enrolled. */
  async waitForEnrollment(pod: LocalPod, enrolled = true, timeoutMs = 15_000): Promise<void> {
    await waitUntil(async () => {
      const dump = (await this.configDump(pod.node).catch(() => ({}))) as ConfigDump;
      return (dump.enrolledPods ?? []).some((p) => p.ip === pod.ip) === enrolled;
    }, timeoutMs, () => `pod ${pod.namespace}/${pod.name} was ${enrolled ? 'not enrolled' : 'still enrolled'} after ${timeoutMs} ms`);
  }

  /**
   * Waits until the push stream is at rest: every connected proxy has answered its last push
   * and nothing is in flight, unchanged for half a second (longer than the controller takes to
   * notice a manifest). Proxies may rest at different versions (a change may concern one node only).
   */
  async settle(timeoutMs = 10_000): Promise<void> {
    await waitForQuietPush({
      status: async () => (await fetch(`${this.controllerAdminUrl}/status`)).json(),
      minClients: this.ztunnels.length,
      timeoutMs,
    });
  }

  async metrics(node: string): Promise<string> {
    return (await fetch(this.ztunnel(node).metricsUrl)).text();
  }

  /** Stops every process, removes the cluster and the state folder; idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.waypoints.stop();
    await Promise.allSettled(this.ztunnels.map((z) => z.process.stop(3000)));
    await this.#controller.stop(3000);
    await this.redis?.stopProcess();
    await this.cluster.stop();
    await rm(this.stateDir, { recursive: true, force: true });
  }

  /** Ctrl-C, SIGTERM and a closed terminal (SIGHUP) stop the mesh and leave nothing behind. */
  installSignalHandlers(): void {
    const codes: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };
    const onSignal = (sig: NodeJS.Signals): void => {
      void this.stop().finally(() => process.exit(codes[sig] ?? 1));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('SIGHUP', onSignal);
    // A crash still takes the processes down; the next start sweeps kernel leftovers.
    process.once('exit', () => {
      this.waypoints.killSync();
      for (const z of this.ztunnels) z.process.killSync();
      this.#controller.killSync();
      this.redis?.killSync();
    });
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new WeftError('WEFT_ERR_LOCAL_TIMEOUT', what());
    await new Promise((r) => setTimeout(r, 100));
  }
}
