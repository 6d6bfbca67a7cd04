// The controller's configuration: flags and environment read once into a frozen, validated
// object. Defaults live here and nowhere else; a bad value stops the start with a message
// that names the flag.
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { WeftError } from '#core/errors.ts';
import { DEFAULT_TRUST_DOMAIN, parseSpiffeId } from '#core/identity/spiffe.ts';
import { LogLevel } from '#core/log.ts';
import type { LogLevelName } from '#core/log.ts';
import { Ports } from '#core/ports.ts';

export interface ControllerConfig {
  /** CA root, client token key, token files and status.json live here. */
  readonly stateDir: string;
  /** Folders of manifests (local mode). */
  readonly manifestDirs: readonly string[];
  /** Address of the one HTTPS listener serving the push stream and the CA. */
  readonly listenAddress: string;
  readonly port: number;
  /** Extra addresses proxies use to reach the controller (IP SANs of its certificate). */
  readonly advertiseAddresses: readonly string[];
  /** Health, debug and metrics endpoint, on localhost only. */
  readonly adminAddress: string;
  readonly adminPort: number;
  readonly trustDomain: string;
  readonly clusterId: string;
  readonly rootNamespace: string;
  /** Quiet time after a source change before the model is rebuilt. */
  readonly debounceMs: number;
  readonly logLevel: LogLevelName;
  /** Where the cluster is read from: manifest folders, or the Kubernetes API. */
  readonly source: ControllerSource;
  /** Kubernetes source: kubeconfig file; '' means the in-cluster service account. */
  readonly kubeconfig: string;
  /** Lifetime of the workload certificates the CA signs (Istio's DEFAULT_WORKLOAD_CERT_TTL). */
  readonly workloadCertTtlSeconds: number;
  /**
   * A new root from Secret cacerts is trusted (published, sent with certificates) this long
   * before its CA signs, so every proxy trusts both kinds of certificate before any is issued.
   */
  readonly rootRotationGraceSeconds: number;
  /** A TLS handshake on the push/CA listener must finish within this, else the socket is closed. */
  readonly handshakeTimeoutMs: number;
  /** Open connections one source address may hold on the push/CA listener; more are refused. */
  readonly maxConnectionsPerSource: number;
  /**
   * Kubernetes source: elect one leader among replicas on a coordination.k8s.io Lease in the
   * root namespace; only the leader writes status and waypoint objects (every replica serves).
   */
  readonly leaderElect: boolean;
  readonly leaseName: string;
  /** How long the Lease holds without renewal; renew deadline and retry period follow from it. */
  readonly leaseDurationMs: number;
  /** This replica's name in the Lease (the pod name; the host name when not given). */
  readonly identity: string;
  /** `host:port` of the Redis every waypoint counts global rate limits in (WEFT_RATE_LIMIT_REDIS of their Deployment); '' for none. */
  readonly waypointRateLimitRedis: string;
  /**
   * Istio's MeshConfig as a YAML file (on Kubernetes the `mesh` key of ConfigMap `istio`,
   * mounted), read again when it changes: telemetry extension providers and defaults. '' for none.
   */
  readonly meshConfigFile: string;
  /**
   * How proxies prove who they are: `hmac`, tokens sealed under a key in the state folder and
   * written there as token files (the embedded cluster's launcher hands them out); or
   * `token-review`, projected service-account tokens the API server vouches for. Kubernetes
   * mode takes token-review; hmac there is refused unless `insecureAllowHmacAuth` is set.
   */
  readonly clientAuth: ClientAuth;
  /** Accept hmac tokens on a Kubernetes API (test clusters only: anyone who reads the state folder is any node). */
  readonly insecureAllowHmacAuth: boolean;
}

export const ClientAuth = { hmac: 'hmac', tokenReview: 'token-review' } as const;
export type ClientAuth = (typeof ClientAuth)[keyof typeof ClientAuth];

export const ControllerSource = { local: 'local', kubernetes: 'kubernetes' } as const;
export type ControllerSource = (typeof ControllerSource)[keyof typeof ControllerSource];

