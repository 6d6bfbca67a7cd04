// The controller: reads the cluster (a folder of manifests in local mode), rebuilds the mesh
// model on every change, pushes each proxy its view, signs workload certificates, and
// reports status. `startController` runs it in-process (tests, the demo); run as a program,
// this file only parses the configuration and calls it.
import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { once } from 'node:events';
import { join } from 'node:path';
import { CertificateAuthority } from '#core/ca/authority.ts';
import { FileCaStore } from '#core/ca/file-store.ts';
import type { CaStore } from '#core/ca/store.ts';
import { CONTROLLER_SERVER_NAME, PUSH_PATH } from '#core/config/protocol.ts';
import type { ClientDescriptor } from '#core/config/protocol.ts';
import { ResourceKind } from '#core/config/model.ts';
import { WeftError, errorMessage } from '#core/errors.ts';
import { Logger } from '#core/log.ts';
import { Registry } from '#core/telemetry/metrics.ts';
import { startAdminServer } from '#controller/admin/server.ts';
import { DashboardCollector } from '#controller/dashboard/collector.ts';
import { proxyTargets } from '#controller/dashboard/targets.ts';
import { inClusterControllerUrl } from '#controller/deploy/kubernetes-deployer.ts';
import { LocalDeployer } from '#controller/deploy/local-deployer.ts';
import { isWaypointGateway } from '#controller/model/waypoints.ts';
import { MeshSigner } from '#controller/ca/mesh-signer.ts';
import { loadPluggedCa, samePluggedCa, watchPluggedCa } from '#controller/ca/plugged-secret.ts';
import type { PluggedCa } from '#core/ca/authority.ts';
import { SecretCaStore } from '#controller/ca/secret-store.ts';
import { CERTIFICATES_PATH, CaEndpoint, authorizedIdentities } from '#controller/ca/server.ts';
import { issueServerCertificate } from '#controller/ca/server-cert.ts';
import { CA_AUDIENCE, TokenReviewer } from '#controller/ca/token-review.ts';
import { CLIENT_TOKEN_PREFIX, ClientTokens, tokenFilePath } from '#controller/ca/tokens.ts';
import { parseControllerConfig, CONTROLLER_USAGE } from '#controller/config.ts';
import { ClusterWriters } from '#controller/leader/cluster-writers.ts';
import { leaseTimings } from '#controller/leader/decide.ts';
import type { ControllerConfig } from '#controller/config.ts';
import { buildModel } from '#controller/model/build.ts';
import type { MeshModel } from '#controller/model/types.ts';
import { createControllerListener } from '#controller/push/listener.ts';
import { PushServer } from '#controller/push/server.ts';
import { loadKubeConfig } from '#controller/source/kube/kubeconfig.ts';
import { KubernetesSource } from '#controller/source/kubernetes.ts';
import { LocalSource } from '#controller/source/local.ts';
import { MeshConfigFile } from '#controller/source/mesh-config-file.ts';
import type { ClusterObjects, ClusterSource } from '#controller/source/types.ts';
import { StatusStore } from '#controller/status/store.ts';

