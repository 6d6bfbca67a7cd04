// ztunnel as its own process (ztunnel/main.ts) in an embedded-cluster node, standalone: config
// from a local file (rewritten to change what the mesh holds), certificates from a local CA
// all nodes share (<dir>/ca), and a state folder per node kept across its restarts and
// upgrades (<dir>/<node>/state). For the root-only e2e tests.
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Resource } from '#core/config/model.ts';
import { LocalCluster } from '#local/cluster.ts';
import type { LocalNode } from '#local/node.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalProcess } from '#local/process.ts';

const MAIN = fileURLToPath(new URL('../../ztunnel/main.ts', import.meta.url));

export class StandaloneZtunnel {
  readonly #node: LocalNode;
  readonly #dir: string;
  #generation = 0;

  readonly #caDir: string;

  constructor(node: LocalNode, dir: string) {
    this.#node = node;
    this.#dir = join(dir, node.name);
    this.#caDir = join(dir, 'ca');
  }

  get stateDir(): string { return join(this.#dir, 'state'); }

  /** Writes the mesh config the process reads (atomically: it watches the file). */
  async config(resources: readonly Resource[]): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const tmp = join(this.#dir, '.mesh.json.tmp');
    await writeFile(tmp, JSON.stringify({ resources }));
    await rename(tmp, join(this.#dir, 'mesh.json'));
  }

  /** Starts a ztunnel process; resolves once it printed ready (its config's pods are served). */
  async start(extra: readonly string[] = []): Promise<LocalProcess> {
    const n = ++this.#generation;
    const proc = this.#node.spawn([
      process.execPath, MAIN, '--node', this.#node.name, '--config-file', join(this.#dir, 'mesh.json'), '--ca-dir', this.#caDir,
      '--state-dir', this.stateDir, '--admin-host', this.#node.ip, '--log-level', 'info', ...extra,
    ], { label: `ztunnel@${this.#node.name}#${n}`, echo: process.env['WEFT_TEST_LOG'] === '1' });
    try {
      await proc.waitForLine('ready', 30_000);
    } catch (err) {
      await proc.stop(3000);
      throw err;
    }
    return proc;
  }

  /** /config_dump of whichever process holds the node's admin port. */
  async configDump(): Promise<ConfigDump> {
    const r = await this.#node.exec(['curl', '-sS', '--max-time', '5', 'http://127.0.0.1:15000/config_dump']);
    if (r.code !== 0) throw new Error(`config_dump failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as ConfigDump;
  }

  async metrics(): Promise<string> {
    return (await fetch(`http://${this.#node.ip}:15020/metrics`)).text();
  }
}

export interface StandaloneCluster {
  cluster: LocalCluster;
  dir: string;
  pods: LocalPod[];
  /** node1's ztunnel. */
  zt: StandaloneZtunnel;
  /** Every node's, by node name. */
  zts: Map<string, StandaloneZtunnel>;
}

/**
 * A cluster of `nodes` nodes with pods in namespace default (name → service account, on
 * node1, or → [service account, node]), a temp dir and a StandaloneZtunnel per node. The
 * caller stops the cluster and removes the dir.
 */
export async function standaloneCluster(name: string, pods: Readonly<Record<string, string | readonly [string, string]>>, nodes = 1): Promise<StandaloneCluster> {
  const dir = await mkdtemp(join(tmpdir(), `weft-${name}-`));
  let cluster: LocalCluster | undefined;
  try {
    cluster = await LocalCluster.start({ name, nodes });
    const c = cluster;
    const made = await Promise.all(Object.entries(pods).map(([pod, where]) => {
      const [serviceAccount, node] = typeof where === 'string' ? [where, 'node1'] : where;
      return c.addPod({ namespace: 'default', name: pod, node, serviceAccount });
    }));
    const zts = new Map(c.nodes.map((n) => [n.name, new StandaloneZtunnel(n, dir)]));
    const zt = zts.get('node1');
    if (zt === undefined) throw new Error('the cluster has no node1');
    return { cluster, dir, pods: made, zt, zts };
  } catch (err) {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface ConfigDump {
  enrolledPods: { uid: string; ip: string; adopted: boolean }[];
  sweptCaptures: number;
  pid: number;
}