export type ControllerConfigInput = Partial<{ -readonly [K in keyof ControllerConfig]: ControllerConfig[K] extends readonly string[] ? string[] : ControllerConfig[K] }> & { stateDir: string };

export const CONTROLLER_DEFAULTS = {
  manifestDirs: [] as string[],
  listenAddress: '0.0.0.0',
  port: Ports.controllerPush,
  advertiseAddresses: [] as string[],
  adminAddress: '127.0.0.1',
  adminPort: Ports.controllerDashboard,
  trustDomain: DEFAULT_TRUST_DOMAIN,
  clusterId: 'Kubernetes',
  rootNamespace: 'istio-system',
  debounceMs: 50,
  logLevel: 'info' as LogLevelName,
  source: 'local' as ControllerSource,
  kubeconfig: '',
  workloadCertTtlSeconds: 24 * 3600,
  rootRotationGraceSeconds: 120,
  handshakeTimeoutMs: 10_000,
  maxConnectionsPerSource: 128,
  leaderElect: false,
  leaseName: 'weft-controller',
  leaseDurationMs: 10_000,
  identity: '',
  waypointRateLimitRedis: '',
  meshConfigFile: '',
  insecureAllowHmacAuth: false,
} as const;

/** The client authentication a source takes when none is asked for. */
export const DEFAULT_CLIENT_AUTH: Readonly<Record<ControllerSource, ClientAuth>> = { local: 'hmac', kubernetes: 'token-review' };

/** Bounds of the workload certificate lifetime: Istio caps it at MAX_WORKLOAD_CERT_TTL, 90 days. */
export const WORKLOAD_CERT_TTL_LIMITS = { minSeconds: 5, maxSeconds: 90 * 24 * 3600 } as const;

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/**
 * A duration as Istio's environment takes it (Go syntax: `24h`, `1h30m`, `90s`, `1.5h`), in
 * seconds; undefined when it is not one. A bare number counts as seconds.
 */
export function parseDurationSeconds(v: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(v)) return undefined;
  let total = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * (DURATION_UNITS[m[2] ?? ''] ?? Number.NaN);
  return Number.isFinite(total) ? total : undefined;
}

function fail(flag: string, why: string): never {
  throw new WeftError('WEFT_ERR_CONFIG', `controller: --${flag}: ${why}`, { hint: 'run with --help for the options' });
}

function checkPort(flag: string, v: number, allowZero: boolean): number {
  if (!Number.isInteger(v) || v < (allowZero ? 0 : 1) || v > 65535) fail(flag, `not a port number: ${v}`);
  return v;
}

function checkIp(flag: string, v: string): string {
  if (isIP(v) === 0) fail(flag, `not an IP address: ${JSON.stringify(v)}`);
  return v;
}

function checkHostPort(flag: string, v: string): string {
  if (v === '') return v;
  const m = /^\[?([^\]\s/]+?)\]?:(\d{1,5})$/.exec(v);
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) fail(flag, `must be host:port, e.g. redis.weft-system:6379, got ${JSON.stringify(v)}`);
  return v;
}

