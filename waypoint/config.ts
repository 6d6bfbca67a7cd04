// The waypoint's start-up configuration, read once from flags and environment into a frozen,
// validated object. Flags win over environment; defaults live here and nowhere else. The
// manifests set the environment (WEFT_WAYPOINT_NAME, ...); the embedded cluster passes flags.
import net from 'node:net';
import { WeftError } from '#core/errors.ts';
import { DEFAULT_TRUST_DOMAIN, parseSpiffeId, spiffeIdFor } from '#core/identity/spiffe.ts';
import { LogLevel, type LogLevelName } from '#core/log.ts';
import { PUSH_PATH } from '#core/config/protocol.ts';
import { readFlags } from '#core/config/flags.ts';

export interface WaypointConfig {
  /** The Gateway's namespace and name; the waypoint runs as service account `<name>`. */
  namespace: string;
  name: string;
  trustDomain: string;
  /** `spiffe://<td>/ns/<namespace>/sa/<name>`. */
  identity: string;
  /** `https://host:port` of the controller; push and CA share it. */
  controllerUrl: string;
  pushUrl: string;
  caUrl: string;
  tokenFile: string;
  rootCertFile: string;
  controllerIdentity: string | undefined;
  /** Where HBONE (15008) is served. */
  listenHost: string;
  /** Address for 15020 / 15021 (15000 is always on 127.0.0.1). */
  adminHost: string;
  logLevel: LogLevelName;
  /** Budget for opening the HBONE stream to an endpoint; 10 s unless set, Envoy's default connectTimeout. */
  connectTimeoutMs: number;
  /** OTLP/HTTP traces URL; no spans are exported without one. */
  otlpEndpoint: string | undefined;
  /** Istio's randomSamplingPercentage (0–100) for traces the caller did not decide. */
  traceSamplingPercentage: number;
  /** `host:port` of the Redis holding global rate-limit counters; global limits fail open without one. */
  rateLimitRedis: { host: string; port: number } | undefined;
  /** Refuse requests under a global limit while Redis cannot answer. */
  rateLimitFailClosed: boolean;
}

const OPTIONS = {
  namespace: { type: 'string' },
  name: { type: 'string' },
  'trust-domain': { type: 'string' },
  controller: { type: 'string' },
  'token-file': { type: 'string' },
  'root-cert': { type: 'string' },
  'controller-identity': { type: 'string' },
  'listen-host': { type: 'string' },
  'admin-host': { type: 'string' },
  'log-level': { type: 'string' },
  'connect-timeout-ms': { type: 'string' },
  'otlp-endpoint': { type: 'string' },
  'trace-sampling-percentage': { type: 'string' },
  'rate-limit-redis': { type: 'string' },
  'rate-limit-fail-closed': { type: 'string' },
} as const;

const ENV: Record<keyof typeof OPTIONS, string> = {
  namespace: 'WEFT_WAYPOINT_NAMESPACE',
  name: 'WEFT_WAYPOINT_NAME',
  'trust-domain': 'WEFT_TRUST_DOMAIN',
  controller: 'WEFT_CONTROLLER_URL',
  'token-file': 'WEFT_TOKEN_FILE',
  'root-cert': 'WEFT_ROOT_CERT',
  'controller-identity': 'WEFT_CONTROLLER_IDENTITY',
  'listen-host': 'WEFT_LISTEN_HOST',
  'admin-host': 'WEFT_ADMIN_HOST',
  'log-level': 'WEFT_LOG_LEVEL',
  'connect-timeout-ms': 'WEFT_CONNECT_TIMEOUT_MS',
  'otlp-endpoint': 'WEFT_OTLP_ENDPOINT',
  'trace-sampling-percentage': 'WEFT_TRACE_SAMPLING_PERCENTAGE',
  'rate-limit-redis': 'WEFT_RATE_LIMIT_REDIS',
  'rate-limit-fail-closed': 'WEFT_RATE_LIMIT_FAIL_CLOSED',
};

function bad(message: string, hint?: string): WeftError {
  return new WeftError('WEFT_ERR_WAYPOINT_CONFIG', message, hint === undefined ? {} : { hint });
}

