// Builds a running ztunnel from its start-up config: the certificate source (the
// controller's CA, or a local CA for standalone runs), the config source (the push stream,
// or a watched local file), and the node proxy itself. With a state folder it takes over from
// a ztunnel already running on the node (upgrade/handoff.ts) and, once serving, listens for
// its own successor; a ztunnel that handed over drains, and exits when stopped.
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { httpsFetcher } from '#core/certs/fetch-https.ts';
import type { CertificateFetcher } from '#core/certs/fetcher.ts';
import { CertificateManager } from '#core/certs/manager.ts';
import { RootFile } from '#core/certs/root-file.ts';
import { ConfigClient } from '#core/config/client.ts';
import { WeftError, errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';
import type { ZtunnelConfig } from '#ztunnel/config.ts';
import { loadConfigFile } from '#ztunnel/state/load-file.ts';
import { HANDOFF_SOCKET, HandoffListener, requestHandoff, type TakenOver } from '#ztunnel/upgrade/handoff.ts';
import { MemoryTrim } from '#ztunnel/memory-trim.ts';
import { nativeBinding } from '#ztunnel/native/addon.ts';
import { Ztunnel, type ZtunnelAdminOptions } from '#ztunnel/ztunnel.ts';

export interface RunningZtunnel {
  ztunnel: Ztunnel;
  close(): Promise<void>;
}

export interface StartOverrides {
  admin?: Partial<ZtunnelAdminOptions>;
  onQuit?: () => void;
  version?: string;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    throw new WeftError('WEFT_ERR_ZTUNNEL_CONFIG', `cannot read ${what} ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

async function localFetcher(caDir: string, trustDomain: string): Promise<CertificateFetcher> {
  // Imported here: a ztunnel fed by the controller never signs, so it does not load the CA's code.
  const [{ CertificateAuthority }, { FileCaStore }] = await Promise.all([import('#core/ca/authority.ts'), import('#core/ca/file-store.ts')]);
  const ca = await CertificateAuthority.open({ store: new FileCaStore(caDir), trustDomain });
  // Standalone: this process is its own CA and may hold any identity of its config.
  return async (csrPem, identity) => {
    const signed = ca.sign(csrPem, { authorizedIdentities: [identity] });
    return { certPem: signed.certPem, chainPem: signed.chainPem, rootsPem: ca.rootsPem };
  };
}

export async function startFromConfig(cfg: ZtunnelConfig, logger: Logger, o: StartOverrides = {}): Promise<RunningZtunnel> {
  const src = cfg.source;
  let fetch: CertificateFetcher;
  let rootFile: RootFile | undefined;
  // Set below: a changed trust bundle (the CA rotating its root) fetches every certificate again.
  let renewAll = (): void => undefined;
  if (src.kind === 'controller') {
    rootFile = await RootFile.open(src.rootCertFile, logger, () => renewAll());
    const roots = rootFile;
    await readText(src.tokenFile, 'token file');
    fetch = httpsFetcher({
      url: src.caUrl, rootsPem: () => roots.current(),
      // Projected tokens rotate: read the file on every request.
      token: () => readText(src.tokenFile, 'token file'),
      ...(src.controllerIdentity === undefined ? {} : { serverIdentity: src.controllerIdentity }),
    });
  } else {
    fetch = await localFetcher(src.caDir, cfg.trustDomain);
  }
  const certificates = new CertificateManager({ fetch, logger: logger.child({ component: 'certificates' }) });
  renewAll = () => certificates.renewAll();

  const handoffPath = cfg.stateDir === undefined ? undefined : join(cfg.stateDir, HANDOFF_SOCKET);
  let predecessor: TakenOver | undefined;
  try {
    // A state folder that does not exist yet is made (as a hostPath DirectoryOrCreate would).
    if (cfg.stateDir !== undefined) await mkdir(cfg.stateDir, { recursive: true, mode: 0o700 });
    predecessor = handoffPath === undefined ? undefined : await requestHandoff(handoffPath, logger);
  } catch (err) {
    certificates.close();
    throw err;
  }

  const ztunnel = await Ztunnel.start({
    node: cfg.node,
    trustDomain: cfg.trustDomain,
    certificates,
    certificateStatus: () => certificates.state(),
    forgetCertificate: (id) => certificates.forget(id),
    logger,
    admin: { host: cfg.adminHost, ...o.admin },
    configWaitMs: cfg.configWaitMs,
    connectTimeoutMs: cfg.connectTimeoutMs,
    ...(cfg.nodeDir === undefined ? {} : { nodeDir: cfg.nodeDir }),
    ...(cfg.stateDir === undefined ? {} : { stateDir: cfg.stateDir }),
    ...(predecessor === undefined ? {} : { enrollAfterConfig: true }),
    ...(o.onQuit === undefined ? {} : { onQuit: o.onQuit }),
    ...(o.version === undefined ? {} : { version: o.version }),
  }).catch((err: unknown) => {
    // The predecessor serves on once the hand-off connection ends.
    predecessor?.close();
    certificates.close();
    throw err;
  });

  let stopSource: () => Promise<void> = async () => undefined;
  // The controller stream steps aside while a successor takes over (it subscribes as the same
  // client) and comes back if the successor fails.
  let pauseSource: () => Promise<void> = async () => undefined;
  let resumeSource: () => void = () => undefined;
  let handoff: HandoffListener | undefined;
  let drained: Promise<void> | undefined;
  try {
    if (src.kind === 'controller') {
      const client = new ConfigClient({
        url: src.pushUrl,
        client: { kind: 'ztunnel', node: cfg.node },
        // Read again on every connection: projected tokens rotate.
        token: () => readText(src.tokenFile, 'token file'),
        rootsPem: () => rootFile?.current() ?? [],
        apply: (u) => {
          ztunnel.metrics.recordPush(u);
          return ztunnel.apply(u);
        },
        logger,
      });
      client.on('disconnected', (reason) => ztunnel.metrics.xdsTerminations.inc({ reason }));
      client.start();
      stopSource = () => client.close();
      pauseSource = () => client.pause();
      resumeSource = () => client.resume();
    } else {
      stopSource = await watchConfigFile(src.configFile, ztunnel, logger);
      // The whole config is here at once: be serving its pods before reporting started.
      await ztunnel.settled();
    }
    if (predecessor !== undefined) {
      // Every pod's listeners are bound beside the predecessor's: now it may stop accepting.
      await ztunnel.whenReady();
      await predecessor.ready().catch((err: unknown) => logger.warn('predecessor did not confirm draining', { err: errorMessage(err) }));
      logger.info('took over from the running ztunnel', { predecessor: predecessor.pid });
    }
    if (handoffPath !== undefined) {
      handoff = await HandoffListener.listen(handoffPath, {
        release: async () => {
          await ztunnel.release();
          await pauseSource();
        },
        resume: async () => {
          resumeSource();
          await ztunnel.resume();
        },
        drain: () => {
          drained = ztunnel.drain(cfg.drainMs).then(() => logger.info('drained after the hand-off; exiting once stopped'));
        },
      }, logger);
    }
  } catch (err) {
    predecessor?.close();
    await handoff?.close();
    await stopSource();
    await ztunnel.close();
    certificates.close();
    rootFile?.close();
    throw err;
  }

  const sum = async (c: typeof ztunnel.metrics.opened): Promise<number> => [...(await c.sumBy('reporter')).values()].reduce((a, b) => a + b, 0);
  const trim = new MemoryTrim({
    activity: async () => (await sum(ztunnel.metrics.opened)) + (await sum(ztunnel.metrics.closed)),
    trim: () => nativeBinding().trimMemory(),
    logger,
  }).start();

  return {
    ztunnel,
    close: async () => {
      trim.close();
      await handoff?.close();
      if (drained !== undefined) {
        // Handed over: the successor owns capture and the admin ports; only finish draining.
        await drained;
        await stopSource();
        await ztunnel.close();
      } else {
        await stopSource();
        await ztunnel.close({ removeCapture: cfg.removeCaptureOnExit });
      }
      certificates.close();
      rootFile?.close();
    },
  };
}

/** Applies the file now and on every change (watching the folder survives atomic renames). */
async function watchConfigFile(path: string, ztunnel: Ztunnel, logger: Logger): Promise<() => Promise<void>> {
  let version = 0;
  const load = async (): Promise<void> => {
    const resources = await loadConfigFile(path);
    ztunnel.apply({ snapshot: true, version: `file-${++version}`, updated: resources, removed: [] });
  };
  await load();
  let timer: NodeJS.Timeout | undefined;
  const watcher: FSWatcher = watch(dirname(path), (_event, name) => {
    if (name !== null && name !== basename(path)) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      load().catch((err: unknown) => logger.warn('config file reload failed; keeping the last good config', { path, err: errorMessage(err) }));
    }, 100);
  });
  return async () => {
    clearTimeout(timer);
    watcher.close();
  };
}
