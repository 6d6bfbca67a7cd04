#!/usr/bin/env node
// The `weft` command: look at a running mesh (workloads, status), check manifests before
// applying them, deploy waypoints, and start the demo.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { WeftError, errorMessage } from '#core/errors.ts';
import { Ports } from '#core/ports.ts';
import { analyzeManifests, formatAnalysis } from '#cli/analyze.ts';
import { formatStatus, formatWorkloads } from '#cli/format.ts';
import { FolderWaypoints } from '#cli/waypoint-folder.ts';
import { WAYPOINT_FOR_CHOICES, formatWaypoints } from '#cli/waypoint-gateway.ts';
import type { WaypointBackend, WaypointForChoice } from '#cli/waypoint-gateway.ts';
import { KubernetesWaypoints, loadCliKubeConfig } from '#cli/waypoint-kube.ts';

const DEMO = fileURLToPath(new URL('../local/demo.ts', import.meta.url));

async function getJson(url: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new Error(`cannot reach ${url}: ${errorMessage(err)} (is the controller running? its admin address is printed by the demo)`, { cause: err });
  }
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const body: unknown = await res.json();
  return body;
}

interface TargetOptions {
  manifests: string[];
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

/** `--manifests` picks the embedded cluster's folder; otherwise the Kubernetes API, found as kubectl finds it. */
function withTarget(cmd: Command): Command {
  return cmd
    .option('-n, --namespace <namespace>', 'namespace (default: the kubeconfig context\'s, or default)')
    .option('--manifests <dir>', 'embedded cluster: a folder of manifests the controller reads (repeatable; new files go to the first)',
      (dir: string, dirs: string[]) => [...dirs, dir], [] as string[])
    .option('--kubeconfig <path>', 'Kubernetes: kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--context <name>', 'Kubernetes: kubeconfig context');
}

function backendFor(opts: TargetOptions): WaypointBackend {
  if (opts.manifests.length > 0) return new FolderWaypoints(opts.manifests.map((d) => resolve(d)));
  return new KubernetesWaypoints(loadCliKubeConfig({
    ...(opts.kubeconfig === undefined ? {} : { kubeconfig: opts.kubeconfig }),
    ...(opts.context === undefined ? {} : { context: opts.context }),
  }));
}

export function buildProgram(out: (s: string) => void = (s) => process.stdout.write(s)): Command {
  const program = new Command('weft').description('weft, an ambient service mesh').showHelpAfterError();
  const controller = new Option('--controller <url>', 'controller admin URL').default(`http://127.0.0.1:${Ports.controllerDashboard}`);

  program.command('analyze')
    .description('check manifests offline: what the controller would reject, and why')
    .argument('<dirs...>', 'folders (or files\' folders) of Kubernetes YAML')
    .action(async (dirs: string[]) => {
      const analysis = await analyzeManifests(dirs);
      out(formatAnalysis(analysis));
      if (analysis.problems > 0) process.exitCode = 1;
    });

  program.command('workloads')
    .description('workloads the controller knows, with their mesh protocol and node')
    .addOption(controller)
    .action(async (opts: { controller: string }) => {
      out(formatWorkloads(await getJson(`${opts.controller}/debug/model`)));
    });

  program.command('status')
    .description('conditions the controller reports on your objects (rejected policies, missing waypoints, ...)')
    .addOption(controller)
    .action(async (opts: { controller: string }) => {
      out(formatStatus(await getJson(`${opts.controller}/status`)));
    });

  const waypoint = program.command('waypoint')
    .description('deploy, list and remove waypoints (Gateways of class istio-waypoint), on the embedded cluster or Kubernetes');

  withTarget(waypoint.command('apply'))
    .description('create or update a waypoint; the controller deploys it')
    .option('--name <name>', 'waypoint name', 'waypoint')
    .addOption(new Option('--for <traffic>', 'traffic it takes (default: service)').choices(WAYPOINT_FOR_CHOICES))
    .option('--enroll-namespace', 'label the namespace istio.io/use-waypoint=<name>, so its services use the waypoint')
    .action(async (opts: TargetOptions & { name: string; for?: WaypointForChoice; enrollNamespace?: boolean }) => {
      const backend = backendFor(opts);
      const namespace = opts.namespace ?? backend.defaultNamespace();
      const where = await backend.apply({ namespace, name: opts.name, ...(opts.for === undefined ? {} : { for: opts.for }) });
      out(`waypoint ${namespace}/${opts.name} applied (${where})\n`);
      if (opts.enrollNamespace === true) {
        await backend.enrollNamespace(namespace, opts.name);
        out(`namespace ${namespace} labeled istio.io/use-waypoint=${opts.name}\n`);
      }
    });

  withTarget(waypoint.command('list'))
    .description('waypoints of a namespace (or of all, with -A), with their address and Programmed condition')
    .option('-A, --all-namespaces', 'every namespace')
    .action(async (opts: TargetOptions & { allNamespaces?: boolean }) => {
      const backend = backendFor(opts);
      const all = opts.allNamespaces === true;
      const namespace = opts.namespace ?? backend.defaultNamespace();
      out(formatWaypoints(await backend.list(all ? undefined : namespace), all, namespace));
    });

  withTarget(waypoint.command('delete'))
    .description('delete a waypoint; the controller removes what it deployed')
    .argument('[name]', 'waypoint name', 'waypoint')
    .action(async (name: string, opts: TargetOptions) => {
      const backend = backendFor(opts);
      const namespace = opts.namespace ?? backend.defaultNamespace();
      if (!(await backend.delete(namespace, name))) {
        throw new WeftError('WEFT_ERR_WAYPOINT', `waypoint ${namespace}/${name} not found`, { hint: `weft waypoint list -n ${namespace} shows the waypoints there` });
      }
      out(`waypoint ${namespace}/${name} deleted\n`);
    });

  program.command('dashboard')
    .description('print the URL of the node dashboard the controller serves (and open it where a browser exists)')
    .addOption(controller)
    .option('--no-open', 'only print the URL')
    .action(async (opts: { controller: string; open: boolean }) => {
      const url = `${opts.controller.replace(/\/+$/, '')}/dashboard`;
      await getJson(`${opts.controller.replace(/\/+$/, '')}/api/dashboard`);
      out(`${url}\n`);
      // A desktop session has a display; on a server, printing the URL is all there is to do.
      const opener = process.platform === 'darwin' ? 'open' : process.env['DISPLAY'] !== undefined || process.env['WAYLAND_DISPLAY'] !== undefined ? 'xdg-open' : undefined;
      if (opts.open && opener !== undefined) spawn(opener, [url], { stdio: 'ignore', detached: true }).on('error', () => undefined).unref();
    });

  program.command('demo')
    .description('the guided tour on the embedded cluster (root)')
    .action(async () => {
      const child = spawn(process.execPath, [DEMO], { stdio: 'inherit' });
      await new Promise<void>((resolve) => child.on('exit', (code) => { process.exitCode = code ?? 1; resolve(); }));
    });
  return program;
}

if (import.meta.main) {
  buildProgram().parseAsync(process.argv).catch((err: unknown) => {
    process.stderr.write(`weft: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  });
}