/** Fills defaults and validates; the result is frozen. Port 0 picks a free port (tests). */
export function makeControllerConfig(input: ControllerConfigInput): ControllerConfig {
  const c = { ...CONTROLLER_DEFAULTS, ...input };
  if (c.stateDir === '') fail('state-dir', 'required');
  try {
    parseSpiffeId(`spiffe://${c.trustDomain}/ns/x/sa/x`);
  } catch {
    fail('trust-domain', `not a valid trust domain: ${JSON.stringify(c.trustDomain)}`);
  }
  if (c.clusterId === '') fail('cluster-id', 'must not be empty');
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(c.rootNamespace)) fail('root-namespace', `not a namespace name: ${JSON.stringify(c.rootNamespace)}`);
  if (!Number.isInteger(c.debounceMs) || c.debounceMs < 0 || c.debounceMs > 60_000) fail('debounce-ms', `must be 0-60000, got ${c.debounceMs}`);
  if (!isLogLevel(c.logLevel)) fail('log-level', `one of ${Object.keys(LogLevel).join(', ')}`);
  if (!Object.hasOwn(ControllerSource, c.source)) fail('source', `one of ${Object.keys(ControllerSource).join(', ')}, got ${JSON.stringify(c.source)}`);
  const { minSeconds, maxSeconds } = WORKLOAD_CERT_TTL_LIMITS;
  if (!Number.isInteger(c.workloadCertTtlSeconds) || c.workloadCertTtlSeconds < minSeconds || c.workloadCertTtlSeconds > maxSeconds) {
    fail('workload-cert-ttl', `must be whole seconds from ${minSeconds}s to ${maxSeconds / 86_400} days, got ${c.workloadCertTtlSeconds}s`);
  }
  if (!Number.isFinite(c.rootRotationGraceSeconds) || c.rootRotationGraceSeconds < 0 || c.rootRotationGraceSeconds > 86_400) {
    fail('root-rotation-grace', `must be from 0 to 24h, got ${c.rootRotationGraceSeconds}s`);
  }
  if (!Number.isInteger(c.handshakeTimeoutMs) || c.handshakeTimeoutMs < 100 || c.handshakeTimeoutMs > 120_000) {
    fail('handshake-timeout-ms', `must be 100-120000, got ${c.handshakeTimeoutMs}`);
  }
  if (!Number.isInteger(c.maxConnectionsPerSource) || c.maxConnectionsPerSource < 1) {
    fail('max-connections-per-source', `must be a positive whole number, got ${c.maxConnectionsPerSource}`);
  }
  return Object.freeze({
    stateDir: resolve(c.stateDir),
    manifestDirs: Object.freeze(c.manifestDirs.map((d) => resolve(d))),
    listenAddress: checkIp('address', c.listenAddress),
    port: checkPort('port', c.port, true),
    advertiseAddresses: Object.freeze(c.advertiseAddresses.map((a) => checkIp('advertise', a))),
    adminAddress: checkIp('admin-address', c.adminAddress),
    adminPort: checkPort('admin-port', c.adminPort, true),
    trustDomain: c.trustDomain,
    clusterId: c.clusterId,
    rootNamespace: c.rootNamespace,
    debounceMs: c.debounceMs,
    logLevel: c.logLevel,
    source: c.source,
    kubeconfig: c.kubeconfig === '' ? '' : resolve(c.kubeconfig),
    workloadCertTtlSeconds: c.workloadCertTtlSeconds,
    rootRotationGraceSeconds: c.rootRotationGraceSeconds,
    handshakeTimeoutMs: c.handshakeTimeoutMs,
    maxConnectionsPerSource: c.maxConnectionsPerSource,
    waypointRateLimitRedis: checkHostPort('waypoint-rate-limit-redis', c.waypointRateLimitRedis),
    meshConfigFile: c.meshConfigFile === '' ? '' : resolve(c.meshConfigFile),
    ...leaderElection(c),
    ...clientAuthOf(c),
  });
}

function clientAuthOf(c: { source: ControllerSource; clientAuth?: ClientAuth | undefined; insecureAllowHmacAuth: boolean }): Pick<ControllerConfig, 'clientAuth' | 'insecureAllowHmacAuth'> {
  const auth = c.clientAuth ?? DEFAULT_CLIENT_AUTH[c.source];
  if (!Object.values(ClientAuth).includes(auth)) fail('client-auth', `one of ${Object.values(ClientAuth).join(', ')}, got ${JSON.stringify(auth)}`);
  if (auth === 'token-review' && c.source !== 'kubernetes') fail('client-auth', 'token-review needs --source kubernetes (the API server reviews the tokens)');
  if (auth === 'hmac' && c.source === 'kubernetes' && !c.insecureAllowHmacAuth) {
    fail('client-auth', 'hmac is refused with --source kubernetes: its key and token files sit in the state folder, so whoever reads them can act as any node; use token-review, or --insecure-allow-hmac-auth true on a test cluster');
  }
  return { clientAuth: auth, insecureAllowHmacAuth: c.insecureAllowHmacAuth };
}

