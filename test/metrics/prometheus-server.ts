// A throwaway Prometheus server (the Debian `prometheus` binary) for tests: its own config,
// its own TSDB folder and its own port on 127.0.0.1, scraping the given targets every second.
// Talks to it through the HTTP API only, parsing every answer from `unknown`.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WeftError } from '#core/errors.ts';
import { LocalProcess } from '#local/process.ts';

export interface ScrapeTarget {
  readonly job: string;
  /** `host:port` */
  readonly address: string;
  readonly health: string;
  readonly lastError: string;
  readonly scrapeUrl: string;
}

/** A scrape target with the labels service discovery would have attached to it. */
export interface LabelledTarget {
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface StartPrometheusOptions {
  /** Scrape jobs: job name → `host:port` of each /metrics endpoint (optionally with target labels). */
  readonly jobs: Readonly<Record<string, readonly (string | LabelledTarget)[]>>;
  readonly metricsPath?: string;
  /** Default 'prometheus'. */
  readonly binary?: string;
  readonly echo?: boolean;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The `data` of a successful API answer; anything else is an error with the server's reason. */
export function apiData(body: unknown): unknown {
  if (!isRecord(body)) throw new WeftError('WEFT_ERR_TEST_PROMETHEUS', 'Prometheus answered something that is not a JSON object');
  if (body['status'] !== 'success') {
    throw new WeftError('WEFT_ERR_TEST_PROMETHEUS', `Prometheus API error: ${String(body['errorType'])}: ${String(body['error'])}`);
  }
  return body['data'];
}

/** Active targets from `/api/v1/targets` data. */
export function parseTargets(data: unknown): ScrapeTarget[] {
  if (!isRecord(data) || !Array.isArray(data['activeTargets'])) {
    throw new WeftError('WEFT_ERR_TEST_PROMETHEUS', 'targets answer without activeTargets');
  }
  return data['activeTargets'].map((t: unknown): ScrapeTarget => {
    if (!isRecord(t)) throw new WeftError('WEFT_ERR_TEST_PROMETHEUS', 'target entry is not an object');
    const labels = isRecord(t['labels']) ? t['labels'] : {};
    return {
      job: str(labels['job']),
      address: str(labels['instance']),
      health: str(t['health']),
      lastError: str(t['lastError']),
      scrapeUrl: str(t['scrapeUrl']),
    };
  });
}

/**
 * The single number of an instant query that yields one sample or none (an aggregate such
 * as `sum(...)`); none — no series matched yet — is undefined.
 */
export function parseScalarVector(data: unknown): number | undefined {
  if (!isRecord(data) || data['resultType'] !== 'vector' || !Array.isArray(data['result'])) {
    throw new WeftError('WEFT_ERR_TEST_PROMETHEUS', 'query answer is not an instant vector');
  }
  const result: unknown[] = data['result'];
  if (result.length === 0) return undefined;
  if (result.length > 1) throw new WeftError('WEFT_ERR_TEST_PROMETHEUS', `query gave ${result.length} samples, expected one`);
  const sample = result[0];
  const value = isRecord(sample) ? sample['value'] : undefined;
  if (!Array.isArray(value) || typeof value[1] !== 'string') throw new WeftError('WEFT_ERR_TEST_PROMETHEUS', 'sample without a value');
  return Number(value[1]);
}

export interface VectorSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Every sample of an instant query answer (a scalar answer is one sample with no labels). */
export function parseInstant(data: unknown): VectorSample[] {
  if (!isRecord(data)) throw new WeftError('WEFT_ERR_TEST_PROMETHEUS', 'query answer is not an object');
  const pair = (v: unknown): number => {
    if (!Array.isArray(v) || typeof v[1] !== 'string') throw new WeftError('WEFT_ERR_TEST_PROMETHEUS', 'sample without a value');
    return Number(v[1]);
  };
  if (data['resultType'] === 'scalar') return [{ metric: {}, value: pair(data['result']) }];
  if (data['resultType'] !== 'vector' || !Array.isArray(data['result'])) throw new WeftError('WEFT_ERR_TEST_PROMETHEUS', `unexpected result type ${String(data['resultType'])}`);
  return data['result'].map((s: unknown): VectorSample => {
    const metric: Record<string, string> = {};
    if (isRecord(s) && isRecord(s['metric'])) for (const [k, v] of Object.entries(s['metric'])) metric[k] = str(v);
    return { metric, value: pair(isRecord(s) ? s['value'] : undefined) };
  });
}

/** A port free on 127.0.0.1 right now (Prometheus needs an explicit one). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new WeftError('WEFT_ERR_TEST_PROMETHEUS', 'no port from the kernel');
  return address.port;
}

export class PrometheusServer {
  readonly url: string;
  readonly #process: LocalProcess;
  readonly #dir: string;

  private constructor(url: string, proc: LocalProcess, dir: string) {
    this.url = url;
    this.#process = proc;
    this.#dir = dir;
  }

  static async start(opts: StartPrometheusOptions): Promise<PrometheusServer> {
    const dir = await mkdtemp(join(tmpdir(), 'weft-prom-'));
    let proc: LocalProcess | undefined;
    try {
      const config = {
        global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
        scrape_configs: Object.entries(opts.jobs).map(([job, targets]) => ({
          job_name: job,
          metrics_path: opts.metricsPath ?? '/metrics',
          static_configs: targets.map((t) => (typeof t === 'string' ? { targets: [t] } : { targets: [t.address], labels: { ...t.labels } })),
        })),
      };
      const configFile = join(dir, 'prometheus.yml');
      // JSON is YAML, so no serializer is needed.
      await writeFile(configFile, JSON.stringify(config, null, 2));
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      proc = new LocalProcess(opts.binary ?? 'prometheus', [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ], 'prometheus', { echo: opts.echo ?? false });
      const server = new PrometheusServer(url, proc, dir);
      const deadline = Date.now() + 15_000;
      for (;;) {
        const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
        if (ready) return server;
        if (proc.exitStatus !== undefined || Date.now() > deadline) {
          throw new WeftError('WEFT_ERR_TEST_PROMETHEUS', `prometheus did not become ready (is the Debian package installed?): ${proc.stderr.trim().slice(-2000)}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (err) {
      await proc?.stop(3000);
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async #get(path: string): Promise<unknown> {
    const response = await fetch(`${this.url}${path}`);
    return apiData(await response.json());
  }

  async targets(): Promise<ScrapeTarget[]> {
    return parseTargets(await this.#get('/api/v1/targets?state=active'));
  }

  /** Instant query for one aggregate number; undefined when nothing matched. */
  async queryNumber(expr: string): Promise<number | undefined> {
    return parseScalarVector(await this.#get(`/api/v1/query?query=${encodeURIComponent(expr)}`));
  }

  /** Instant query: every sample it returns. */
  async query(expr: string): Promise<VectorSample[]> {
    return parseInstant(await this.#get(`/api/v1/query?query=${encodeURIComponent(expr)}`));
  }

  /** What the server wrote to stderr (for failure messages). */
  get stderr(): string {
    return this.#process.stderr;
  }

  /** Stops the server and removes its config and TSDB; idempotent. */
  async stop(): Promise<void> {
    await this.#process.stop(3000);
    await rm(this.#dir, { recursive: true, force: true });
  }
}
