// ztunnel's start-up configuration, read once from flags and environment into a frozen,
// validated object. Flags win over environment; defaults live here and nowhere else.
import net from 'node:net';
import { isAbsolute } from 'node:path';
import { WeftError } from '#core/errors.ts';
import { DEFAULT_TRUST_DOMAIN, parseSpiffeId } from '#core/identity/spiffe.ts';
import { LogLevel, type LogLevelName } from '#core/log.ts';
import { PUSH_PATH } from '#core/config/protocol.ts';
import { readFlags } from '#core/config/flags.ts';

export type ZtunnelConfigSource =
  | {
    kind: 'controller';
    /** `https://host:port` of the controller (push and CA share it). */
    url: string;
    pushUrl: string;
    caUrl: string;
    tokenFile: string;
    rootCertFile: string;
    /** SPIFFE id the controller's serving certificate must carry (else its address is checked). */
    controllerIdentity: string | undefined;
  }
  | {
    kind: 'file';
    /** JSON `{ resources: [...] }`, reloaded when it changes. */
    configFile: string;
    /** Directory of a local CA (root-key.pem, root-cert.pem; created when empty). */
    caDir: string;
  };

export interface ZtunnelConfig {
  node: string;
  trustDomain: string;
  source: ZtunnelConfigSource;
  /** Address for 15020 / 15021 (15000 is always on 127.0.0.1). */
  adminHost: string;
  logLevel: LogLevelName;
  /**
   * Remove capture rules on exit (default false: traffic of captured pods fails closed until
   * the next ztunnel adopts them). Only for a node leaving the mesh for good.
   */
  removeCaptureOnExit: boolean;
  /** The node folder of node-local enrollment (enroll/node-dir.ts); undefined: config only. */
  nodeDir: string | undefined;
  /** Folder kept across restarts (a hostPath): capture ledger and upgrade hand-off socket. */
  stateDir: string | undefined;
  configWaitMs: number;
  connectTimeoutMs: number;
  /** After an upgrade hand-off, how long open connections get to finish (default 25 s). */
  drainMs: number;
}

/** The certificate endpoint path of the controller. */
export const CA_PATH = '/v1/certificates';

const OPTIONS = {
  node: { type: 'string' },
  'trust-domain': { type: 'string' },
  controller: { type: 'string' },
  'token-file': { type: 'string' },
  'root-cert': { type: 'string' },
  'controller-identity': { type: 'string' },
  'config-file': { type: 'string' },
  'ca-dir': { type: 'string' },
  'admin-host': { type: 'string' },
  'log-level': { type: 'string' },
  'remove-capture-on-exit': { type: 'boolean' },
  'node-dir': { type: 'string' },
  'state-dir': { type: 'string' },
  'config-wait-ms': { type: 'string' },
  'connect-timeout-ms': { type: 'string' },
  'drain-ms': { type: 'string' },
} as const;

const ENV: Record<keyof typeof OPTIONS, string> = {
  node: 'WEFT_NODE_NAME',
  'trust-domain': 'WEFT_TRUST_DOMAIN',
  controller: 'WEFT_CONTROLLER_URL',
  'token-file': 'WEFT_TOKEN_FILE',
  'root-cert': 'WEFT_ROOT_CERT',
  'controller-identity': 'WEFT_CONTROLLER_IDENTITY',
  'config-file': 'WEFT_CONFIG_FILE',
  'ca-dir': 'WEFT_CA_DIR',
  'admin-host': 'WEFT_ADMIN_HOST',
  'log-level': 'WEFT_LOG_LEVEL',
  'remove-capture-on-exit': 'WEFT_REMOVE_CAPTURE_ON_EXIT',
  'node-dir': 'WEFT_NODE_DIR',
  'state-dir': 'WEFT_STATE_DIR',
  'config-wait-ms': 'WEFT_CONFIG_WAIT_MS',
  'connect-timeout-ms': 'WEFT_CONNECT_TIMEOUT_MS',
  'drain-ms': 'WEFT_DRAIN_MS',
};

function bad(message: string, hint?: string): WeftError {
  return new WeftError('WEFT_ERR_ZTUNNEL_CONFIG', message, hint === undefined ? {} : { hint });
}

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n <= 0) throw bad(`${name} must be a positive integer (milliseconds), got ${JSON.stringify(v)}`);
  return n;
}

