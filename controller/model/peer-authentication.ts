// PeerAuthentication → ztunnel DENY policies. ztunnel always speaks mTLS between meshed
// pods; STRICT only adds "refuse connections that carry no mesh identity". Precedence is
// Istio's: a workload policy over its namespace's over the mesh-wide (root namespace) one,
// and a port-level mode over the policy's own. A policy with fields weft could not use
// arrives already read at its strictest (parse.ts); its Accepted condition is False and
// names them.
import type { Authorization, AuthorizationMatch, PolicyScope } from '#core/config/model.ts';
import type { MtlsMode, PeerAuthentication } from '#controller/source/types.ts';
import type { ResourceCondition } from '#controller/model/types.ts';
import { formatFieldProblems } from '#controller/source/fields.ts';
import { emptyMatch } from '#controller/model/authorization.ts';
import { selects } from '#controller/model/labels.ts';

export interface MeshWorkloadRef {
  uid: string;
  namespace: string;
  labels: Readonly<Record<string, string>>;
}

export interface ConvertedPeerAuthentications {
  authorizations: Authorization[];
  /** Workload uid → keys of WORKLOAD_SELECTOR policies it must list. */
  attach: Map<string, string[]>;
  conditions: ResourceCondition[];
}

export const CONVERTED_PREFIX = 'converted_peer_authentication_';

/** A problem inside one mode (parse.ts reads only that mode as STRICT); any other makes the whole policy STRICT. */
const MODE_PATH = /^spec\.(mtls|portLevelMtls\.\d+)(\.|$)/;

type Strictness = 'STRICT' | 'PERMISSIVE';

function ownMode(pa: PeerAuthentication | undefined): MtlsMode {
  return pa?.spec.mtls?.mode ?? 'UNSET';
}

function strictness(mode: MtlsMode, inherited: Strictness): Strictness {
  if (mode === 'UNSET') return inherited;
  return mode === 'STRICT' ? 'STRICT' : 'PERMISSIVE';
}

function ref(pa: PeerAuthentication): { kind: string; namespace: string; name: string } {
  return { kind: 'PeerAuthentication', namespace: pa.metadata.namespace, name: pa.metadata.name };
}

/** Deny plaintext (no principal) on the given ports, or on all but `exceptPorts`. */
function denyWithoutIdentity(pa: PeerAuthentication, scope: PolicyScope, ports: { only?: number[]; except?: number[] }): Authorization {
  const match: AuthorizationMatch = { ...emptyMatch(), notPrincipals: [{ presence: true }] };
  if (ports.only !== undefined) match.destinationPorts = ports.only;
  if (ports.except !== undefined) match.notDestinationPorts = ports.except;
  return {
    name: `${CONVERTED_PREFIX}${pa.metadata.name}`,
    namespace: pa.metadata.namespace,
    scope,
    action: 'DENY',
    rules: [{ clauses: [{ matches: [match] }] }],
    dryRun: false,
  };
}