function leaderElection(c: { leaderElect: boolean; leaseName: string; leaseDurationMs: number; identity: string; source: string }): Pick<ControllerConfig, 'leaderElect' | 'leaseName' | 'leaseDurationMs' | 'identity'> {
  if (c.leaderElect && c.source !== 'kubernetes') fail('leader-elect', 'needs --source kubernetes (the Lease lives in the API server)');
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(c.leaseName) || c.leaseName.length > 253) fail('lease-name', `not an object name: ${JSON.stringify(c.leaseName)}`);
  if (!Number.isInteger(c.leaseDurationMs) || c.leaseDurationMs < 500 || c.leaseDurationMs > 600_000) fail('lease-duration-seconds', `must be 1-600 s, got ${c.leaseDurationMs} ms`);
  const identity = c.identity === '' ? hostname() : c.identity;
  if (identity === '') fail('pod-name', 'required when the host has no name');
  return { leaderElect: c.leaderElect, leaseName: c.leaseName, leaseDurationMs: c.leaseDurationMs, identity };
}

export const CONTROLLER_USAGE = `usage: controller [options]
  --state-dir DIR        state: CA root, tokens, status.json (env WEFT_STATE_DIR; required)
  --manifests DIR        folder of manifests; repeatable (env WEFT_MANIFEST_DIRS, colon-separated)
  --address IP           listen address of push + CA (env WEFT_CONTROLLER_ADDRESS; default ${CONTROLLER_DEFAULTS.listenAddress})
  --port N               listen port (env WEFT_CONTROLLER_PORT; default ${CONTROLLER_DEFAULTS.port})
  --advertise IP         extra address for the certificate; repeatable
  --admin-address IP     admin listener (default ${CONTROLLER_DEFAULTS.adminAddress})
  --admin-port N         admin port (env WEFT_ADMIN_PORT; default ${CONTROLLER_DEFAULTS.adminPort})
  --trust-domain TD      (env WEFT_TRUST_DOMAIN; default ${CONTROLLER_DEFAULTS.trustDomain})
  --cluster-id ID        (env WEFT_CLUSTER_ID; default ${CONTROLLER_DEFAULTS.clusterId})
  --root-namespace NS    (default ${CONTROLLER_DEFAULTS.rootNamespace})
  --debounce-ms N        (env WEFT_DEBOUNCE_MS; default ${CONTROLLER_DEFAULTS.debounceMs})
  --log-level LEVEL      debug|info|warn|error|off (env WEFT_LOG_LEVEL; default info)
  --source KIND          local (manifest folders) | kubernetes (the API server) (env WEFT_SOURCE; default local)
  --kubeconfig PATH      kubernetes source: kubeconfig file (env KUBECONFIG; default: in-cluster service account)
  --workload-cert-ttl D  lifetime of workload certificates, e.g. 24h, 30m, 90s (env DEFAULT_WORKLOAD_CERT_TTL; default 24h)
  --root-rotation-grace D   a new root in Secret cacerts is trusted this long before its CA signs (default 2m)
  --handshake-timeout-ms N   TLS handshake limit on the push/CA listener (default ${CONTROLLER_DEFAULTS.handshakeTimeoutMs})
  --max-connections-per-source N   connections one address may hold on the push/CA listener (default ${CONTROLLER_DEFAULTS.maxConnectionsPerSource})
  --leader-elect BOOL    kubernetes source: only the Lease leader writes status and waypoints (env WEFT_LEADER_ELECT; default false)
  --lease-name NAME      the Lease in the root namespace (default ${CONTROLLER_DEFAULTS.leaseName})
  --lease-duration-seconds N   how long the Lease holds unrenewed; failover takes at most this plus a fifth (default ${CONTROLLER_DEFAULTS.leaseDurationMs / 1000})
  --pod-name NAME        this replica in the Lease (env WEFT_POD_NAME; default the host name)
  --waypoint-rate-limit-redis HOST:PORT   the Redis waypoints count global rate limits in (env WEFT_WAYPOINT_RATE_LIMIT_REDIS; default none)
  --mesh-config FILE     Istio MeshConfig YAML (ConfigMap istio, key mesh): telemetry providers and defaults;
                         read again when it changes (env WEFT_MESH_CONFIG; default none)
  --client-auth MODE     hmac (token files in the state folder) | token-review (projected service-account tokens)
                         (env WEFT_CLIENT_AUTH; default hmac for --source local, token-review for kubernetes)
  --insecure-allow-hmac-auth BOOL   accept --client-auth hmac with --source kubernetes; for test clusters only,
                         since reading the state folder then lets anyone act as any node (default false)
`;