/** Parses argv (without node and script) and env; throws WEFT_ERR_ZTUNNEL_CONFIG saying what is wrong. */
export function parseZtunnelConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Readonly<ZtunnelConfig> {
  const get = readFlags(argv, env, OPTIONS, ENV, bad);

  const node = get('node');
  if (node === undefined) throw bad('the node name is required', `--node or ${ENV.node} (the Kubernetes node this ztunnel serves)`);
  const trustDomain = get('trust-domain') ?? DEFAULT_TRUST_DOMAIN;
  try {
    parseSpiffeId(`spiffe://${trustDomain}/ns/x/sa/x`);
  } catch {
    throw bad(`trust domain ${JSON.stringify(trustDomain)} is not valid`);
  }

  const controller = get('controller');
  const configFile = get('config-file');
  let source: ZtunnelConfigSource;
  if (controller !== undefined && configFile !== undefined) {
    throw bad('give either a controller URL or a config file, not both');
  } else if (controller !== undefined) {
    let u: URL;
    try {
      u = new URL(controller);
    } catch {
      throw bad(`controller URL ${JSON.stringify(controller)} is not a URL`);
    }
    if (u.protocol !== 'https:') throw bad(`controller URL must be https://host:port, got ${controller}`);
    const tokenFile = get('token-file');
    const rootCertFile = get('root-cert');
    if (tokenFile === undefined) throw bad('a token file is required with a controller', `--token-file or ${ENV['token-file']}`);
    if (rootCertFile === undefined) throw bad('the mesh root certificate is required with a controller', `--root-cert or ${ENV['root-cert']}`);
    const identity = get('controller-identity');
    if (identity !== undefined) parseSpiffeId(identity);
    const base = `${u.protocol}//${u.host}`;
    source = {
      kind: 'controller', url: base, pushUrl: `wss://${u.host}${PUSH_PATH}`, caUrl: `${base}${CA_PATH}`,
      tokenFile, rootCertFile, controllerIdentity: identity,
    };
  } else if (configFile !== undefined) {
    source = { kind: 'file', configFile, caDir: get('ca-dir') ?? '/var/lib/weft/ca' };
  } else {
    throw bad('no config source', `--controller https://host:port (with --token-file and --root-cert), or --config-file for a standalone run`);
  }

  const adminHost = get('admin-host') ?? '0.0.0.0';
  if (net.isIP(adminHost) === 0) throw bad(`admin host must be an IP address, got ${JSON.stringify(adminHost)}`);
  const logLevel = get('log-level') ?? 'info';
  if (!(logLevel in LogLevel)) throw bad(`log level must be one of ${Object.keys(LogLevel).join(', ')}, got ${JSON.stringify(logLevel)}`);
  const removeCapture = get('remove-capture-on-exit');
  if (removeCapture !== undefined && removeCapture !== 'true' && removeCapture !== 'false') {
    throw bad(`${ENV['remove-capture-on-exit']} must be true or false`);
  }

  const nodeDir = get('node-dir');
  if (nodeDir !== undefined && !isAbsolute(nodeDir)) {
    throw bad(`node folder must be an absolute path, got ${JSON.stringify(nodeDir)}`, `--node-dir or ${ENV['node-dir']} (where the CNI plugin writes this node's pods)`);
  }

  const stateDir = get('state-dir');
  if (stateDir !== undefined && !isAbsolute(stateDir)) {
    throw bad(`state folder must be an absolute path, got ${JSON.stringify(stateDir)}`, `--state-dir or ${ENV['state-dir']} (a host folder kept across ztunnel restarts)`);
  }

  const source_ = Object.freeze(source);
  return Object.freeze({
    node, trustDomain, source: source_, adminHost, logLevel: logLevel as LogLevelName,
    removeCaptureOnExit: removeCapture === 'true',
    nodeDir,
    stateDir,
    configWaitMs: positiveInt('config wait', get('config-wait-ms'), 5000),
    connectTimeoutMs: positiveInt('connect timeout', get('connect-timeout-ms'), 5000),
    drainMs: positiveInt('drain time', get('drain-ms'), 25_000),
  });
}