export interface RunningController {
  config: ControllerConfig;
  /** `https://<address>:<port>`: the one listener for push and CA. */
  url: string;
  /** `wss://…/v1/push` for ConfigClient. */
  pushUrl: string;
  /** `https://…/v1/certificates` for the certificate fetcher. */
  caUrl: string;
  /** `http://127.0.0.1:<port>` with /healthz, /debug/model, /status, /metrics. */
  adminUrl: string;
  /** The mesh root (first trust anchor); proxies verify the controller and each other with it. */
  rootPem: string;
  /** Every root proxies trust now (more than one while Secret cacerts is being rotated). */
  rootsPem: string[];
  /** The CA that signs now. */
  ca: CertificateAuthority;
  push: PushServer;
  status: StatusStore;
  metrics: Registry;
  /** A bearer token for a proxy (push and CA) under --client-auth hmac; local launchers may also read the token files. */
  tokenFor(client: ClientDescriptor): string;
  /** Where the token file for a proxy is written. */
  tokenFile(client: ClientDescriptor): string;
  model(): MeshModel | undefined;
  /** True while this replica writes status and deploys waypoints (the Lease leader, or always without election). */
  isLeader(): boolean;
  /** Resolves after the model has been rebuilt for every source change seen so far. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export interface ControllerDeps {
  logger?: Logger;
  metrics?: Registry;
}

/** Addresses the controller's certificate names: the listen address, or every local one. */
function certificateAddresses(config: ControllerConfig): string[] {
  const out = new Set<string>(config.advertiseAddresses);
  if (config.listenAddress === '0.0.0.0' || config.listenAddress === '::') {
    for (const list of Object.values(networkInterfaces())) {
      for (const i of list ?? []) if (config.listenAddress === '::' || i.family === 'IPv4') out.add(i.address.split('%')[0] ?? i.address);
    }
    out.add('127.0.0.1');
  } else {
    out.add(config.listenAddress);
  }
  return [...out];
}

export async function startController(config: ControllerConfig, deps: ControllerDeps = {}): Promise<RunningController> {
  const log = (deps.logger ?? new Logger({ level: config.logLevel })).child({ component: 'controller' });
  const metrics = deps.metrics ?? new Registry();
  const cleanups: (() => Promise<void> | void)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        log.warn('shutdown step failed', { err: errorMessage(err) });
      }
    }
  };

  try {
    await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
    const kubeConfig = config.source === 'kubernetes' ? loadKubeConfig(config.kubeconfig) : undefined;
    // On a cluster the root lives in a Secret: every replica shares it and it outlives restarts.
    const caStore: CaStore = kubeConfig === undefined ? new FileCaStore(join(config.stateDir, 'ca')) : new SecretCaStore({ kubeConfig, namespace: config.rootNamespace });
    // A plug-in CA (Secret cacerts, as Istio reads it) replaces the self-made root when present.
    const plugged = kubeConfig === undefined ? undefined : await loadPluggedCa(kubeConfig, config.rootNamespace);
    const ca = await CertificateAuthority.open(plugged === undefined
      ? { store: caStore, trustDomain: config.trustDomain, workloadTtlSeconds: config.workloadCertTtlSeconds }
      : { pluggedCert: plugged, trustDomain: config.trustDomain, workloadTtlSeconds: config.workloadCertTtlSeconds });
    // What signs the controller's serving certificate, and the intermediates served after it.
    const initialRoot = plugged === undefined ? await caStore.load() : { certPem: plugged.certPem, keyPem: plugged.keyPem };
    if (initialRoot === undefined) throw new WeftError('WEFT_ERR_CA_STORE', 'the CA store is empty after opening the CA');
    let root = initialRoot;
    const chainOf = (p: PluggedCa): string => [p.certPem, ...p.chainPem].map((pem) => (pem.endsWith('\n') ? pem : `${pem}\n`)).join('');
    let servingChain = plugged === undefined ? '' : chainOf(plugged);
    if (plugged !== undefined) log.info('signing with the plug-in CA', { secret: `${config.rootNamespace}/cacerts` });
    // hmac: tokens sealed under a key in the state folder, handed out as token files. Never on a
    // cluster unless asked for, since whoever reads the folder could then act as any node.
    const tokens = config.clientAuth === 'hmac' ? await ClientTokens.open(config.stateDir) : undefined;
    if (tokens !== undefined && kubeConfig !== undefined) {
      log.warn('hmac client tokens accepted on a Kubernetes API (--insecure-allow-hmac-auth)', { stateDir: config.stateDir });
    }
    const status = new StatusStore();
    let model: MeshModel | undefined;

    // Status: status.json follows every change, written at most once per debounce period.
    let statusTimer: NodeJS.Timeout | undefined;
    let statusWrite: Promise<unknown> = Promise.resolve();
    const writeStatus = (): void => {
      clearTimeout(statusTimer);
      statusTimer = setTimeout(() => {
        statusWrite = statusWrite.then(() => status.writeLocal(config.stateDir)).catch((err: unknown) => {
          log.warn('writing status.json failed', { err: errorMessage(err) });
        });
      }, config.debounceMs);
    };
    const unsubscribeStatus = status.onChange(writeStatus);
    cleanups.push(async () => {
      unsubscribeStatus();
      clearTimeout(statusTimer);
      await statusWrite;
      await status.writeLocal(config.stateDir).catch(() => undefined);
    });

    // On a cluster, proxies present projected service-account tokens, checked by TokenReview.
    // With --insecure-allow-hmac-auth the controller's own tokens are taken there too: one is
    // told from a JWT by its prefix.
    const reviewer = kubeConfig === undefined ? undefined : new TokenReviewer({
      kubeConfig, logger: log, trustDomain: config.trustDomain, audience: CA_AUDIENCE,
      ztunnel: { namespace: config.rootNamespace, name: 'ztunnel' },
      // Called only once the source below exists (no client connects before the listener).
      nodeOfPod: (ns, pod) => kubeSource?.current().pods.get(`${ns}/${pod}`)?.spec.nodeName,
      isWaypoint: (identity) => model?.waypointIdentities.has(identity) === true,
    });
    const authenticate = (t: string): ClientDescriptor | undefined | Promise<ClientDescriptor | undefined> => (
      reviewer === undefined || t.startsWith(`${CLIENT_TOKEN_PREFIX}.`) ? tokens?.verify(t) : reviewer.authenticate(t));

    const push = new PushServer({
      authenticate,
      logger: log,
      metrics,
      onNack: (clientId, errors) => {
        for (const e of errors) {
          const kind = Object.values(ResourceKind).find((k) => k === e.kind);
          if (kind !== undefined) status.recordNack({ kind, key: e.key }, e.reason, clientId);
        }
      },
    });
    // Upgraded push sockets are not the HTTPS server's connections any more: its close() would
    // wait for them, so the push server must go first; once, whichever step reaches it.
    let pushClosed: Promise<void> | undefined;
    const closePush = (): Promise<void> => (pushClosed ??= push.close());
    cleanups.push(closePush);
    // Replaced while running when Secret cacerts changes; the hooks are set once everything they reach exists.
    let onRootsChanged = (): void => undefined;
    let onSignerChanged = (_ca: CertificateAuthority): void => undefined;
    const signer = new MeshSigner({
      ca, graceMs: config.rootRotationGraceSeconds * 1000, overlapMs: (config.workloadCertTtlSeconds + 60) * 1000,
      onRootsChanged: () => onRootsChanged(), onSignerChanged: (next) => onSignerChanged(next),
    });
    cleanups.push(() => signer.close());
    const caEndpoint = new CaEndpoint({
      ca: signer, logger: log, metrics,
      authenticate,
      identitiesFor: (c) => authorizedIdentities(model, c),
    });

    // Token files for every node and waypoint the cluster shows, for the local launcher.
    const written = new Set<string>();
    const writeTokens = async (objects: ClusterObjects, m: MeshModel): Promise<void> => {
      if (tokens === undefined) return;
      const clients: ClientDescriptor[] = [
        ...new Set([...objects.nodes.keys(), ...m.identitiesByNode.keys()]),
      ].map((node): ClientDescriptor => ({ kind: 'ztunnel', node }));
      for (const identity of m.waypointIdentities) clients.push({ kind: 'waypoint', identity });
      for (const c of clients) {
        const path = tokenFilePath(config.stateDir, c);
        if (written.has(path)) continue;
        await tokens.writeTokenFile(config.stateDir, c);
        written.add(path);
      }
    };

    const kubeSource = kubeConfig === undefined ? undefined : new KubernetesSource({ kubeConfig, logger: log, debounceMs: config.debounceMs });
    const source: ClusterSource = kubeSource ?? new LocalSource({ dirs: [...config.manifestDirs], logger: log, debounceMs: config.debounceMs });
    cleanups.push(() => source.stop());
    let tokenWrites: Promise<void> = Promise.resolve();
    // Waypoint deployments: asked for through a folder locally (see LocalDeployer), applied to the API on Kubernetes.
    // On Kubernetes only the leader writes (status too), when replicas elect one.
    const deployer = kubeConfig === undefined || kubeSource === undefined ? new LocalDeployer(config.stateDir, { rateLimitRedis: config.waypointRateLimitRedis }) : new ClusterWriters({
      kubeConfig, status, logger: log,
      deployer: { trustDomain: config.trustDomain, controllerUrl: inClusterControllerUrl(config.rootNamespace, config.port), rateLimitRedis: config.waypointRateLimitRedis },
      writer: { generationOf: (k, ns, n) => kubeSource.generationOf(k, ns, n) },
      rootCert: { rootNamespace: config.rootNamespace, rootsPem: () => signer.rootsPem },
      election: !config.leaderElect ? undefined : {
        namespace: config.rootNamespace, name: config.leaseName, identity: config.identity, timings: leaseTimings(config.leaseDurationMs),
      },
    });
    if (deployer instanceof ClusterWriters) cleanups.push(() => deployer.stop());
    // Istio's MeshConfig, when given: a change to it rebuilds the model like a change to the cluster.
    let meshChanged = (): void => undefined;
    const meshFile = config.meshConfigFile === '' ? undefined : await MeshConfigFile.open(config.meshConfigFile, log, () => meshChanged());
    if (meshFile !== undefined) cleanups.push(() => meshFile.close());
    const rebuild = (): void => {
      const objects = source.current();
      const started = performance.now();
      let next: MeshModel;
      try {
        const mesh = meshFile?.current();
        next = buildModel(objects, {
          trustDomain: config.trustDomain, clusterId: config.clusterId, rootNamespace: config.rootNamespace, ...(mesh === undefined ? {} : { mesh }),
        });
      } catch (err) {
        // The last good model stays in force; proxies keep what they have.
        log.error('model build failed; keeping the previous model', { err: errorMessage(err) });
        return;
      }
      model = next;
      push.setModel(next);
      status.setModelConditions(next.conditions);
      status.setSourceRejections(source.rejected());
      tokenWrites = tokenWrites.then(() => writeTokens(objects, next)).catch((err: unknown) => {
        log.warn('writing token files failed', { err: errorMessage(err) });
      });
      const gateways = [...objects.gateways.values()].filter(isWaypointGateway);
      // After the token files: a waypoint started from these can authenticate at once.
      tokenWrites = tokenWrites.then(() => (deployer instanceof ClusterWriters ? deployer.sync(objects) : deployer.sync(gateways))).catch((err: unknown) => {
        log.warn('writing waypoint deployments failed', { err: errorMessage(err) });
      });
      log.info('model rebuilt', { resources: next.resources.size, ms: Math.round(performance.now() - started) });
    };
    let rebuildTimer: NodeJS.Timeout | undefined;
    let pending: { promise: Promise<void>; resolve: () => void } | undefined;
    const scheduleRebuild = (): void => {
      clearTimeout(rebuildTimer);
      if (pending === undefined) {
        let resolve = (): void => undefined;
        const promise = new Promise<void>((r) => { resolve = r; });
        pending = { promise, resolve };
      }
      rebuildTimer = setTimeout(() => {
        const done = pending;
        pending = undefined;
        rebuild();
        done?.resolve();
      }, config.debounceMs);
    };
    const unsubscribeSource = source.onChange(scheduleRebuild);
    meshChanged = scheduleRebuild;
    cleanups.push(() => {
      meshChanged = (): void => undefined;
      unsubscribeSource();
      clearTimeout(rebuildTimer);
      pending?.resolve();
    });
    await source.start();
    rebuild();
    await tokenWrites;
    // Conditions go to the objects' status as well as to status.json.
    if (deployer instanceof ClusterWriters) deployer.start();

    // One HTTPS listener: push stream (WebSocket upgrade) and CA.
    const addresses = certificateAddresses(config);
    const issueCert = (): ReturnType<typeof issueServerCertificate> => issueServerCertificate(root, {
      // Proxies in a cluster dial the controller's Service by its DNS names.
      dnsNames: [
        CONTROLLER_SERVER_NAME, `${CONTROLLER_SERVER_NAME}.${config.rootNamespace}`, `${CONTROLLER_SERVER_NAME}.${config.rootNamespace}.svc`,
        `${CONTROLLER_SERVER_NAME}.${config.rootNamespace}.svc.cluster.local`, 'localhost',
      ],
      ipAddresses: addresses,
      uris: [`spiffe://${config.trustDomain}/ns/${config.rootNamespace}/sa/${CONTROLLER_SERVER_NAME}`],
    });
    let serverCert = await issueCert();
    const server: Server = createControllerListener({
      cert: serverCert.certPem + servingChain, key: serverCert.keyPem, logger: log, metrics,
      limits: { handshakeTimeoutMs: config.handshakeTimeoutMs, maxConnectionsPerSource: config.maxConnectionsPerSource },
    }, (req, res) => {
      if (!caEndpoint.handle(req, res)) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'WEFT_ERR_NOT_FOUND', message: `try POST ${CERTIFICATES_PATH} or ${PUSH_PATH}` }));
      }
    });
    push.attach(server);
    // The serving certificate is renewed at half its life, without dropping connections.
    const renewTimer = setInterval(() => {
      if (serverCert.notAfter.getTime() - Date.now() > 15 * 86_400_000) return;
      issueCert().then((c) => {
        serverCert = c;
        server.setSecureContext({ cert: c.certPem + servingChain, key: c.keyPem });
        log.info('controller serving certificate renewed', { notAfter: c.notAfter.toISOString() });
      }).catch((err: unknown) => log.error('renewing the serving certificate failed', { err: errorMessage(err) }));
    }, 3_600_000);
    renewTimer.unref();

    // Secret cacerts rotated: the new CA signs (after its root has spread, when it brings one),
    // the serving certificate is issued again under it, and the bundle is published.
    onRootsChanged = (): void => {
      log.info('trust bundle changed', { roots: signer.rootsPem.length, pendingSigner: signer.pending });
      if (deployer instanceof ClusterWriters) deployer.rootsChanged();
    };
    const pluggedOf = new WeakMap<CertificateAuthority, PluggedCa>();
    onSignerChanged = (next): void => {
      const p = pluggedOf.get(next);
      if (p !== undefined) {
        root = { certPem: p.certPem, keyPem: p.keyPem };
        servingChain = chainOf(p);
      }
      issueCert().then((c) => {
        serverCert = c;
        server.setSecureContext({ cert: c.certPem + servingChain, key: c.keyPem });
        log.info('controller serving certificate issued by the new CA', { notAfter: c.notAfter.toISOString() });
      }).catch((err: unknown) => log.error('issuing the serving certificate under the new CA failed', { err: errorMessage(err) }));
    };
    /** The plug-in CA last handed to the signer (it may still wait for its root to spread). */
    let latest = plugged;
    const rotate = async (next: PluggedCa): Promise<void> => {
      if (samePluggedCa(latest, next)) return;
      const nextCa = await CertificateAuthority.open({ pluggedCert: next, trustDomain: config.trustDomain, workloadTtlSeconds: config.workloadCertTtlSeconds });
      if (samePluggedCa(latest, next)) return;
      latest = next;
      pluggedOf.set(nextCa, next);
      signer.replace(nextCa);
      log.info('plug-in CA changed', { secret: `${config.rootNamespace}/cacerts`, waitingForRootToSpread: signer.pending, graceSeconds: config.rootRotationGraceSeconds });
    };
    if (kubeConfig !== undefined) {
      const watch = watchPluggedCa({
        kubeConfig, logger: log, namespace: config.rootNamespace,
        onChange: (next) => void rotate(next).catch((err: unknown) => log.error('the new plug-in CA is refused; keeping the CA in use', { err: errorMessage(err) })),
      });
      cleanups.push(() => watch.stop());
    }
    server.listen(config.port, config.listenAddress);
    try {
      await once(server, 'listening');
    } catch (err) {
      throw new WeftError('WEFT_ERR_LISTEN', `controller cannot listen on ${config.listenAddress}:${config.port}: ${errorMessage(err)}`, {
        hint: 'another controller may be running; pick another --port', cause: err,
      });
    }
    cleanups.push(async () => {
      clearInterval(renewTimer);
      await closePush();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    });
    const port = (server.address() as AddressInfo).port;
    const host = config.listenAddress === '0.0.0.0' ? '127.0.0.1' : config.listenAddress === '::' ? '::1' : config.listenAddress;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    const url = `https://${hostPart}:${port}`;

    // The dashboard scrapes the proxies the cluster shows (nodes' ztunnels, waypoint pods).
    const dashboard = new DashboardCollector({ targets: () => proxyTargets(source.current()), pushClients: () => push.clients() }, { logger: log });
    cleanups.push(() => dashboard.stop());
    const admin = await startAdminServer({
      healthy: () => model !== undefined && server.listening,
      model: () => model,
      status: () => ({ objects: status.list(), clients: push.clients(), sourceRejections: source.rejected() }),
      metrics,
      dashboard,
    }, config.adminAddress, config.adminPort);
    cleanups.push(() => new Promise<void>((resolve) => {
      admin.server.close(() => resolve());
      admin.server.closeAllConnections();
    }));

    log.info('controller started', { url, admin: admin.url, stateDir: config.stateDir, source: config.source, manifests: config.manifestDirs, certificateAddresses: addresses });
    return {
      config, url, pushUrl: `wss://${hostPart}:${port}${PUSH_PATH}`, caUrl: `${url}${CERTIFICATES_PATH}`, adminUrl: admin.url,
      get rootPem() {
        return signer.rootsPem[0] ?? '';
      },
      get rootsPem() {
        return [...signer.rootsPem];
      },
      get ca() {
        return signer.ca;
      },
      push, status, metrics,
      tokenFor: (c) => {
        if (tokens === undefined) throw new WeftError('WEFT_ERR_CONFIG', 'this controller mints no client tokens (--client-auth token-review)');
        return tokens.mint(c);
      },
      tokenFile: (c) => tokenFilePath(config.stateDir, c),
      model: () => model,
      isLeader: () => !(deployer instanceof ClusterWriters) || deployer.writing,
      settled: async () => {
        await pending?.promise;
        await tokenWrites;
      },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    process.stdout.write(CONTROLLER_USAGE);
    return;
  }
  let config: ControllerConfig;
  try {
    config = parseControllerConfig(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\n`);
    process.exitCode = 2;
    return;
  }
  const controller = await startController(config);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`controller: ${signal}, shutting down\n`);
    controller.close().then(() => { process.exitCode = 0; }, (err: unknown) => {
      process.stderr.write(`controller: shutdown failed: ${errorMessage(err)}\n`);
      process.exitCode = 1;
    });
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`controller: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  });
}
