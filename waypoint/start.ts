// Builds a running waypoint from its start-up config: its certificate from the controller's
// CA, its config from the push stream (as a waypoint client, by identity), and the proxy.
import { readFile } from 'node:fs/promises';
import { httpsFetcher } from '#core/certs/fetch-https.ts';
import { CertificateManager } from '#core/certs/manager.ts';
import { RootFile } from '#core/certs/root-file.ts';
import { ConfigClient } from '#core/config/client.ts';
import { WeftError, errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';
import type { WaypointConfig } from '#waypoint/config.ts';
import { WaypointTracing } from '#waypoint/telemetry/traces.ts';
import { Waypoint, type WaypointOptions } from '#waypoint/waypoint.ts';

export interface RunningWaypoint {
  waypoint: Waypoint;
  close(): Promise<void>;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    throw new WeftError('WEFT_ERR_WAYPOINT_CONFIG', `cannot read ${what} ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

export async function startWaypoint(cfg: WaypointConfig, logger: Logger, o: Partial<Pick<WaypointOptions, 'onQuit' | 'admin' | 'hbonePort'>> = {}): Promise<RunningWaypoint> {
  // A changed trust bundle (the CA rotating its root) fetches the certificate again.
  const rootFile = await RootFile.open(cfg.rootCertFile, logger, () => certificates.renewAll());
  const rootsPem = (): string[] => rootFile.current();
  await readText(cfg.tokenFile, 'token file');
  const certificates: CertificateManager = new CertificateManager({
    fetch: httpsFetcher({
      url: cfg.caUrl, rootsPem,
      token: () => readText(cfg.tokenFile, 'token file'),
      ...(cfg.controllerIdentity === undefined ? {} : { serverIdentity: cfg.controllerIdentity }),
    }),
    logger: logger.child({ component: 'certificates' }),
  });
  let waypoint: Waypoint;
  try {
    waypoint = await Waypoint.start({
      namespace: cfg.namespace, name: cfg.name, identity: cfg.identity, trustDomain: cfg.trustDomain,
      certificates, certificateStatus: () => certificates.state(), logger,
      listenHost: cfg.listenHost, connectTimeoutMs: cfg.connectTimeoutMs,
      admin: o.admin ?? { host: cfg.adminHost },
      ...(o.hbonePort === undefined ? {} : { hbonePort: o.hbonePort }),
      // Also without --otlp-endpoint: pushed Telemetry may name a collector.
      tracing: new WaypointTracing({ endpoint: cfg.otlpEndpoint, samplingPercentage: cfg.traceSamplingPercentage, namespace: cfg.namespace, name: cfg.name }),
      ...(o.onQuit === undefined ? {} : { onQuit: o.onQuit }),
      ...(cfg.rateLimitRedis === undefined ? {} : { rateLimitRedis: cfg.rateLimitRedis }),
      rateLimitFailClosed: cfg.rateLimitFailClosed,
    });
  } catch (err) {
    certificates.close();
    rootFile.close();
    throw err;
  }
  // The certificate is fetched now, so the first request does not wait for the CA.
  certificates.get(cfg.identity).catch((err: unknown) => logger.warn('first certificate fetch failed; retrying', { err: errorMessage(err) }));
  const client = new ConfigClient({
    url: cfg.pushUrl,
    client: { kind: 'waypoint', identity: cfg.identity },
    // Read again on every connection: projected tokens rotate.
    token: () => readText(cfg.tokenFile, 'token file'), rootsPem,
    apply: (u) => waypoint.apply(u),
    logger,
  });
  client.on('disconnected', (reason) => waypoint.metrics.xdsTerminations.inc({ reason }));
  client.start();
  return {
    waypoint,
    close: async () => {
      await client.close();
      await waypoint.close();
      certificates.close();
      rootFile.close();
    },
  };
}
