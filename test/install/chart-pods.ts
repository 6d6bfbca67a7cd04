// What the install tests share: the image's contents built without Docker (the script the
// Dockerfile's build stage runs, into a temporary folder), and a chart container started in a
// netns of the embedded cluster the way a kubelet starts it: from the image's working directory,
// with exactly the command, arguments and environment the manifest gives it plus the image's own
// PATH, nothing inherited from the test runner, each volume a host folder standing in for it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Logger } from '#core/log.ts';
import { startApiServerHarness } from '#controller/source/testing/harness.ts';
import type { ApiServerHarness } from '#controller/source/testing/harness.ts';
import { LocalCluster } from '#local/cluster.ts';
import type { NetnsMember } from '#local/netns-member.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalProcess } from '#local/process.ts';
import { loadChart, renderChart } from '#manifests/render/chart.ts';
import type { KubeObject } from '#manifests/render/chart.ts';
import type { ContainerInvocation } from '#manifests/render/container.ts';
import { containerInvocation, remapMounts } from '#manifests/render/container.ts';
import { CHART_DIR, PLAIN_RELEASE } from '#manifests/render/plain.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The PATH of the image's base (node:24-bookworm-slim), which the kubelet passes on. */
export const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The release namespace of the plain YAML, where the chart's objects live. */
export const NS = PLAIN_RELEASE.namespace;
/** The user the controller's service-account token authenticates as. */
export const CONTROLLER_SA = `system:serviceaccount:${NS}:weft-controller`;

/** The chart rendered as the plain YAML is (release weft in istio-system, defaults). */
export function chartObjects(): KubeObject[] {
  return renderChart(loadChart(CHART_DIR), { ...PLAIN_RELEASE, values: { ...PLAIN_RELEASE.values } }).objects();
}

export interface BuiltImage {
  /** The image's working directory (/weft in the image). */
  dir: string;
  /** How long the build took, in ms. */
  ms: number;
  remove(): Promise<void>;
}

/** Runs scripts/build-image.sh on this tree into a fresh folder. */
export async function buildImage(): Promise<BuiltImage> {
  const parent = await mkdtemp(join(tmpdir(), 'weft-image-'));
  const dir = join(parent, 'weft');
  const began = performance.now();
  try {
    await promisify(execFile)('bash', [join(ROOT, 'scripts/build-image.sh'), ROOT, dir], {
      env: { ...process.env, NODE: process.execPath }, maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    await rm(parent, { recursive: true, force: true });
    const stderr = (err as { stderr?: unknown }).stderr;
    throw new Error(`scripts/build-image.sh failed: ${typeof stderr === 'string' ? stderr.slice(-3000) : String(err)}`, { cause: err });
  }
  return { dir, ms: performance.now() - began, remove: () => rm(parent, { recursive: true, force: true }) };
}

/**
 * Starts the container's program inside `where`, from the image. `volumes` maps mount paths to
 * the host folders standing in for them; `extraEnv` is what a cluster adds on its own (the
 * in-cluster credentials' stand-in, KUBECONFIG).
 */
export function startContainer(where: NetnsMember, image: BuiltImage, inv: ContainerInvocation, opts: {
  volumes?: ReadonlyMap<string, string>;
  extraEnv?: Record<string, string>;
  label: string;
}): LocalProcess {
  assert.equal(inv.command[0], 'node', `${inv.container} runs node`);
  const { args, env } = remapMounts(inv, opts.volumes ?? new Map());
  // `env -i`: the container sees the image's PATH and its declared environment only.
  const environment = Object.entries({ PATH: IMAGE_PATH, ...env, ...opts.extraEnv }).map(([k, v]) => `${k}=${v}`);
  return where.spawn(['env', '-i', ...environment, process.execPath, ...inv.command.slice(1), ...args], { cwd: image.dir, label: opts.label });
}

export async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function find(objects: readonly KubeObject[], kind: string, name: string): KubeObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o !== undefined, `${kind} ${name}`);
  return o;
}

/** Polls an HTTP GET until it answers 200; fails at once if the process it asks has exited. */
export function answers200(url: string, proc: LocalProcess, timeoutMs = 20_000): Promise<true> {
  return eventually(`${url} to answer 200`, async () => {
    if (proc.exitStatus !== undefined) assert.fail(`${proc.label} exited: ${proc.stderr.slice(-2000)}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return res.status === 200 ? true : undefined;
    } catch {
      return undefined;
    }
  }, timeoutMs);
}

export interface ChartScene {
  /** A scratch folder for volumes and the kubeconfig. */
  dir: string;
  image: BuiltImage;
  cluster: LocalCluster;
  /** The in-repo API server enforcing the chart's RBAC, holding every rendered object. */
  h: ApiServerHarness;
  objects: readonly KubeObject[];
  /** The controller Deployment's pod on node1, and its container's process. */
  pod: LocalPod;
  controller: LocalProcess;
  stop(): Promise<void>;
}

/**
 * The image built, a one-node embedded cluster, the API server with the chart applied, and the
 * chart's controller Deployment as a pod on node1: its container started from the image, its
 * state volume a fresh folder, and KUBECONFIG naming the API server with the controller service
 * account's token in place of in-cluster credentials. Everything is removed on failure.
 */
export async function startChartScene(clusterName: string, controllerPodName: string): Promise<ChartScene> {
  const dir = await mkdtemp(join(tmpdir(), `weft-${clusterName}-`));
  const parts: Partial<ChartScene> = {};
  const stop = async (): Promise<void> => {
    parts.controller?.signal('SIGKILL');
    await parts.cluster?.stop();
    await parts.h?.close();
    await parts.image?.remove();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const image = parts.image = await buildImage();
    const cluster = parts.cluster = await LocalCluster.start({ name: clusterName, nodes: 1, logger: new Logger({ level: 'off' }) });
    const hostIp = cluster.hostIp;
    assert.ok(hostIp !== undefined, 'the cluster links the host netns');
    const token = 'controller-token';
    const h = parts.h = await startApiServerHarness({ host: hostIp, users: { [token]: CONTROLLER_SA }, rbac: true });
    const objects = chartObjects();
    for (const o of objects) h.server.create(o);
    const deployment = find(objects, 'Deployment', 'weft-controller');
    const labels = (deployment['spec'] as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
    const pod = await cluster.addPod({ namespace: NS, name: controllerPodName, node: 'node1', serviceAccount: 'weft-controller', labels });
    const inv = containerInvocation(deployment, { name: pod.name, namespace: NS, nodeName: 'node1', podIP: pod.ip }, 'controller');
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, (await readFile(h.kubeconfigPath, 'utf8')).replace(/token: .*/, `token: ${token}`), { mode: 0o600 });
    // The mesh config volume (ConfigMap istio, optional): the chart renders none by default, so
    // the kubelet mounts an empty folder.
    const meshConfigDir = join(dir, 'controller-mesh-config');
    await mkdir(meshConfigDir, { recursive: true });
    const controller = parts.controller = startContainer(pod, image, inv, {
      volumes: new Map([['/var/lib/weft', join(dir, 'controller-state')], ['/etc/istio/config', meshConfigDir]]), extraEnv: { KUBECONFIG: kubeconfig }, label: 'controller',
    });
    return { dir, image, cluster, h, objects, pod, controller, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The readiness probe (httpGet) of a container. */
export function readinessProbe(inv: ContainerInvocation): { path: string; port: number } {
  const probe = (inv.spec['readinessProbe'] as { httpGet?: { path: string; port: number } } | undefined)?.httpGet;
  assert.ok(probe !== undefined, `${inv.container} has an httpGet readiness probe`);
  return probe;
}
