// The embedded cluster's Redis, where waypoints count global rate limits (BackendTrafficPolicy
// `type: Global`): a real redis-server in a pod of its own (`weft-system/redis`, not in the
// mesh) behind a Service, as it would run on Kubernetes. Waypoints reach it at the Service's
// VIP, which the controller writes into every waypoint Deployment (WEFT_RATE_LIMIT_REDIS).
// Nothing is persisted: a restarted Redis starts with no counters.
import net from 'node:net';
import { WeftError, errorMessage } from '#core/errors.ts';
import type { LocalCluster } from './cluster.ts';
import type { LocalPod } from './pod.ts';
import type { LocalProcess } from './process.ts';

export const REDIS_NAMESPACE = 'weft-system';
export const REDIS_NAME = 'redis';
export const REDIS_PORT = 6379;

export class LocalRedis {
  readonly pod: LocalPod;
  /** `vip:port`, what waypoints dial. */
  readonly address: string;
  readonly #vip: string;
  readonly #echo: boolean;
  #process: LocalProcess | undefined;

  private constructor(pod: LocalPod, vip: string, echo: boolean) {
    this.pod = pod;
    this.#vip = vip;
    this.address = `${vip}:${REDIS_PORT}`;
    this.#echo = echo;
  }

  /** Creates the pod and Service and starts redis-server; resolves once it answers PING through the Service. */
  static async start(cluster: LocalCluster, opts: { node?: string; echo?: boolean; timeoutMs?: number } = {}): Promise<LocalRedis> {
    const node = opts.node ?? cluster.nodes[0]?.name;
    if (node === undefined) throw new WeftError('WEFT_ERR_LOCAL_REDIS', 'the cluster has no node for Redis');
    const labels = { app: REDIS_NAME };
    const pod = await cluster.addPod({ namespace: REDIS_NAMESPACE, name: REDIS_NAME, node, labels, serviceAccount: REDIS_NAME });
    try {
      const svc = await cluster.addService({ namespace: REDIS_NAMESPACE, name: REDIS_NAME, selector: labels, ports: [{ port: REDIS_PORT, targetPort: REDIS_PORT, name: 'tcp-redis' }] });
      const redis = new LocalRedis(pod, svc.vip, opts.echo ?? false);
      await redis.startProcess(opts.timeoutMs);
      return redis;
    } catch (err) {
      await cluster.removeService({ namespace: REDIS_NAMESPACE, name: REDIS_NAME }).catch(() => undefined);
      await cluster.removePod(pod).catch(() => undefined);
      throw err;
    }
  }

  get running(): boolean {
    return this.#process !== undefined && this.#process.exitStatus === undefined;
  }

  /** Starts redis-server in the pod (again, after stopProcess) and waits until it answers PING. */
  async startProcess(timeoutMs = 15_000): Promise<void> {
    if (this.running) throw new WeftError('WEFT_ERR_LOCAL_REDIS', 'redis-server is already running');
    const proc = this.pod.spawn([
      'redis-server', '--port', String(REDIS_PORT), '--bind', '0.0.0.0', '--protected-mode', 'no',
      '--save', '', '--appendonly', 'no', '--loglevel', 'warning',
    ], { label: 'redis', echo: this.#echo });
    this.#process = proc;
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (proc.exitStatus !== undefined) {
        throw new WeftError('WEFT_ERR_LOCAL_REDIS', `redis-server exited before answering: ${(proc.stderr + proc.stdout).slice(-1500)}`, {
          hint: 'is redis-server installed (scripts/bootstrap.sh)?',
        });
      }
      try {
        if (await ping(this.#vip, REDIS_PORT)) return;
      } catch (err) {
        last = errorMessage(err);
      }
      if (Date.now() > deadline) {
        await proc.stop(1000);
        throw new WeftError('WEFT_ERR_LOCAL_REDIS', `redis at ${this.address} did not answer PING within ${timeoutMs} ms (${last}): ${proc.stderr.slice(-1500)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops redis-server (its counters go with it); the pod and Service stay. Idempotent. */
  async stopProcess(): Promise<void> {
    await this.#process?.stop(2000);
  }

  killSync(): void {
    this.#process?.killSync();
  }
}

/** One PING over a fresh connection: true on +PONG. */
export function ping(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let got = '';
    const done = (err: Error | undefined, ok = false): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err === undefined) resolve(ok);
      else reject(err);
    };
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.on('data', (s: string) => {
      got += s;
      if (got.includes('\r\n')) done(undefined, got.startsWith('+PONG'));
    });
    socket.on('error', (err) => done(err));
    socket.on('close', () => done(new Error('closed before answering')));
  });
}