/** Parses argv (without node and script) and env; throws WEFT_ERR_WAYPOINT_CONFIG saying what is wrong. */
export function parseWaypointConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Readonly<WaypointConfig> {
  const get = readFlags(argv, env, OPTIONS, ENV, bad);
  const need = (k: keyof typeof OPTIONS, what: string): string => {
    const v = get(k);
    if (v === undefined) throw bad(`${what} is required`, `--${k} or ${ENV[k]}`);
    return v;
  };

  const namespace = need('namespace', 'the Gateway namespace');
  const name = need('name', 'the Gateway name');
  const trustDomain = get('trust-domain') ?? DEFAULT_TRUST_DOMAIN;
  let identity: string;
  try {
    identity = spiffeIdFor(namespace, name, trustDomain);
    parseSpiffeId(identity);
  } catch {
    throw bad(`namespace ${JSON.stringify(namespace)}, name ${JSON.stringify(name)} and trust domain ${JSON.stringify(trustDomain)} do not make a SPIFFE id`);
  }
  const controller = need('controller', 'the controller URL');
  let u: URL;
  try {
    u = new URL(controller);
  } catch {
    throw bad(`controller URL ${JSON.stringify(controller)} is not a URL`);
  }
  // wss:// is the push stream's own scheme; the CA shares the host and port.
  if (u.protocol !== 'https:' && u.protocol !== 'wss:') throw bad(`controller URL must be https://host:port or wss://host:port, got ${controller}`);
  const controllerIdentity = get('controller-identity');
  if (controllerIdentity !== undefined) parseSpiffeId(controllerIdentity);
  const ip = (k: 'listen-host' | 'admin-host', dflt: string): string => {
    const v = get(k) ?? dflt;
    if (net.isIP(v) === 0) throw bad(`${k} must be an IP address, got ${JSON.stringify(v)}`);
    return v;
  };
  const logLevel = get('log-level') ?? 'info';
  if (!(logLevel in LogLevel)) throw bad(`log level must be one of ${Object.keys(LogLevel).join(', ')}, got ${JSON.stringify(logLevel)}`);
  const timeout = get('connect-timeout-ms') ?? '10000';
  if (!/^\d+$/.test(timeout) || Number(timeout) <= 0) throw bad(`connect timeout must be a positive integer (milliseconds), got ${JSON.stringify(timeout)}`);
  const otlpEndpoint = get('otlp-endpoint');
  if (otlpEndpoint !== undefined) {
    const proto = URL.parse(otlpEndpoint)?.protocol;
    if (proto !== 'http:' && proto !== 'https:') throw bad(`OTLP endpoint must be an http:// or https:// URL, got ${JSON.stringify(otlpEndpoint)}`, 'e.g. http://collector:4318/v1/traces');
  }
  // Istio's default randomSamplingPercentage is 1 %.
  const sampling = get('trace-sampling-percentage') ?? '1';
  if (!/^\d+(\.\d+)?$/.test(sampling) || Number(sampling) > 100) throw bad(`trace sampling percentage must be a number from 0 to 100, got ${JSON.stringify(sampling)}`);
  const redis = get('rate-limit-redis');
  let rateLimitRedis: { host: string; port: number } | undefined;
  if (redis !== undefined) {
    const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(redis);
    if (m === null || m[1] === undefined || Number(m[2]) < 1 || Number(m[2]) > 65535) throw bad(`rate-limit Redis must be host:port, got ${JSON.stringify(redis)}`, 'e.g. redis.weft-system:6379');
    rateLimitRedis = { host: m[1], port: Number(m[2]) };
  }
  const failClosed = get('rate-limit-fail-closed') ?? 'false';
  if (failClosed !== 'true' && failClosed !== 'false') throw bad(`rate-limit-fail-closed must be true or false, got ${JSON.stringify(failClosed)}`);

  return Object.freeze({
    namespace, name, trustDomain, identity,
    controllerUrl: `https://${u.host}`, pushUrl: `wss://${u.host}${PUSH_PATH}`, caUrl: `https://${u.host}/v1/certificates`,
    tokenFile: need('token-file', 'a token file'), rootCertFile: need('root-cert', 'the mesh root certificate'),
    controllerIdentity,
    listenHost: ip('listen-host', '0.0.0.0'), adminHost: ip('admin-host', '0.0.0.0'),
    logLevel: logLevel as LogLevelName, connectTimeoutMs: Number(timeout),
    otlpEndpoint, traceSamplingPercentage: Number(sampling),
    rateLimitRedis, rateLimitFailClosed: failClosed === 'true',
  });
}