function isLogLevel(v: string): v is LogLevelName {
  return Object.hasOwn(LogLevel, v);
}

function int(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) fail(flag, `not a number: ${JSON.stringify(v)}`);
  return Number(v);
}

function bool(flag: string, v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v !== 'true' && v !== 'false') fail(flag, `true or false, got ${JSON.stringify(v)}`);
  return v === 'true';
}

/** Reads flags (which win) and environment variables. */
export function parseControllerConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ControllerConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'state-dir': { type: 'string' },
        manifests: { type: 'string', multiple: true },
        address: { type: 'string' },
        port: { type: 'string' },
        advertise: { type: 'string', multiple: true },
        'admin-address': { type: 'string' },
        'admin-port': { type: 'string' },
        'trust-domain': { type: 'string' },
        'cluster-id': { type: 'string' },
        'root-namespace': { type: 'string' },
        'debounce-ms': { type: 'string' },
        'log-level': { type: 'string' },
        source: { type: 'string' },
        kubeconfig: { type: 'string' },
        'workload-cert-ttl': { type: 'string' },
        'handshake-timeout-ms': { type: 'string' },
        'root-rotation-grace': { type: 'string' },
        'max-connections-per-source': { type: 'string' },
        'leader-elect': { type: 'string' },
        'lease-name': { type: 'string' },
        'lease-duration-seconds': { type: 'string' },
        'pod-name': { type: 'string' },
        'waypoint-rate-limit-redis': { type: 'string' },
        'mesh-config': { type: 'string' },
        'client-auth': { type: 'string' },
        'insecure-allow-hmac-auth': { type: 'string' },
      },
    }));
  } catch (err) {
    throw new WeftError('WEFT_ERR_CONFIG', `controller: ${err instanceof Error ? err.message : String(err)}`, { hint: CONTROLLER_USAGE });
  }
  const input: ControllerConfigInput = { stateDir: values['state-dir'] ?? env['WEFT_STATE_DIR'] ?? '' };
  const manifests = values.manifests ?? env['WEFT_MANIFEST_DIRS']?.split(':').filter((d) => d !== '');
  if (manifests !== undefined) input.manifestDirs = manifests;
  const address = values.address ?? env['WEFT_CONTROLLER_ADDRESS'];
  if (address !== undefined) input.listenAddress = address;
  const port = int('port', values.port ?? env['WEFT_CONTROLLER_PORT']);
  if (port !== undefined) input.port = port;
  if (values.advertise !== undefined) input.advertiseAddresses = values.advertise;
  if (values['admin-address'] !== undefined) input.adminAddress = values['admin-address'];
  const adminPort = int('admin-port', values['admin-port'] ?? env['WEFT_ADMIN_PORT']);
  if (adminPort !== undefined) input.adminPort = adminPort;
  const trustDomain = values['trust-domain'] ?? env['WEFT_TRUST_DOMAIN'];
  if (trustDomain !== undefined) input.trustDomain = trustDomain;
  const clusterId = values['cluster-id'] ?? env['WEFT_CLUSTER_ID'];
  if (clusterId !== undefined) input.clusterId = clusterId;
  if (values['root-namespace'] !== undefined) input.rootNamespace = values['root-namespace'];
  const debounceMs = int('debounce-ms', values['debounce-ms'] ?? env['WEFT_DEBOUNCE_MS']);
  if (debounceMs !== undefined) input.debounceMs = debounceMs;
  const logLevel = values['log-level'] ?? env['WEFT_LOG_LEVEL'];
  if (logLevel !== undefined) {
    if (!isLogLevel(logLevel)) fail('log-level', `one of ${Object.keys(LogLevel).join(', ')}`);
    input.logLevel = logLevel;
  }
  const source = values.source ?? env['WEFT_SOURCE'];
  if (source !== undefined) {
    if (source !== 'local' && source !== 'kubernetes') fail('source', `one of ${Object.keys(ControllerSource).join(', ')}, got ${JSON.stringify(source)}`);
    input.source = source;
  }
  // KUBECONFIG may list several files; the controller reads the first.
  const kubeconfig = values.kubeconfig ?? env['KUBECONFIG']?.split(':').find((f) => f !== '');
  if (kubeconfig !== undefined) input.kubeconfig = kubeconfig;
  const ttl = values['workload-cert-ttl'] ?? env['DEFAULT_WORKLOAD_CERT_TTL'];
  if (ttl !== undefined) {
    const seconds = parseDurationSeconds(ttl);
    if (seconds === undefined) fail('workload-cert-ttl', `not a duration (like 24h, 30m, 90s): ${JSON.stringify(ttl)}`);
    input.workloadCertTtlSeconds = seconds;
  }
  const grace = values['root-rotation-grace'];
  if (grace !== undefined) {
    const seconds = parseDurationSeconds(grace);
    if (seconds === undefined) fail('root-rotation-grace', `not a duration (like 2m, 30s): ${JSON.stringify(grace)}`);
    input.rootRotationGraceSeconds = seconds;
  }
  const handshake = int('handshake-timeout-ms', values['handshake-timeout-ms']);
  if (handshake !== undefined) input.handshakeTimeoutMs = handshake;
  const perSource = int('max-connections-per-source', values['max-connections-per-source']);
  if (perSource !== undefined) input.maxConnectionsPerSource = perSource;
  const leaderElect = bool('leader-elect', values['leader-elect'] ?? env['WEFT_LEADER_ELECT']);
  if (leaderElect !== undefined) input.leaderElect = leaderElect;
  if (values['lease-name'] !== undefined) input.leaseName = values['lease-name'];
  const leaseSeconds = int('lease-duration-seconds', values['lease-duration-seconds']);
  if (leaseSeconds !== undefined) input.leaseDurationMs = leaseSeconds * 1000;
  const podName = values['pod-name'] ?? env['WEFT_POD_NAME'];
  if (podName !== undefined && podName !== '') input.identity = podName;
  const redis = values['waypoint-rate-limit-redis'] ?? env['WEFT_WAYPOINT_RATE_LIMIT_REDIS'];
  if (redis !== undefined) input.waypointRateLimitRedis = redis;
  const meshConfig = values['mesh-config'] ?? env['WEFT_MESH_CONFIG'];
  if (meshConfig !== undefined) input.meshConfigFile = meshConfig;
  const clientAuth = values['client-auth'] ?? env['WEFT_CLIENT_AUTH'];
  if (clientAuth !== undefined) {
    if (clientAuth !== 'hmac' && clientAuth !== 'token-review') fail('client-auth', `one of ${Object.values(ClientAuth).join(', ')}, got ${JSON.stringify(clientAuth)}`);
    input.clientAuth = clientAuth;
  }
  const insecureHmac = bool('insecure-allow-hmac-auth', values['insecure-allow-hmac-auth'] ?? env['WEFT_INSECURE_ALLOW_HMAC_AUTH']);
  if (insecureHmac !== undefined) input.insecureAllowHmacAuth = insecureHmac;
  return makeControllerConfig(input);
}
