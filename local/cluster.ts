// The embedded cluster: one Linux machine as a small Kubernetes-like cluster. Nodes and pods
// are named network namespaces on a bridged underlay, Services are kube-proxy-like DNAT in
// every node, and a manifest folder reports what a Kubernetes API would. Each node also gets
// its pods as a CNI plugin would hand them over: a record in the node's folder, and, when a
// ztunnel has taken the node, its ack before the pod counts as created.
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { rmSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { WeftError, errorMessage } from '#core/errors.ts';
import { silentLogger, type Logger } from '#core/log.ts';
import { MAX_NODES, addressPlan, formatCidr, podPool, servicePool, type AddressPlan, type IpPool } from './addressing.ts';
import { ClusterNames, clusterPrefix, validateClusterName, validateObjectName } from './naming.ts';
import { ipBatch, ipBatchForce, iptablesRestore, listNetns, netnsPids, sysctlIn } from './ip.ts';
import {
  NODE_SYSCTLS, clusterCreateBatch, hostBatch, nodeBatch, podBatch, podCreateBatch, podNodeBatch, underlayBatch,
  type NodeSpec, type PodPlumbing,
} from './topology-commands.ts';
import { renderServiceRules, type ServiceRuleInput } from './service-rules.ts';
import {
  RUN_DIR, claimIndex, claimName, isAlive, listOwners, readOwner, releaseIndexes, releaseName, selfOwner, writeOwner,
  type OwnerRecord,
} from './ownership.ts';
import { sweepClusters, sweepKernelObjects } from './sweep.ts';
import { ManifestWriter, removeClusterManifests } from './manifest-writer.ts';
import {
  endpointSliceManifest, manifestFileName, namespaceManifest, nodeManifest, podManifest, serviceManifest,
  type ServicePortSpec,
} from './manifests.ts';
import { LocalNode } from './node.ts';
import { nodeDirServed, removeNodePod, waitForAck, writeNodeNamespace, writeNodePod } from '#ztunnel/enroll/node-dir.ts';
import type { NodePod } from '#ztunnel/enroll/node-pods.ts';
import { LocalPod } from './pod.ts';
import { LocalService, selects } from './service.ts';
import type { LocalProcess } from './process.ts';

export interface LocalClusterOptions {
  /** Default 'weft'. Lowercase letters, digits, dashes; at most 32 characters. */
  readonly name?: string;
  /** Number of nodes, named node1..nodeN. */
  readonly nodes: number;
  /** When given, Kubernetes-like YAML for every object is kept in this folder. */
  readonly manifestDir?: string;
  readonly logger?: Logger;
  /** Prefix length of each node's pod CIDR, 24 (default) to 30 (one pod per node). */
  readonly podCidrPrefix?: number;
  /** Connect the root netns to the underlay (address hostIp, routes to pods and VIPs). Default true. */
  readonly hostLink?: boolean;
  /** How long addPod waits for the node's ztunnel to capture a pod (when one has taken the node). Default 30 s. */
  readonly captureTimeoutMs?: number;
}

export interface AddPodOptions {
  readonly namespace: string;
  readonly name: string;
  /** Node name, e.g. 'node1'. */
  readonly node: string;
  readonly labels?: Record<string, string>;
  /** Default 'default'. */
  readonly serviceAccount?: string;
  /** Start as not ready (no Service endpoint) until setPodReady, as a pod whose probe has yet to pass; default true. */
  readonly ready?: boolean;
}

export interface AddServiceOptions {
  readonly namespace: string;
  readonly name: string;
  readonly selector: Record<string, string>;
  readonly ports: readonly ServicePortSpec[];
  readonly labels?: Record<string, string>;
}

/** Names of clusters started by this process and not yet stopped. */
const runningHere = new Set<string>();

export class LocalCluster {
  readonly name: string;
  /** Every netns, link and chain of this cluster starts with `<prefix>-`. */
  readonly prefix: string;
  /** Slot 0..15 that picks the address ranges. */
  readonly index: number;
  readonly names: ClusterNames;
  readonly plan: AddressPlan;
  /** The root netns's address on the underlay; undefined without the host link. */
  readonly hostIp: string | undefined;
  readonly podCidr: string;
  readonly serviceCidr: string;
  readonly manifestDir: string | undefined;

  readonly #log: Logger;
  readonly #hostLink: boolean;
  readonly #captureTimeoutMs: number;
  readonly #nodes = new Map<string, LocalNode>();
  readonly #podPools = new Map<string, IpPool>();
  readonly #svcPool: IpPool;
  readonly #pods = new Map<string, LocalPod>();
  readonly #services = new Map<string, LocalService>();
  readonly #namespaces = new Map<string, { labels: Record<string, string>; createdAt: Date }>();
  readonly #processes = new Map<string, Set<LocalProcess>>();
  readonly #manifests: ManifestWriter | undefined;
  readonly #createdAt = new Date();
  #podSerial = 0;
  #chains = new Set<string>();
  readonly #jumpsInstalled = new Set<string>();
  #syncQueue: Promise<void> = Promise.resolve();
  #stopping: Promise<void> | undefined;
  #handlers: { signal: (sig: NodeJS.Signals) => void; exit: () => void } | undefined;

  private constructor(init: {
    name: string; prefix: string; index: number; plan: AddressPlan; hostLink: boolean;
    manifestDir: string | undefined; log: Logger; captureTimeoutMs: number;
  }) {
    this.name = init.name;
    this.prefix = init.prefix;
    this.index = init.index;
    this.names = new ClusterNames(init.prefix);
    this.plan = init.plan;
    this.#hostLink = init.hostLink;
    this.#captureTimeoutMs = init.captureTimeoutMs;
    this.hostIp = init.hostLink ? init.plan.hostIp : undefined;
    this.podCidr = formatCidr(init.plan.clusterPodCidr);
    this.serviceCidr = formatCidr(init.plan.serviceCidr);
    this.manifestDir = init.manifestDir;
    this.#manifests = init.manifestDir === undefined ? undefined : new ManifestWriter(init.manifestDir);
    this.#log = init.log;
    this.#svcPool = servicePool(init.plan.serviceCidr);
  }

  static async start(opts: LocalClusterOptions): Promise<LocalCluster> {
    const began = performance.now();
    const name = opts.name ?? 'weft';
    validateClusterName(name);
    if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > MAX_NODES) {
      throw new WeftError('WEFT_ERR_LOCAL_BAD_NODES', `nodes must be an integer in 1..${MAX_NODES}, got ${String(opts.nodes)}`);
    }
    addressPlan(0, opts.podCidrPrefix); // validates the prefix length before anything is created
    const prefix = clusterPrefix(name);
    const log = (opts.logger ?? silentLogger).child({ component: 'local-cluster', cluster: name });

    if (runningHere.has(name)) throw nameInUse(name, process.pid);
    for (const o of await listOwners()) {
      if (o.prefix === prefix && o.name !== name && isAlive(o.pid, o.pidStart)) {
        throw new WeftError('WEFT_ERR_LOCAL_NAME_IN_USE', `cluster name ${name} maps to prefix ${prefix}, already used by running cluster ${o.name} (pid ${o.pid})`, {
          hint: 'pick another name',
        });
      }
    }
    const record: OwnerRecord = {
      name, prefix, ...selfOwner(), index: -1, manifestDir: opts.manifestDir ?? null, startedAt: new Date().toISOString(),
    };
    if (!(await claimName(record))) {
      const owner = await readOwner(name);
      if (owner !== undefined && isAlive(owner.pid, owner.pidStart)) throw nameInUse(name, owner.pid);
      log.warn('sweeping leftovers of an earlier run', { pid: owner?.pid });
      await sweepClusters(name);
      if (!(await claimName(record))) throw nameInUse(name, undefined);
    }
    runningHere.add(name);

    let cluster: LocalCluster | undefined;
    try {
      // Netns with our prefix but no owner record: leftovers of a run whose record was lost.
      if ((await listNetns()).some((n) => n.startsWith(`${prefix}-`))) await sweepKernelObjects(prefix);
      const index = await claimIndex(name);
      await writeOwner({ ...record, index });
      if (opts.manifestDir !== undefined) {
        await mkdir(opts.manifestDir, { recursive: true });
        await removeClusterManifests(opts.manifestDir, name);
      }
      cluster = new LocalCluster({
        name, prefix, index, plan: addressPlan(index, opts.podCidrPrefix), hostLink: opts.hostLink ?? true,
        manifestDir: opts.manifestDir, log, captureTimeoutMs: opts.captureTimeoutMs ?? 30_000,
      });
      await cluster.#build(opts.nodes);
      log.info('embedded cluster started', {
        index, prefix, nodes: opts.nodes, podCidr: cluster.podCidr, serviceCidr: cluster.serviceCidr,
        ms: Math.round(performance.now() - began),
      });
      return cluster;
    } catch (err) {
      if (cluster !== undefined) {
        await cluster.stop().catch(() => undefined);
      } else {
        await sweepKernelObjects(prefix).catch(() => undefined);
        await releaseIndexes(name).catch(() => undefined);
        await releaseName(name).catch(() => undefined);
        runningHere.delete(name);
      }
      throw err;
    }
  }

  /**
   * Removes the leftovers of the cluster called name, or of every cluster whose process died
   * when name is omitted. Refuses a running cluster. Returns the names swept.
   */
  static sweep(name?: string): Promise<string[]> {
    return sweepClusters(name);
  }

  get nodes(): readonly LocalNode[] { return [...this.#nodes.values()]; }
  get pods(): readonly LocalPod[] { return [...this.#pods.values()]; }
  get services(): readonly LocalService[] { return [...this.#services.values()]; }
  get stopped(): boolean { return this.#stopping !== undefined; }

  /** The node called name ('node1'…); throws for an unknown name. */
  node(name: string): LocalNode {
    const node = this.#nodes.get(name);
    if (node === undefined) throw this.#unknownNode(name);
    return node;
  }

  pod(namespace: string, name: string): LocalPod | undefined {
    return this.#pods.get(`${namespace}/${name}`);
  }

  /** The running pod with this IP, as ztunnel would look it up. */
  podByIp(ip: string): LocalPod | undefined {
    for (const pod of this.#pods.values()) if (pod.ip === ip) return pod;
    return undefined;
  }

  service(namespace: string, name: string): LocalService | undefined {
    return this.#services.get(`${namespace}/${name}`);
  }

  /** Pods the service selects, ready or not, ordered by IP. */
  endpoints(svc: LocalService): LocalPod[] {
    return [...this.#pods.values()]
      .filter((p) => p.namespace === svc.namespace && selects(svc.selector, p.labels))
      .sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }));
  }

  async addPod(opts: AddPodOptions): Promise<LocalPod> {
    this.#assertRunning();
    validateObjectName('pod', opts.namespace, opts.name);
    const node = this.#nodes.get(opts.node);
    if (node === undefined) throw this.#unknownNode(opts.node);
    const key = `${opts.namespace}/${opts.name}`;
    if (this.#pods.has(key)) {
      throw new WeftError('WEFT_ERR_LOCAL_POD_EXISTS', `pod ${key} already exists in cluster ${this.name}`);
    }
    const pool = this.#podPools.get(node.name);
    if (pool === undefined) throw this.#unknownNode(opts.node);
    const ip = pool.allocate();
    const serial = ++this.#podSerial;
    const plumbing: PodPlumbing = {
      podNetns: this.names.podNetns(opts.namespace, opts.name),
      nodeNetns: node.netns,
      podLink: this.names.podLink(serial),
      hostLink: this.names.podHostLink(serial),
      ip,
      gateway: node.podGateway,
      nodeIp: node.ip,
    };
    const pod = new LocalPod({
      namespace: opts.namespace, name: opts.name, node: node.name, nodeIp: node.ip, ip,
      labels: opts.labels ?? {}, serviceAccount: opts.serviceAccount ?? 'default',
      link: plumbing.podLink, hostLink: plumbing.hostLink, netns: plumbing.podNetns,
      track: (proc) => this.#track(plumbing.podNetns, proc),
    });
    if (opts.ready === false) pod._setReady(false);
    this.#pods.set(key, pod); // taken now, so a concurrent add of the same pod is refused
    try {
      await ipBatch(podCreateBatch(plumbing));
      await Promise.all([ipBatch(podBatch(plumbing), plumbing.podNetns), ipBatch(podNodeBatch(plumbing), node.netns)]);
    } catch (err) {
      this.#pods.delete(key);
      await ipBatchForce([`netns del ${plumbing.podNetns}`]);
      await ipBatchForce([`link del ${plumbing.hostLink}`], node.netns);
      pool.release(ip);
      throw new WeftError('WEFT_ERR_LOCAL_POD_CREATE', `cannot create pod ${key} on ${node.name}: ${errorMessage(err)}`, { cause: err });
    }
    if (this.stopped) {
      // stop() ran while the pod was being built and may have missed its netns.
      await ipBatchForce([`netns del ${plumbing.podNetns}`]);
      this.#assertRunning();
    }
    try {
      await this.#handToNode(node, pod);
    } catch (err) {
      await this.removePod(pod).catch(() => undefined);
      throw err;
    }
    this.#log.debug('pod added', { pod: key, node: node.name, ip });
    await this.#writePod(pod);
    await this.#endpointsChanged(pod.namespace);
    return pod;
  }

  /** Stops the pod's processes and deletes its netns; a pod already gone is fine. */
  async removePod(pod: LocalPod | { namespace: string; name: string }): Promise<void> {
    const key = `${pod.namespace}/${pod.name}`;
    const found = this.#pods.get(key);
    if (found === undefined || (pod instanceof LocalPod && pod !== found)) return;
    this.#pods.delete(key);
    await this.#stopProcesses(found.netns);
    await killNetnsPids(found.netns);
    const node = this.#nodes.get(found.node);
    // The CNI DEL: the node's ztunnel lets the pod go before its namespace does.
    if (node !== undefined) await removeNodePod(node.nodeDir, found.uid).catch(() => undefined);
    // Deleting the node end removes the pair even if something still holds the pod netns open,
    // so the address can be reused at once.
    if (node !== undefined) await ipBatchForce([`link del ${found.hostLink}`], node.netns);
    await ipBatchForce([`netns del ${found.netns}`]);
    this.#podPools.get(found.node)?.release(found.ip);
    this.#log.debug('pod removed', { pod: key });
    await this.#manifests?.remove(manifestFileName('Pod', found.namespace, found.name));
    await this.#endpointsChanged(found.namespace);
  }

  /** Replaces the pod's labels; Service endpoints and manifests follow. */
  async setPodLabels(pod: LocalPod, labels: Record<string, string>): Promise<void> {
    this.#assertRunning();
    pod._setLabels(labels);
    const node = this.#nodes.get(pod.node);
    if (node !== undefined) await writeNodePod(node.nodeDir, nodePodRecord(pod));
    await this.#writePod(pod);
    await this.#endpointsChanged(pod.namespace);
  }

  /** An unready pod stays in EndpointSlices (ready: false) but gets no Service traffic. */
  async setPodReady(pod: LocalPod, ready: boolean): Promise<void> {
    this.#assertRunning();
    pod._setReady(ready);
    await this.#writePod(pod);
    await this.#endpointsChanged(pod.namespace);
  }

  /** Writes a Namespace manifest with these labels (e.g. istio.io/dataplane-mode=ambient). */
  async setNamespaceLabels(name: string, labels: Record<string, string>): Promise<void> {
    this.#assertRunning();
    validateObjectName('namespace', name, name);
    const ns = this.#namespaces.get(name) ?? { labels: {}, createdAt: new Date() };
    ns.labels = { ...labels };
    this.#namespaces.set(name, ns);
    // What a node agent watching namespaces would tell each node's ztunnel.
    await Promise.all(this.nodes.map((n) => writeNodeNamespace(n.nodeDir, { name, labels: ns.labels })));
    await this.#manifests?.write(manifestFileName('Namespace', undefined, name), namespaceManifest(this.name, name, ns.labels, ns.createdAt));
  }

  async addService(opts: AddServiceOptions): Promise<LocalService> {
    this.#assertRunning();
    validateObjectName('service', opts.namespace, opts.name);
    validatePorts(opts.ports);
    const key = `${opts.namespace}/${opts.name}`;
    if (this.#services.has(key)) {
      throw new WeftError('WEFT_ERR_LOCAL_SERVICE_EXISTS', `service ${key} already exists in cluster ${this.name}`);
    }
    const vip = this.#svcPool.allocate();
    const svc = new LocalService({
      namespace: opts.namespace, name: opts.name, vip, selector: opts.selector, labels: opts.labels ?? {}, ports: opts.ports,
    });
    this.#services.set(key, svc);
    try {
      await this.#manifests?.write(manifestFileName('Service', svc.namespace, svc.name), serviceManifest(this.name, svc));
      await this.#writeEndpointSlice(svc);
      await this.#syncServices();
    } catch (err) {
      await this.removeService(svc).catch(() => undefined);
      throw err;
    }
    this.#log.debug('service added', { service: key, vip });
    return svc;
  }

  async removeService(svc: LocalService | { namespace: string; name: string }): Promise<void> {
    const key = `${svc.namespace}/${svc.name}`;
    const found = this.#services.get(key);
    if (found === undefined || (svc instanceof LocalService && svc !== found)) return;
    this.#services.delete(key);
    this.#svcPool.release(found.vip);
    await this.#manifests?.remove(manifestFileName('Service', found.namespace, found.name));
    await this.#manifests?.remove(manifestFileName('EndpointSlice', found.namespace, found.name));
    if (!this.stopped) await this.#syncServices();
  }

  /**
   * Stops every process started through the cluster (and any other process inside its netns),
   * deletes every netns, link, rule, claim and manifest it made. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#teardown();
    return this.#stopping;
  }

  /** Stop the cluster on SIGINT/SIGTERM (then exit 130/143) and on process exit. */
  installSignalHandlers(): void {
    if (this.#handlers !== undefined || this.stopped) return;
    const signal = (sig: NodeJS.Signals): void => {
      void this.stop().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    };
    const exit = (): void => this.#teardownSync();
    this.#handlers = { signal, exit };
    process.once('SIGINT', signal);
    process.once('SIGTERM', signal);
    process.once('exit', exit);
  }

  async #build(count: number): Promise<void> {
    const specs: NodeSpec[] = [];
    for (let i = 1; i <= count; i++) specs.push({ index: i, netns: this.names.nodeNetns(`node${i}`) });
    await ipBatch(clusterCreateBatch(this.names, specs, this.#hostLink));
    await Promise.all([
      ipBatch(underlayBatch(this.names, specs, this.#hostLink), this.names.underlayNetns),
      ...specs.map((s) => ipBatch(nodeBatch(this.names, this.plan, s, specs), s.netns)),
      ...specs.map((s) => sysctlIn(s.netns, NODE_SYSCTLS)),
      this.#hostLink ? ipBatch(hostBatch(this.names, this.plan, specs)) : Promise.resolve(),
    ]);
    for (const s of specs) {
      const name = `node${s.index}`;
      const node = new LocalNode({
        name, index: s.index, ip: this.plan.nodeIp(s.index), podCidr: this.plan.podCidr(s.index),
        podGateway: this.plan.podGateway(s.index), link: this.names.nodeLink(s.index), netns: s.netns,
        nodeDir: join(RUN_DIR, this.name, 'nodes', name),
        track: (proc) => this.#track(s.netns, proc),
      });
      await mkdir(node.nodeDir, { recursive: true });
      this.#nodes.set(name, node);
      this.#podPools.set(name, podPool(name, this.plan.podCidr(s.index)));
    }
    await this.#syncServices();
    const manifests = this.#manifests;
    if (manifests !== undefined) {
      await Promise.all(this.nodes.map((n) =>
        manifests.write(manifestFileName('Node', undefined, n.name), nodeManifest(this.name, n, this.#createdAt))));
    }
  }

  /**
   * The CNI ADD: the pod's record goes into its node's folder and, once a ztunnel has taken
   * the node, the pod is not created until that ztunnel answered (captured or not), so it
   * never runs uncaptured. A ztunnel that is restarting answers when it is back. No answer
   * in time fails the pod, as a failed CNI ADD fails the sandbox.
   */
  async #handToNode(node: LocalNode, pod: LocalPod): Promise<void> {
    await writeNodePod(node.nodeDir, nodePodRecord(pod));
    if (!(await nodeDirServed(node.nodeDir))) return;
    const ack = await waitForAck(node.nodeDir, pod.uid, this.#captureTimeoutMs, { givenUp: () => this.stopped });
    this.#assertRunning();
    if (ack !== undefined) {
      this.#log.debug('pod handed to the node', { pod: `${pod.namespace}/${pod.name}`, captured: ack.captured, reason: ack.reason });
      return;
    }
    throw new WeftError('WEFT_ERR_LOCAL_POD_CAPTURE', `the ztunnel of ${node.name} did not answer for pod ${pod.namespace}/${pod.name} within ${this.#captureTimeoutMs} ms`, {
      hint: `is the ztunnel on ${node.name} running with --node-dir ${node.nodeDir}? Its log says why a pod is not captured`,
    });
  }

  #track(netns: string, proc: LocalProcess): void {
    let set = this.#processes.get(netns);
    if (set === undefined) {
      set = new Set();
      this.#processes.set(netns, set);
    }
    set.add(proc);
    const own = set;
    void proc.exited.then(() => own.delete(proc));
    if (this.stopped) void proc.stop();
  }

  async #stopProcesses(netns?: string): Promise<void> {
    const procs = netns === undefined
      ? [...this.#processes.values()].flatMap((s) => [...s])
      : [...(this.#processes.get(netns) ?? [])];
    await Promise.all(procs.map((p) => p.stop(500)));
  }

  async #writePod(pod: LocalPod): Promise<void> {
    await this.#manifests?.write(manifestFileName('Pod', pod.namespace, pod.name), podManifest(this.name, pod));
  }

  async #writeEndpointSlice(svc: LocalService): Promise<void> {
    await this.#manifests?.write(manifestFileName('EndpointSlice', svc.namespace, svc.name),
      endpointSliceManifest(this.name, svc, this.endpoints(svc)));
  }

  async #endpointsChanged(namespace: string): Promise<void> {
    const affected = this.services.filter((s) => s.namespace === namespace);
    if (affected.length === 0) return;
    await Promise.all(affected.map((s) => this.#writeEndpointSlice(s)));
    await this.#syncServices();
  }

  /** Reprograms the Service chains of every node; runs one at a time, in call order. */
  #syncServices(): Promise<void> {
    const run = this.#syncQueue.then(() => this.#syncServicesNow());
    this.#syncQueue = run.catch(() => undefined);
    return run;
  }

  async #syncServicesNow(): Promise<void> {
    if (this.stopped) return;
    const services: ServiceRuleInput[] = this.services.map((s) => ({
      namespace: s.namespace, name: s.name, vip: s.vip, ports: s.ports,
      endpoints: this.endpoints(s).filter((p) => p.ready).map((p) => p.ip),
    }));
    let chains: readonly string[] = [];
    await Promise.all(this.nodes.map(async (node) => {
      const rendered = renderServiceRules({
        names: this.names, nodeIp: node.ip, podGateway: node.podGateway, hostIp: this.plan.hostIp, services,
        staleChains: [...this.#chains], installJumps: !this.#jumpsInstalled.has(node.name),
      });
      chains = rendered.chains;
      await iptablesRestore(node.netns, rendered.text);
      this.#jumpsInstalled.add(node.name);
    }));
    this.#chains = new Set(chains);
  }

  async #teardown(): Promise<void> {
    this.#removeHandlers();
    await this.#syncQueue;
    await this.#stopProcesses();
    await sweepKernelObjects(this.prefix);
    await this.#manifests?.removeAll();
    await releaseIndexes(this.name);
    await releaseName(this.name);
    runningHere.delete(this.name);
    this.#log.info('embedded cluster stopped');
  }

  /** The exit-handler variant of stop(): only synchronous calls are possible there. */
  #teardownSync(): void {
    if (this.#stopping !== undefined && !runningHere.has(this.name)) return;
    this.#stopping ??= Promise.resolve();
    for (const set of this.#processes.values()) for (const p of set) p.killSync();
    const owned = `${this.prefix}-`;
    try {
      const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
        .split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(owned));
      for (const n of netns) {
        const pids = execFileSync('ip', ['netns', 'pids', n], { encoding: 'utf8' }).split('\n').map(Number);
        for (const pid of pids) if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) tryKill(pid);
      }
      execFileSync('ip', ['-force', '-batch', '-'], { input: netns.map((n) => `netns del ${n}\n`).join(''), stdio: ['pipe', 'ignore', 'ignore'] });
      execFileSync('ip', ['link', 'del', this.names.hostLink], { stdio: 'ignore' });
    } catch {
      // best effort: what is left is swept on the next start
    }
    this.#manifests?.removeAllSync();
    try {
      for (const f of readdirSync(RUN_DIR)) {
        if (!f.startsWith('index-')) continue;
        const body = readFileSync(join(RUN_DIR, f), 'utf8');
        if ((JSON.parse(body) as { name?: unknown }).name === this.name) rmSync(join(RUN_DIR, f), { force: true });
      }
      rmSync(join(RUN_DIR, this.name), { recursive: true, force: true });
    } catch {
      // best effort
    }
    runningHere.delete(this.name);
  }

  #removeHandlers(): void {
    if (this.#handlers === undefined) return;
    process.off('SIGINT', this.#handlers.signal);
    process.off('SIGTERM', this.#handlers.signal);
    process.off('exit', this.#handlers.exit);
    this.#handlers = undefined;
  }

  #assertRunning(): void {
    if (this.stopped) throw new WeftError('WEFT_ERR_LOCAL_STOPPED', `embedded cluster ${this.name} is stopped`);
  }

  #unknownNode(name: string): WeftError {
    return new WeftError('WEFT_ERR_LOCAL_UNKNOWN_NODE', `cluster ${this.name} has no node ${JSON.stringify(name)}`, {
      hint: `nodes are ${[...this.#nodes.keys()].join(', ')}`,
    });
  }
}

function nameInUse(name: string, pid: number | undefined): WeftError {
  return new WeftError('WEFT_ERR_LOCAL_NAME_IN_USE', `embedded cluster ${name} is already running${pid === undefined ? '' : ` (pid ${pid})`}`, {
    hint: 'stop it, or start this one under another name',
  });
}

/** A pod as its node's ztunnel needs it at creation. */
function nodePodRecord(pod: LocalPod): NodePod {
  return {
    uid: pod.uid, namespace: pod.namespace, name: pod.name, ip: pod.ip, netnsPath: pod.netnsPath,
    labels: { ...pod.labels }, serviceAccount: pod.serviceAccount,
  };
}

function validatePorts(ports: readonly ServicePortSpec[]): void {
  if (ports.length === 0) throw new WeftError('WEFT_ERR_LOCAL_BAD_SERVICE', 'a service needs at least one port');
  const seen = new Set<number>();
  for (const p of ports) {
    for (const n of [p.port, p.targetPort]) {
      if (!Number.isInteger(n) || n < 1 || n > 65535) {
        throw new WeftError('WEFT_ERR_LOCAL_BAD_SERVICE', `service port ${String(n)} is outside 1..65535`);
      }
    }
    if (seen.has(p.port)) throw new WeftError('WEFT_ERR_LOCAL_BAD_SERVICE', `service port ${p.port} is listed twice`);
    seen.add(p.port);
  }
}

async function killNetnsPids(netns: string): Promise<void> {
  for (const pid of await netnsPids(netns)) if (pid !== process.pid) tryKill(pid);
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
