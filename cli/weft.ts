#!/usr/bin/env node
// The `weft` command: look at a running mesh (workloads, status), check manifests before
// applying them, deploy waypoints, and start the demo.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { Argument, Command, Option } from 'commander';
import { AppsV1Api, VersionApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { WeftError, errorMessage } from '#core/errors.ts';
import { Labels } from '#controller/model/labels.ts';
import { Ports } from '#core/ports.ts';
import { analyzeManifests, formatAnalysis } from '#cli/analyze.ts';
import { authzPrintable, checkAuthorization } from '#cli/authz.ts';
import { modelOf, readClusterObjects } from '#cli/cluster-state.ts';
import type { StateTarget } from '#cli/cluster-state.ts';
import { COMPLETION_SHELLS, completionScript } from '#cli/completion.ts';
import type { CompletionShell } from '#cli/completion.ts';
import { dumpPrintable, modelFromJson, pushedConfig } from '#cli/config-dump.ts';
import type { ProxyRef } from '#cli/config-dump.ts';
import { adminUrl, fetchText, getJson } from '#cli/controller-client.ts';
import { workloadsPrintable } from '#cli/format.ts';
import { KubernetesInstaller, installYaml, parseSet, renderInstall } from '#cli/install.ts';
import { call, loadCliKubeConfig } from '#cli/kube-client.ts';
import { outputOption, render } from '#cli/output.ts';
import type { OutputFormat } from '#cli/output.ts';
import { statusPrintable, statusReport } from '#cli/status.ts';
import { buildTag, clientVersion, versionPrintable } from '#cli/version.ts';
import type { VersionReport } from '#cli/version.ts';
import { FolderWaypoints } from '#cli/waypoint-folder.ts';
import { WAYPOINT_FOR_CHOICES, formatWaypointStatus, formatWaypoints } from '#cli/waypoint-gateway.ts';
import type { WaypointBackend, WaypointForChoice } from '#cli/waypoint-gateway.ts';
import { KubernetesWaypoints } from '#cli/waypoint-kube.ts';

const DEMO = fileURLToPath(new URL('../local/demo.ts', import.meta.url));
const RELEASE_NAMESPACE = 'istio-system';

interface KubeOptions {
  kubeconfig?: string;
  context?: string;
}

interface TargetOptions extends KubeOptions {
  manifests: string[];
  namespace?: string;
}

const kubeOptions = (cmd: Command): Command => cmd
  .option('--kubeconfig <path>', 'Kubernetes: kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)')
  .option('--context <name>', 'Kubernetes: kubeconfig context');

const manifestsOption = (cmd: Command): Command => cmd
  .option('--manifests <dir>', 'embedded cluster: a folder of manifests the controller reads (repeatable; new files go to the first)',
    (dir: string, dirs: string[]) => [...dirs, dir], [] as string[]);

/** `--manifests` picks the embedded cluster's folder; otherwise the Kubernetes API, found as kubectl finds it. */
function withTarget(cmd: Command): Command {
  return kubeOptions(manifestsOption(cmd.option('-n, --namespace <namespace>', 'namespace (default: the kubeconfig context\'s, or default)')));
}

function kubeConfigOf(opts: KubeOptions): KubeConfig {
  return loadCliKubeConfig({
    ...(opts.kubeconfig === undefined ? {} : { kubeconfig: opts.kubeconfig }),
    ...(opts.context === undefined ? {} : { context: opts.context }),
  });
}

function backendFor(opts: TargetOptions): WaypointBackend {
  if (opts.manifests.length > 0) return new FolderWaypoints(opts.manifests.map((d) => resolve(d)));
  return new KubernetesWaypoints(kubeConfigOf(opts));
}

function stateTarget(opts: TargetOptions): StateTarget {
  return opts.manifests.length > 0 ? { manifests: opts.manifests.map((d) => resolve(d)) } : { kubeConfig: kubeConfigOf(opts) };
}

/** `90s`, `30m`, `2h`, `1d` (or plain seconds) in seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(text.trim());
  if (m === null) throw new WeftError('WEFT_ERR_USAGE', `${JSON.stringify(text)} is not a duration`, { hint: 'for example 90s, 30m, 2h or 1d' });
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
}

async function controllerVersion(url: string): Promise<NonNullable<VersionReport['controller']>> {
  try {
    const health = await fetchText(adminUrl(url, '/healthz'));
    const metrics = await fetchText(adminUrl(url, '/metrics'));
    const tag = metrics.status === 200 ? buildTag(metrics.text, 'controller') : undefined;
    return { source: url, reachable: health.status === 200 || health.status === 503, ...(tag === undefined ? {} : { version: tag }) };
  } catch (err) {
    return { source: url, reachable: false, error: errorMessage(err).split(' (hint:')[0] ?? '' };
  }
}

async function kubeVersions(kc: KubeConfig, namespace: string): Promise<Pick<VersionReport, 'controller' | 'kubernetes'>> {
  const server = await call({}, 'reading the API server version', () => kc.makeApiClient(VersionApi).getCode());
  const apps = kc.makeApiClient(AppsV1Api);
  const source = `deployment ${namespace}/weft-controller`;
  try {
    const d = await apps.readNamespacedDeployment({ namespace, name: 'weft-controller' });
    const version = d.metadata?.labels?.['app.kubernetes.io/version'];
    const image = d.spec?.template.spec?.containers[0]?.image;
    return { kubernetes: server.gitVersion, controller: { source, reachable: true, ...(version === undefined ? {} : { version }), ...(image === undefined ? {} : { image }) } };
  } catch (err) {
    return { kubernetes: server.gitVersion, controller: { source, reachable: false, error: errorMessage(err).split('\n')[0] ?? '' } };
  }
}

export function buildProgram(out: (s: string) => void = (s) => process.stdout.write(s)): Command {
  const program = new Command('weft').description('weft, an ambient service mesh').showHelpAfterError('(add --help for usage)');
  const controller = new Option('--controller <url>', 'controller admin URL').default(`http://127.0.0.1:${Ports.controllerDashboard}`);

  program.command('analyze')
    .description('check manifests offline: what the controller would reject, and why')
    .argument('<dirs...>', 'folders (or files\' folders) of Kubernetes YAML')
    .option('--mesh-config <file>', 'Istio MeshConfig YAML (the mesh key of ConfigMap istio): judge Telemetry providers against it')
    .action(async (dirs: string[], opts: { meshConfig?: string }) => {
      const analysis = await analyzeManifests(dirs, opts.meshConfig === undefined ? {} : { meshConfigFile: opts.meshConfig });
      out(formatAnalysis(analysis));
      if (analysis.problems > 0) process.exitCode = 1;
    });

  program.command('workloads')
    .description('workloads the controller knows, with their mesh protocol and node')
    .addOption(controller)
    .addOption(outputOption())
    .action(async (opts: { controller: string; output: OutputFormat }) => {
      const model = await getJson(adminUrl(opts.controller, '/debug/model'));
      out(render(opts.output, workloadsPrintable(model)));
    });

  program.command('status')
    .description('the mesh at a glance: controller, ztunnels, waypoints, versions, config sync, certificates near expiry, conditions on your objects')
    .addOption(controller)
    .addOption(outputOption())
    .option('--expiry-warning <duration>', 'a certificate with less than this left is near expiry', '2h')
    .action(async (opts: { controller: string; output: OutputFormat; expiryWarning: string }) => {
      const warnSeconds = parseDuration(opts.expiryWarning);
      const status = await getJson(adminUrl(opts.controller, '/status'));
      const health = await fetchText(adminUrl(opts.controller, '/healthz'));
      const dashboard = await getJson(adminUrl(opts.controller, '/api/dashboard'), { optional: true });
      const report = statusReport({ url: opts.controller, healthy: health.status === 200, status, dashboard, now: Date.now(), warnSeconds });
      out(render(opts.output, statusPrintable(report)));
    });

  kubeOptions(program.command('version'))
    .description('the client\'s version, and the controller\'s where one answers (its admin URL, or its Deployment on Kubernetes)')
    .addOption(controller)
    .option('-n, --namespace <namespace>', 'Kubernetes: the namespace weft is installed in', RELEASE_NAMESPACE)
    .addOption(outputOption())
    .option('--client', 'the client\'s version only')
    .action(async (opts: KubeOptions & { controller: string; namespace: string; output: OutputFormat; client?: boolean }) => {
      const report: VersionReport = { client: { version: clientVersion(), node: process.version } };
      if (opts.client !== true) {
        const kube = opts.kubeconfig !== undefined || opts.context !== undefined || process.env['KUBECONFIG'] !== undefined;
        Object.assign(report, kube ? await kubeVersions(kubeConfigOf(opts), opts.namespace) : { controller: await controllerVersion(opts.controller) });
      }
      out(render(opts.output, versionPrintable(report)));
    });

  const completion = program.command('completion')
    .description('a shell completion script: source <(weft completion bash)')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(COMPLETION_SHELLS));

  const install = program.command('install')
    .description('install weft on Kubernetes: the chart\'s objects, server-side applied (CRDs only where missing)')
    .option('-n, --namespace <namespace>', 'the namespace to install into', RELEASE_NAMESPACE)
    .option('--set <key=value>', 'a chart value, as helm --set (repeatable)', (a: string, all: string[]) => [...all, a], [] as string[])
    .option('--dry-run', 'print the objects as YAML instead of applying them (no cluster needed)');
  kubeOptions(install).action(async (opts: KubeOptions & { namespace: string; set: string[]; dryRun?: boolean }) => {
    const rendered = renderInstall({ namespace: opts.namespace, values: parseSet(opts.set) });
    if (opts.dryRun === true) {
      out(installYaml(rendered));
      return;
    }
    await new KubernetesInstaller(kubeConfigOf(opts)).install(rendered, (ref, outcome) => out(`${ref} ${outcome}\n`));
  });

  const uninstall = program.command('uninstall')
    .description('remove what weft install applied; the namespace and the CRDs stay unless --crds')
    .option('-n, --namespace <namespace>', 'the namespace weft is installed in', RELEASE_NAMESPACE)
    .option('--crds', 'delete the CRDs too (and with them every AuthorizationPolicy, PeerAuthentication, ... in the cluster)');
  kubeOptions(uninstall).action(async (opts: KubeOptions & { namespace: string; crds?: boolean }) => {
    await new KubernetesInstaller(kubeConfigOf(opts)).uninstall(renderInstall({ namespace: opts.namespace }), { crds: opts.crds === true }, (ref, outcome) => out(`${ref} ${outcome}\n`));
  });

  for (const [name, value, description] of [
    ['enroll', 'ambient', `label a namespace ${Labels.dataplaneMode}=ambient: its pods join the mesh, without restarting`],
    ['unenroll', null, `remove the label ${Labels.dataplaneMode}: its pods leave the mesh`],
  ] as const) {
    withTarget(program.command(name)).description(description)
      .argument('<namespace>', 'the namespace')
      .action(async (namespace: string, opts: TargetOptions) => {
        await backendFor(opts).labelNamespace(namespace, { [Labels.dataplaneMode]: value });
        out(value === null ? `namespace/${namespace} unlabeled ${Labels.dataplaneMode}\n` : `namespace/${namespace} labeled ${Labels.dataplaneMode}=${value}\n`);
      });
  }

  const config = program.command('config').description('the configuration a proxy holds: from its admin endpoint (--admin), or what the controller pushes to it');
  const configCommand = (sub: string, argument: string, description: string, refOf: (arg: string, namespace: string) => ProxyRef): void => {
    manifestsOption(config.command(sub).option('-n, --namespace <namespace>', 'the waypoint\'s namespace', 'default')).description(description)
      .argument(argument, argument === '<node>' ? 'the node (its ztunnel)' : 'the waypoint (its Gateway\'s name)')
      .option('--admin <url>', 'the proxy\'s admin endpoint (port 15000, e.g. through kubectl port-forward): its own /config_dump')
      .addOption(controller)
      .addOption(outputOption())
      .action(async (arg: string, opts: { manifests: string[]; namespace: string; admin?: string; controller: string; output: OutputFormat }) => {
        if (opts.admin !== undefined) {
          out(render(opts.output, dumpPrintable(await getJson(adminUrl(opts.admin, '/config_dump')))));
          return;
        }
        const offline = opts.manifests.length > 0;
        const model = offline
          ? modelOf(await readClusterObjects({ manifests: opts.manifests.map((d) => resolve(d)) }))
          : modelFromJson(await getJson(adminUrl(opts.controller, '/debug/model')));
        if (model === undefined) throw new WeftError('WEFT_ERR_CONTROLLER', 'the controller has not built its model yet', { hint: 'wait for it to sync with the cluster, then try again' });
        out(render(opts.output, dumpPrintable(pushedConfig(model, refOf(arg, opts.namespace), offline ? 'manifests' : `controller ${opts.controller}`))));
      });
  };
  configCommand('ztunnel', '<node>', 'a node\'s ztunnel: workloads, services and the L4 policies of its pods', (node) => ({ kind: 'ztunnel', node }));
  configCommand('waypoint', '<name>', 'a waypoint (-n its namespace): services, routes and L7 policies', (name, namespace) => ({ kind: 'waypoint', namespace, name }));

  const authz = program.command('authz').description('authorization policies, judged offline');
  withTarget(authz.command('check'))
    .description('would a call be allowed? the waypoint\'s L7 and the destination ztunnel\'s L4 decision, with the policy and rule that decided (exit 1 when denied)')
    .requiredOption('--from <workload>', 'the calling pod: [namespace/]name')
    .requiredOption('--to <service>', 'the service called: [namespace/]name[:port] (default: its first port)')
    .option('--method <method>', 'HTTP method, for L7 policies (default GET)')
    .option('--path <path>', 'HTTP path, for L7 policies (default /)')
    .addOption(outputOption())
    .action(async (opts: TargetOptions & { from: string; to: string; method?: string; path?: string; output: OutputFormat }) => {
      const model = modelOf(await readClusterObjects(stateTarget(opts)));
      const namespace = opts.namespace ?? (opts.manifests.length > 0 ? 'default' : new KubernetesWaypoints(kubeConfigOf(opts)).defaultNamespace());
      const result = checkAuthorization(model.resources.values(), {
        from: opts.from, to: opts.to, ...(opts.method === undefined ? {} : { method: opts.method.toUpperCase() }), ...(opts.path === undefined ? {} : { path: opts.path }),
      }, namespace);
      out(render(opts.output, authzPrintable(result)));
      if (!result.allowed) process.exitCode = 1;
    });

  const waypoint = program.command('waypoint')
    .description('deploy, list, inspect and remove waypoints (Gateways of class istio-waypoint), on the embedded cluster or Kubernetes');

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
    .addOption(outputOption())
    .action(async (opts: TargetOptions & { allNamespaces?: boolean; output: OutputFormat }) => {
      const backend = backendFor(opts);
      const all = opts.allNamespaces === true;
      const namespace = opts.namespace ?? backend.defaultNamespace();
      const rows = await backend.list(all ? undefined : namespace);
      out(render(opts.output, { data: rows, table: () => formatWaypoints(rows, all, namespace) }));
    });

  withTarget(waypoint.command('status'))
    .description('each waypoint of a namespace with its address and every condition the controller reports on it')
    .argument('[name]', 'only this waypoint')
    .addOption(outputOption())
    .action(async (name: string | undefined, opts: TargetOptions & { output: OutputFormat }) => {
      const backend = backendFor(opts);
      const namespace = opts.namespace ?? backend.defaultNamespace();
      const rows = (await backend.list(namespace)).filter((r) => name === undefined || r.name === name);
      if (name !== undefined && rows.length === 0) {
        throw new WeftError('WEFT_ERR_WAYPOINT', `waypoint ${namespace}/${name} not found`, { hint: `weft waypoint list -n ${namespace} shows the waypoints there` });
      }
      out(render(opts.output, { data: rows, table: () => formatWaypointStatus(rows, namespace) }));
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
      const url = adminUrl(opts.controller, '/dashboard');
      await getJson(adminUrl(opts.controller, '/api/dashboard'));
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

  // Last, so the script knows every command above.
  completion.action((shell: CompletionShell) => {
    out(completionScript(program, shell));
  });
  return program;
}

if (import.meta.main) {
  buildProgram().parseAsync(process.argv).catch((err: unknown) => {
    // One line, as kubectl's errors are: a parser's code frame or a server's multi-line text is folded.
    process.stderr.write(`weft: ${errorMessage(err).split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ')}\n`);
    process.exitCode = 1;
  });
}