export function convertPeerAuthentications(
  all: Iterable<PeerAuthentication>,
  workloads: readonly MeshWorkloadRef[],
  rootNamespace: string,
): ConvertedPeerAuthentications {
  const conditions: ResourceCondition[] = [];
  const accepted = (pa: PeerAuthentication, status: 'True' | 'False', reason: string, message: string): void => {
    const problems = pa.fieldProblems ?? [];
    if (problems.length > 0) {
      const effect = problems.every((p) => MODE_PATH.test(p.path)) ? 'the modes weft could not read are STRICT' : 'every mode of the policy is read as STRICT';
      const full = `fields weft cannot use: ${formatFieldProblems(problems)}; fail-safe: ${effect}; ${message}`;
      conditions.push({ ...ref(pa), type: 'Accepted', status: 'False', reason: 'InvalidField', message: full });
      return;
    }
    conditions.push({ ...ref(pa), type: 'Accepted', status, reason, message });
  };
  // Istio picks the oldest of competing policies; manifests carry no age, so the name decides.
  const sorted = [...all].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  let mesh: PeerAuthentication | undefined;
  const byNamespace = new Map<string, PeerAuthentication>();
  const selectorPolicies: PeerAuthentication[] = [];
  for (const pa of sorted) {
    if (pa.spec.selector !== undefined) {
      selectorPolicies.push(pa);
      continue;
    }
    if (Object.keys(pa.spec.portLevelMtls).length > 0) {
      accepted(pa, 'False', 'InvalidSpec', 'portLevelMtls needs a workload selector; the policy is not applied');
      continue;
    }
    const ns = pa.metadata.namespace;
    const holder = ns === rootNamespace ? mesh : byNamespace.get(ns);
    if (holder !== undefined) {
      accepted(pa, 'False', 'Conflict', `${holder.metadata.name} already sets the ${ns === rootNamespace ? 'mesh-wide' : 'namespace'} mode`);
      continue;
    }
    if (ns === rootNamespace) mesh = pa;
    else byNamespace.set(ns, pa);
  }

  const meshStrictness = strictness(ownMode(mesh), 'PERMISSIVE');
  const namespaceStrictness = (ns: string): Strictness => strictness(ownMode(byNamespace.get(ns)), meshStrictness);

  /** What a selector policy enforces given what it inherits. */
  const selectorEffect = (pa: PeerAuthentication): { base: Strictness; strictPorts: number[]; relaxedPorts: number[] } => {
    const base = strictness(ownMode(pa), namespaceStrictness(pa.metadata.namespace));
    const strictPorts: number[] = [];
    const relaxedPorts: number[] = [];
    for (const [port, { mode }] of Object.entries(pa.spec.portLevelMtls)) {
      const s = strictness(mode, base);
      if (s === 'STRICT' && base !== 'STRICT') strictPorts.push(Number(port));
      if (s !== 'STRICT' && base === 'STRICT') relaxedPorts.push(Number(port));
    }
    return { base, strictPorts: strictPorts.sort((a, b) => a - b), relaxedPorts: relaxedPorts.sort((a, b) => a - b) };
  };

  // Which selector policy governs each workload (the first by name that selects it).
  const governing = new Map<string, PeerAuthentication>();
  for (const w of workloads) {
    const pa = selectorPolicies.find((p) => p.metadata.namespace === w.namespace && selects(p.spec.selector?.matchLabels ?? {}, w.labels));
    if (pa !== undefined) governing.set(w.uid, pa);
  }
  const fullyStrict = (w: MeshWorkloadRef): boolean => {
    const pa = governing.get(w.uid);
    if (pa === undefined) return namespaceStrictness(w.namespace) === 'STRICT';
    const e = selectorEffect(pa);
    return e.base === 'STRICT' && e.relaxedPorts.length === 0;
  };

  const authorizations: Authorization[] = [];
  const attach = new Map<string, string[]>();
  const attachTo = (uid: string, a: Authorization): void => {
    const keys = attach.get(uid) ?? [];
    keys.push(`${a.namespace}/${a.name}`);
    attach.set(uid, keys);
  };

  // Mesh-wide and namespace-wide STRICT apply by scope unless some workload under them is
  // relaxed by a narrower policy; then only the workloads that inherit them list them.
  if (mesh !== undefined) {
    if (meshStrictness === 'STRICT') {
      const inheriting = workloads.filter((w) => !governing.has(w.uid) && ownMode(byNamespace.get(w.namespace)) === 'UNSET');
      const exact = workloads.every(fullyStrict);
      const a = denyWithoutIdentity(mesh, exact ? 'GLOBAL' : 'WORKLOAD_SELECTOR', {});
      authorizations.push(a);
      if (!exact) for (const w of inheriting) attachTo(w.uid, a);
      accepted(mesh, 'True', 'Accepted', 'mesh-wide STRICT: connections without a mesh identity are denied');
    } else accepted(mesh, 'True', 'Accepted', `mesh-wide ${ownMode(mesh)}: nothing for ztunnel to enforce`);
  }
  for (const [ns, pa] of byNamespace) {
    if (namespaceStrictness(ns) === 'STRICT' && ownMode(pa) === 'STRICT') {
      const inNamespace = workloads.filter((w) => w.namespace === ns);
      const exact = inNamespace.every(fullyStrict);
      const a = denyWithoutIdentity(pa, exact ? 'NAMESPACE' : 'WORKLOAD_SELECTOR', {});
      authorizations.push(a);
      if (!exact) for (const w of inNamespace) if (!governing.has(w.uid)) attachTo(w.uid, a);
      accepted(pa, 'True', 'Accepted', 'namespace STRICT: connections without a mesh identity are denied');
    } else accepted(pa, 'True', 'Accepted', `namespace mode ${ownMode(pa)}: nothing extra for ztunnel to enforce`);
  }
  for (const pa of selectorPolicies) {
    const e = selectorEffect(pa);
    let a: Authorization | undefined;
    if (e.base === 'STRICT') a = denyWithoutIdentity(pa, 'WORKLOAD_SELECTOR', e.relaxedPorts.length > 0 ? { except: e.relaxedPorts } : {});
    else if (e.strictPorts.length > 0) a = denyWithoutIdentity(pa, 'WORKLOAD_SELECTOR', { only: e.strictPorts });
    if (a !== undefined) {
      authorizations.push(a);
      for (const w of workloads) if (governing.get(w.uid) === pa) attachTo(w.uid, a);
    }
    accepted(pa, 'True', 'Accepted', a === undefined ? 'selected workloads accept connections without a mesh identity' : 'selected workloads deny connections without a mesh identity (where STRICT)');
  }
  return { authorizations, attach, conditions };
}
