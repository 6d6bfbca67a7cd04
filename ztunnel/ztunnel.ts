// One node proxy wired from its inputs: config state, certificates, the inbound HBONE server,
// enrollment (which opens each pod's listeners, and holds pods the node reports ahead of their
// config), telemetry and the admin servers. start() binds every listener before it resolves,
// so readiness is never reported early.
import type { CertificateStatus } from '#core/certs/manager.ts';
import type { CertificateProvider } from '#core/certs/types.ts';
import { errorMessage } from '#core/errors.ts';
import type { HboneServer } from '#core/hbone/server.ts';
import type { Logger } from '#core/log.ts';
import { Ports } from '#core/ports.ts';
import * as capture from '#ztunnel/capture/index.ts';
import { readiness } from '#ztunnel/admin/readiness.ts';
import { startAdmin, type ListenFactory, type RunningAdmin } from '#core/admin/server.ts';
import { Enroller, type CaptureOps } from '#ztunnel/enroll/enroller.ts';
import { DirLedger } from '#ztunnel/enroll/ledger.ts';
import { NodeDirWatch } from '#ztunnel/enroll/node-watch.ts';
import { ConnectionHold, HELD_EXPIRED_CODE } from '#ztunnel/enroll/hold.ts';
import { FAIL_CLOSED_REASON, openRefusingListeners, type RefusedConnection } from '#ztunnel/enroll/refuse.ts';
import { createInboundHbone } from '#ztunnel/proxy/inbound-hbone.ts';
import { InboundConnections } from '#ztunnel/proxy/inbound-connections.ts';
import type { EnrolledPod, ProxyInputs } from '#ztunnel/proxy/inputs.ts';
import { abort } from '#core/net/abort.ts';
import { randomPicker, type EndpointPicker } from '#ztunnel/proxy/pick.ts';
import { openPodListeners, type ServingPodListeners } from '#ztunnel/proxy/pod-listeners.ts';
import { ProxyState, type StateChange, type StateUpdate, type Rejection } from '#ztunnel/state/proxy-state.ts';
import { AccessLog, type AccessLogSink } from '#core/telemetry/access-log.ts';
import { tcpLabels } from '#core/telemetry/labels.ts';
import type { Counter } from '#core/telemetry/metrics.ts';
import { ZtunnelMetrics } from '#ztunnel/telemetry/metrics.ts';

export interface ZtunnelAdminOptions {
  /** Where the three admin servers bind: 127.0.0.1 for 15000, this host for 15020/15021. */
  host: string;
  ports?: { admin: number; metrics: number; readiness: number };
  /** Socket factory, e.g. listening inside the node's namespace in the embedded cluster. */
  listen?: ListenFactory;
}

export interface ZtunnelOptions {
  node: string;
  trustDomain: string;
  certificates: CertificateProvider;
  /** Certificate states for /certs and readiness (CertificateManager.state). */
  certificateStatus?: () => CertificateStatus[];
  /** Lets a certificate go once no enrolled pod uses its identity. */
  forgetCertificate?: (identity: string) => void;
  logger: Logger;
  state?: ProxyState;
  metrics?: ZtunnelMetrics;
  accessLog?: AccessLogSink;
  admin?: ZtunnelAdminOptions | false;
  capture?: CaptureOps;
  pick?: EndpointPicker;
  configWaitMs?: number;
  connectTimeoutMs?: number;
  /**
   * The node folder a CNI plugin or the node's pod watch writes pod records into
   * (enroll/node-dir.ts): such pods are captured at once and fail closed until their config
   * arrives (their outbound connections held meanwhile, up to configWaitMs). Without it only the config enrolls pods.
   */
  nodeDir?: string;
  /**
   * What survives a restart on this node (a hostPath): the capture ledger, so that capture
   * of pods that left while no ztunnel ran is swept. Without it nothing is swept.
   */
  stateDir?: string;
  /**
   * Enroll only once config has arrived (an upgrade: the predecessor serves meanwhile, and
   * holding pods without config would put refusing listeners beside its serving ones).
   */
  enrollAfterConfig?: boolean;
  /** /quitquitquit. */
  onQuit?: () => void;
  version?: string;
}

