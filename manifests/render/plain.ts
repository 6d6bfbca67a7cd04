// The chart rendered once with its defaults into plain YAML, the way `helm template` prints
// it, for users who install with kubectl or kustomize: manifests/install/crds.yaml (to create
// with `kubectl create`, which never overwrites CRDs a cluster already has) and
// manifests/install/weft.yaml (everything else, the release namespace included). A test keeps
// the committed files equal to a fresh render; `node manifests/render/plain.ts` rewrites them.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { loadChart, renderChart } from './chart.ts';
import type { KubeObject } from './chart.ts';

export const CHART_DIR = fileURLToPath(new URL('../chart', import.meta.url));
export const INSTALL_DIR = fileURLToPath(new URL('../install', import.meta.url));

/** The release the plain YAML is: name weft, namespace istio-system, the namespace rendered too. */
export const PLAIN_RELEASE = { name: 'weft', namespace: 'istio-system', values: { createNamespace: true } } as const;

function documents(objects: readonly { source: string; object: KubeObject }[]): string {
  return objects.map(({ source, object }) => `---\n# Source: ${source}\n${stringify(object, { lineWidth: 0, aliasDuplicateObjects: false })}`).join('');
}

const HEADER = (what: string): string => `# ${what}
# Generated from manifests/chart by \`node manifests/render/plain.ts\` (release "weft" in istio-system); do not edit.
`;

/** The two files' text as a fresh render makes them. */
export function renderPlain(): { crds: string; weft: string } {
  const chart = loadChart(CHART_DIR);
  const r = renderChart(chart, { ...PLAIN_RELEASE, values: { ...PLAIN_RELEASE.values } });
  const sources = new Map<KubeObject, string>();
  for (const f of r.files) for (const o of f.objects) sources.set(o, f.source);
  const crds = r.crds.install.map((object) => ({ source: `weft/crds/${object.metadata.name}`, object }));
  const rest = r.objects().filter((o) => !r.crds.install.includes(o)).map((object) => ({ source: sources.get(object) ?? '', object }));
  return {
    crds: HEADER('The CRDs weft reads (Istio security, traffic and telemetry kinds). Create them with `kubectl create -f`: a cluster that has Istio\'s keeps those.') + documents(crds),
    weft: HEADER('weft: namespace, service accounts, RBAC, the controller, ztunnel and the istio-waypoint GatewayClass.') + documents(rest),
  };
}

if (import.meta.main) {
  const out = renderPlain();
  const check = process.argv.includes('--check');
  let stale = false;
  for (const [file, text] of [['crds.yaml', out.crds], ['weft.yaml', out.weft]] as const) {
    const path = `${INSTALL_DIR}/${file}`;
    let current: string;
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      current = '';
    }
    if (current === text) continue;
    stale = true;
    if (!check) writeFileSync(path, text);
    process.stdout.write(`${check ? 'stale' : 'wrote'} ${path}\n`);
  }
  if (check && stale) process.exitCode = 1;
}