export class Ztunnel {
  readonly state: ProxyState;
  readonly metrics: ZtunnelMetrics;
  readonly inbound = new InboundConnections();
  readonly #o: ZtunnelOptions;
  readonly #log: Logger;
  readonly #accessLog: AccessLog;
  readonly #enroller: Enroller;
  readonly #hbone: HboneServer;
  readonly #addresses = new Map<string, string[]>();
  readonly #nodeDir: NodeDirWatch | undefined;
  readonly #refused: Counter<'direction'>;
  /** Outbound connections of held pods, waiting (bounded) for their pod's config. */
  readonly #hold: ConnectionHold;
  /** Each enrolled pod's serving listeners, which take its held connections over. */
  readonly #serving = new WeakMap<EnrolledPod, ServingPodListeners>();
  #admin: RunningAdmin | undefined;
  #bound = false;
  #offState: (() => void) | undefined;

  private constructor(o: ZtunnelOptions, nodeDir: NodeDirWatch | undefined, ledger: DirLedger | undefined) {
    this.#o = o;
    this.#nodeDir = nodeDir;
    this.#log = o.logger.child({ component: 'ztunnel', node: o.node });
    this.state = o.state ?? new ProxyState();
    this.metrics = o.metrics ?? new ZtunnelMetrics(o.version === undefined ? {} : { tag: o.version });
    this.#accessLog = new AccessLog({ sink: o.accessLog ?? process.stdout });
    const inputs: ProxyInputs = {
      state: this.state,
      certificates: o.certificates,
      metrics: this.metrics,
      accessLog: this.#accessLog,
      logger: this.#log,
      pick: o.pick ?? randomPicker,
      podByAddress: (ip) => this.#enroller.podByAddress(ip),
      inbound: this.inbound,
      configWaitMs: o.configWaitMs ?? 5000,
      connectTimeoutMs: o.connectTimeoutMs ?? 5000,
    };
    this.#hbone = createInboundHbone(inputs, o.trustDomain);
    this.#hold = new ConnectionHold({
      holdMs: inputs.configWaitMs,
      onExpired: (c, reason) => this.#onRefused({
        pod: c.pod, direction: 'outbound', port: Ports.outbound, src: c.src, dst: c.dst,
        reason: `${FAIL_CLOSED_REASON} (${HELD_EXPIRED_CODE}: held ${Date.now() - c.heldAt} ms, ${reason})`, durationMs: Date.now() - c.heldAt,
      }),
    });
    this.#enroller = new Enroller({
      node: o.node,
      state: this.state,
      capture: o.capture ?? capture,
      logger: this.#log,
      connectTimeoutMs: inputs.connectTimeoutMs,
      ...(ledger === undefined ? {} : { ledger }),
      openListeners: async (pod) => {
        // Fetch the pod's certificate now, not on its first connection (readiness waits for it).
        o.certificates.get(pod.identity).catch((err: unknown) => this.#log.warn('certificate fetch failed', { identity: pod.identity, err: errorMessage(err) }));
        await capture.enableListenerMigration(pod.netnsPath).catch((err: unknown) => {
          this.#log.warn('listener migration not enabled; an upgrade may reset connections queued on the old listeners', { pod: pod.ip, err: errorMessage(err) });
        });
        const listeners = await openPodListeners(pod, inputs, this.#hbone);
        this.#serving.set(pod, listeners);
        return listeners;
      },
      onPromoted: (pod) => {
        // Connections the pod opened while it was held now go out as if 15001 had just taken them.
        const listeners = this.#serving.get(pod);
        const now = Date.now();
        let longest = 0;
        const n = this.#hold.release(pod.uid, (c) => {
          longest = Math.max(longest, now - c.heldAt);
          if (listeners === undefined) abort(c.socket);
          else listeners.adoptOutbound(c.socket);
        });
        if (n > 0) this.#log.info('held connections handed over', { pod: pod.ip, connections: n, longestHeldMs: longest });
      },
      onUnenrolled: (pod) => {
        if (!this.#enroller.pods().some((p) => p.identity === pod.identity)) o.forgetCertificate?.(pod.identity);
      },
      ...(nodeDir === undefined ? {} : {
        nodePods: nodeDir,
        openRefusingListeners: (pod) => openRefusingListeners(pod, {
          onRefused: (c) => this.#onRefused(c),
          holdOutbound: (c) => this.#hold.hold(c),
          onError: (port, err) => this.#log.error('fail-closed listener failed', { pod: pod.ip, port, err: errorMessage(err) }),
        }),
      }),
    });
    // weft's own series for held pods; they read the enroller, so they are registered beside it.
    this.#refused = this.metrics.registry.counter('weft_ztunnel_fail_closed_connections_total',
      'Connections reset because their pod is captured but its config has not arrived', ['direction']);
    this.metrics.registry.gauge('weft_ztunnel_fail_closed_pods', 'Pods captured ahead of their config (inbound connections refused, outbound held for a bounded time)', [],
      (g) => g.set({}, this.#enroller.failClosed().length));
    this.metrics.readFrom({
      enrolledPods: () => this.#enroller.pods().length,
      pendingPods: () => this.#enroller.pending().length,
      hbonePool: () => this.#enroller.hbonePool(),
      certificates: () => this.#o.certificateStatus?.() ?? [],
    });
  }

  /** Binds the admin servers and every enrolled pod's listeners, then resolves. */
  static async start(o: ZtunnelOptions): Promise<Ztunnel> {
    // Read before the first reconcile, so a restarted ztunnel holds its node's pods at once.
    const nodeDir = o.nodeDir === undefined ? undefined : await NodeDirWatch.open({ dir: o.nodeDir, node: o.node, logger: o.logger });
    const ledger = o.stateDir === undefined ? undefined : await DirLedger.open(o.stateDir, o.logger);
    const z = new Ztunnel(o, nodeDir, ledger);
    try {
      await z.#start();
    } catch (err) {
      await z.close().catch(() => undefined);
      throw err;
    }
    return z;
  }

  async #start(): Promise<void> {
    this.#offState = this.state.onChange((c) => this.#onChange(c));
    await this.#startAdmin();
    if (this.#o.enrollAfterConfig === true && !this.state.hasConfig) {
      const off = this.state.onChange(() => {
        if (!this.state.hasConfig) return;
        off();
        this.#enroller.start().then(() => { this.#bound = true; }, (err: unknown) => this.#log.error('enrollment failed to start', { err: errorMessage(err) }));
      });
      this.#log.info('ztunnel started; enrolling once config arrives', { admin: this.#admin?.ports });
      return;
    }
    await this.#enroller.start();
    this.#bound = true;
    this.#log.info('ztunnel started', { admin: this.#admin?.ports });
  }

  async #startAdmin(): Promise<void> {
    const a = this.#o.admin;
    if (a !== false && a !== undefined) {
      const ports = a.ports ?? { admin: Ports.admin, metrics: Ports.metrics, readiness: Ports.readiness };
      this.#admin = await startAdmin({
        configDump: () => this.configDump(),
        certificates: () => this.#o.certificateStatus?.() ?? [],
        readiness: () => this.readiness(),
        registry: this.metrics.registry,
        logger: this.#o.logger,
        quit: () => this.#o.onQuit?.(),
      }, {
        admin: { host: '127.0.0.1', port: ports.admin },
        metrics: { host: a.host, port: ports.metrics },
        readiness: { host: a.host, port: ports.readiness },
        ...(a.listen === undefined ? {} : { listen: a.listen }),
      });
    }
  }

  /** Resolves once readiness holds (checked every 100 ms); the hand-off waits on it. */
  async whenReady(): Promise<void> {
    while (!this.readiness().ready) await new Promise((r) => setTimeout(r, 100));
  }

  /**
   * Upgrade hand-off, first step (upgrade/handoff.ts): stops enrolling and frees the admin
   * ports for the successor; pods go on being served.
   */
  async release(): Promise<void> {
    await this.#enroller.freeze();
    const admin = this.#admin;
    this.#admin = undefined;
    await admin?.close();
  }

  /** The successor went away before taking over: serve and enroll as before. */
  async resume(): Promise<void> {
    if (this.#admin === undefined) await this.#startAdmin();
    this.#enroller.unfreeze();
  }

  /**
   * Upgrade hand-off, last step: every pod listener stops accepting (the successor's, bound
   * beside them, take the new connections), HBONE peers get GOAWAY, and open connections get
   * up to drainMs to finish before what is left is closed. Capture stays.
   */
  async drain(drainMs: number): Promise<void> {
    // GOAWAY only once no listener accepts: a connection accepted by a closed HBONE server is reset.
    let goaway: Promise<void> = Promise.resolve();
    await this.#enroller.drain(drainMs, () => { goaway = this.#hbone.close(drainMs); });
    await goaway;
    this.inbound.closeAll('ztunnel drained');
    this.#accessLog.flush();
  }

  get adminPorts(): RunningAdmin['ports'] | undefined { return this.#admin?.ports; }

  /** The one mutator's entry point for a config source (ConfigClient.apply or a file). */
  apply(update: StateUpdate): { rejected: Rejection[] } {
    const r = this.state.applyUpdate(update);
    for (const x of r.rejected) {
      this.metrics.configRejections.inc({ kind: x.kind });
      this.#log.warn('config resource rejected', { kind: x.kind, key: x.key, reason: x.reason });
    }
    return r;
  }

  /** Writes queued access log lines now (they are otherwise written once a second). */
  flushAccessLog(): void { this.#accessLog.flush(); }

  /** Drops pooled HBONE sessions to an address, in every enrolled pod. */
  evictHbone(ip: string): void {
    for (const p of this.#enroller.pods()) this.#enroller.podByAddress(p.ip)?.pool.evict(ip);
  }

  /** Waits until enrollment has caught up with the config applied so far. */
  settled(): Promise<void> { return this.#enroller.settled(); }

  enrolled(): ReturnType<Enroller['pods']> { return this.#enroller.pods(); }

  /** Pods captured on the node's word, refusing (outbound: holding) every connection until their config arrives. */
  failClosed(): ReturnType<Enroller['failClosed']> { return this.#enroller.failClosed(); }

  /** Pods still pending enrollment do not hold readiness back (a stale entry would block it forever); /config_dump lists them. */
  readiness(): { ready: boolean; reasons: string[] } {
    return readiness({
      listenersBound: this.#bound,
      hasConfig: this.state.hasConfig,
      enrollmentCaughtUp: this.#enroller.settledVersion === this.state.version,
      identities: this.#o.certificateStatus === undefined ? [] : this.#enroller.pods().map((p) => p.identity),
      certificates: this.#o.certificateStatus?.() ?? [],
    });
  }

  configDump(): unknown {
    return {
      node: this.#o.node,
      pid: process.pid,
      version: this.state.version ?? null,
      workloads: this.state.workloads(),
      services: this.state.services(),
      policies: this.state.authorizations(),
      enrolledPods: this.#enroller.pods(),
      failClosedPods: this.#enroller.failClosed(),
      pendingPods: this.#enroller.pending(),
      sweptCaptures: this.#enroller.swept,
      certificates: this.#o.certificateStatus?.() ?? [],
      openInboundConnections: this.inbound.size,
      hbone: { pool: this.#enroller.hbonePool(), server: this.#hbone.stats() },
    };
  }

  /** A held pod's connection was reset: counted, logged with the reason, access-logged. */
  #onRefused(c: RefusedConnection): void {
    this.#refused.inc({ direction: c.direction });
    this.metrics.failed.inc(tcpLabels({ reporter: c.direction === 'outbound' ? 'source' : 'destination', mtls: c.port === Ports.hbone, responseFlags: 'CONNECT' }));
    this.#log.warn('connection refused: pod has no config yet (fail closed)', {
      direction: c.direction, pod: `${c.pod.namespace}/${c.pod.name}`, src: c.src, dst: c.dst, reason: c.reason,
    });
    const pod = { workload: c.pod.name };
    this.#accessLog.log({
      direction: c.direction,
      src: { addr: c.src, ...(c.direction === 'outbound' ? pod : {}) },
      dst: { addr: c.dst, ...(c.direction === 'inbound' ? pod : {}) },
      bytesSent: 0, bytesReceived: 0, durationMs: c.durationMs ?? 0, responseFlags: 'CONNECT', error: c.reason,
    });
  }

  #onChange(c: StateChange): void {
    const touched = [...c.updated, ...c.removed];
    if (touched.some((r) => r.kind === 'authorization' || r.kind === 'workload')) {
      const closed = this.inbound.recheck(this.state);
      if (closed > 0) this.#log.info('closed connections no longer allowed by policy', { closed, version: c.version });
    }
    // A workload that lost an address: pooled sessions to it would reach whoever gets the IP next.
    for (const r of touched) {
      if (r.kind !== 'workload') continue;
      const before = this.#addresses.get(r.key) ?? [];
      const now = this.state.workload(r.key)?.addresses ?? [];
      for (const ip of before) if (!now.includes(ip)) this.evictHbone(ip);
      if (now.length > 0) this.#addresses.set(r.key, now);
      else this.#addresses.delete(r.key);
    }
  }

  /** Stops everything it started; `removeCapture` also takes the pods' capture rules out. */
  async close(opts: { removeCapture?: boolean } = {}): Promise<void> {
    this.#offState?.();
    await this.#admin?.close().catch((err: unknown) => this.#log.warn('admin close failed', { err: errorMessage(err) }));
    // GOAWAY first, so peers stop placing streams on their pooled sessions while the
    // pods' listeners (and what they accepted) are closed.
    await this.#hbone.close(500);
    await this.#enroller.close(opts);
    this.#hold.close();
    // Capture left in place keeps the node taken: pods created meanwhile wait for the next ztunnel.
    await this.#nodeDir?.close({ leaving: opts.removeCapture ?? false });
    this.inbound.closeAll('ztunnel shutting down');
    this.#accessLog.close();
  }
}
