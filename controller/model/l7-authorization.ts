// AuthorizationPolicy with targetRefs → the L7 policy each waypoint enforces, with the status
// condition to report. Istio's fail-safe rule covers whatever weft cannot evaluate, and also
// values Istio's validation would refuse (weft has no admission webhook, so such a policy
// exists and must still be safe): an ALLOW rule with such a part never matches, while a DENY
// (or AUDIT) rule loses the part and matches more. A policy weft only partly understands is
// therefore stricter than written, never looser; the condition names every such part.
import type { L7Action, L7Authorization, L7Condition, L7Operation, L7PathMatch, L7Rule, L7Source } from '#core/config/l7-authorization.ts';
import { isPathTemplate, pathProblem } from '#core/config/l7-authorization.ts';
import type { StringMatch } from '#core/config/model.ts';
import type { AuthorizationCondition, AuthorizationOperation, AuthorizationPolicy, AuthorizationPolicyRule, AuthorizationSource, PolicyTargetRef } from '#controller/source/types.ts';
import { formatFieldProblems } from '#controller/source/fields.ts';
import type { ResourceCondition } from '#controller/model/types.ts';
import { Annotations, Labels, WAYPOINT_CLASS } from '#controller/model/labels.ts';
import { InvalidPolicyField, toAddressMatch, toPort, toPrincipalMatch, toStringMatch } from '#controller/model/string-match.ts';

export interface L7PolicyContext {
  /** Policies here may target GatewayClass istio-waypoint (Istio: istio-system). */
  rootNamespace: string;
  /** Whether `<namespace>/<name>` is a waypoint Gateway. */
  waypointOfGateway: (key: string) => boolean;
  /** The waypoint (`<namespace>/<gateway>`) a Service `<namespace>/<name>` is bound to. */
  waypointOfService: (key: string) => string | undefined;
  /** The hostname of Service `<namespace>/<name>`, undefined when it does not exist. */
  serviceHostname: (key: string) => string | undefined;
  /** Every waypoint (`<namespace>/<gateway>`); needed only for GatewayClass targets. */
  waypoints?: () => Iterable<string>;
}

export interface ConvertedL7Policy {
  /** One per waypoint the policy binds to, sorted by waypoint. */
  authorizations: L7Authorization[];
  /** One `Accepted` condition; none for policies without targetRefs. */
  conditions: ResourceCondition[];
}

const GATEWAY_GROUP = 'gateway.networking.k8s.io';
const ISTIO_NETWORKING_GROUP = 'networking.istio.io';
/** Istio's CRD limit on targetRefs. */
const MAX_TARGETS = 16;
/** Istio's limit on serviceAccounts values. */
const MAX_SERVICE_ACCOUNTS = 16;
/** `spec.rules[3].from[0]` → 3. */
const RULE_PATH = /^spec\.rules\[(\d+)\]/;

/** What conversion found that is not enforced as written. */
interface Findings {
  /** Needs request authentication (JWT), which weft does not have. */
  jwt: Set<string>;
  /** Valid in Istio, but weft cannot evaluate it. */
  unsupported: Set<string>;
  /** Refused by Istio's validation, as `path: why`. */
  invalid: string[];
  /** Manifest positions of rules holding an invalid part. */
  invalidRules: Set<number>;
  /** ALLOW rules left out for a JWT or unsupported part. */
  droppedAllowRules: number;
}

interface Binding {
  /** Gateway-targeted: every request through the waypoint. */
  all: boolean;
  services: Set<string>;
}

interface TargetFailure {
  reason: string;
  message: string;
}

export function convertL7AuthorizationPolicy(policy: AuthorizationPolicy, ctx: L7PolicyContext): ConvertedL7Policy {
  const { namespace, name } = policy.metadata;
  const spec = policy.spec;
  const targets = spec.targetRef === undefined ? spec.targetRefs : [spec.targetRef, ...spec.targetRefs];
  if (targets.length === 0) return { authorizations: [], conditions: [] };
  const condition = (status: 'True' | 'False', reason: string, message: string): ResourceCondition => ({
    kind: 'AuthorizationPolicy', namespace, name, type: 'Accepted', status, reason, message,
  });

  const found: Findings = { jwt: new Set(), unsupported: new Set(), invalid: [], invalidRules: new Set(), droppedAllowRules: 0 };
  checkSpec(policy, targets, found);
  // No external authorizer: CUSTOM rules deny, as Istio does when the provider is unknown.
  const action: L7Action = spec.action === 'CUSTOM' ? 'DENY' : spec.action;
  const rules: L7Rule[] = [];
  for (const [i, r] of spec.rules.entries()) {
    const converted = convertRule(r, r.index ?? i, action, namespace, found);
    if (converted !== undefined) rules.push(converted);
  }

  const bindings = new Map<string, Binding>();
  const bind = (waypoint: string): Binding => {
    let b = bindings.get(waypoint);
    if (b === undefined) bindings.set(waypoint, (b = { all: false, services: new Set() }));
    return b;
  };
  const bound: string[] = [];
  const failures: TargetFailure[] = [];
  for (const t of targets) {
    const failure = bindTarget(t, namespace, ctx, bind);
    if (failure === undefined) bound.push(`${t.kind} ${t.name}`);
    else failures.push(failure);
  }
  if (bound.length === 0) {
    const first = failures[0];
    const reason = first !== undefined && failures.every((f) => f.reason === first.reason) ? first.reason : 'Invalid';
    return { authorizations: [], conditions: [condition('False', reason, `${failures.map((f) => f.message).join('; ')}; the policy is not enforced`)] };
  }

  const dryRunValue = policy.metadata.annotations[Annotations.dryRun];
  const dryRun = dryRunValue !== undefined && TRUE_VALUES.has(dryRunValue);
  const authorizations: L7Authorization[] = [...bindings.keys()].sort().map((waypoint) => {
    const b = bindings.get(waypoint);
    const services = b === undefined || b.all ? {} : { services: [...b.services].sort() };
    return { namespace, name, action, waypoint, ...services, rules, dryRun };
  });

  const fieldProblems = policy.fieldProblems ?? [];
  const invalidAny = fieldProblems.length > 0 || found.invalid.length > 0;
  // weft refuses these outright (no JWT, no external authorizer), even though Istio accepts them.
  const refused = found.jwt.size > 0 || spec.action === 'CUSTOM';
  const status = invalidAny || refused ? 'False' : 'True';
  const reason = invalidAny ? 'InvalidField'
    : refused ? 'UnsupportedValue'
      : failures.length > 0 ? 'PartiallyInvalid'
        : found.unsupported.size > 0 ? 'UnsupportedValue' : 'Accepted';

  const waypointNames = authorizations.map((a) => a.waypoint);
  const notes = [`bound to ${bound.join(', ')} (${waypointNames.length === 0 ? 'no waypoint exists yet' : `waypoint ${waypointNames.join(', ')}`})`];
  if (failures.length > 0) notes.push(`not bound: ${failures.map((f) => f.message).join('; ')}`);
  const effect = failSafeEffect(action, found.droppedAllowRules);
  if (found.unsupported.size > 0) notes.push(`weft cannot evaluate ${[...found.unsupported].sort().join(', ')}: ${effect}`);
  if (found.jwt.size > 0) notes.push(`weft has no request authentication (JWT) to evaluate ${[...found.jwt].sort().join(', ')}: ${effect}`);
  if (spec.action === 'CUSTOM') {
    notes.push(`action CUSTOM (provider "${spec.provider?.name ?? ''}") is not supported: weft has no external authorization, so requests its rules match are denied, as Istio does for an unknown provider`);
  }
  if (invalidAny) {
    const listed = [formatFieldProblems(fieldProblems), ...found.invalid].filter((x) => x !== '').join('; ');
    notes.push(`fields weft cannot use: ${listed}; fail-safe: ${invalidEffect(policy, action, found.invalidRules)}`);
  }
  if (dryRunValue !== undefined && !dryRun && !FALSE_VALUES.has(dryRunValue)) {
    notes.push(`annotation ${Annotations.dryRun}=${JSON.stringify(dryRunValue)} is not a boolean, so the policy is enforced`);
  } else if (dryRun) {
    notes.push('dry-run: evaluated and reported, not enforced');
  }
  return { authorizations, conditions: [condition(status, reason, notes.join('; '))] };
}

// Go's strconv.ParseBool, which Istio applies to the dry-run annotation.
const TRUE_VALUES = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE_VALUES = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

function failSafeEffect(action: L7Action, droppedAllowRules: number): string {
  if (action === 'ALLOW') return `${droppedAllowRules} ALLOW rule(s) using them never match, so less traffic is allowed than written`;
  return `they were removed from the ${action} rules, so more traffic is ${action === 'DENY' ? 'denied' : 'audited'} than written`;
}

/** What is enforced instead of the invalid parts (parse.ts already applied its share to the spec). */
function invalidEffect(policy: AuthorizationPolicy, action: L7Action, invalidRules: ReadonlySet<number>): string {
  const ruleProblems = new Set(invalidRules);
  let outsideRules = false;
  for (const p of policy.fieldProblems ?? []) {
    const m = RULE_PATH.exec(p.path);
    if (m === null) outsideRules = true;
    else ruleProblems.add(Number(m[1]));
  }
  const rules = policy.spec.rules;
  if (rules.length === 0 && action !== 'ALLOW') return `the ${action} policy has no rules, so it matches nothing`;
  if (outsideRules && action === 'ALLOW' && rules.length === 0) return 'the ALLOW policy allows nothing (traffic it applies to needs another ALLOW policy to get through)';
  if (outsideRules && rules.length === 1 && Object.keys(rules[0] ?? {}).length === 0) return `the ${action} policy matches all traffic it applies to`;
  if (ruleProblems.size === 0) return `the ${action} policy keeps its rules and applies at least where written`;
  const list = [...ruleProblems].sort((a, b) => a - b).join(', ');
  return action === 'ALLOW'
    ? `ALLOW rule(s) ${list} never match, so less traffic is allowed than written`
    : `${action} rule(s) ${list} are enforced without those parts, so more traffic is ${action === 'DENY' ? 'denied' : 'audited'} than written`;
}

function canonicalGroup(t: PolicyTargetRef): string {
  return t.group === undefined || t.group === '' ? 'core' : t.group;
}

/** Binds one target, or says why it cannot be bound. */
function bindTarget(t: PolicyTargetRef, namespace: string, ctx: L7PolicyContext, bind: (waypoint: string) => Binding): TargetFailure | undefined {
  const key = `${namespace}/${t.name}`;
  const group = canonicalGroup(t);
  if (t.namespace !== undefined && t.namespace !== '' && t.namespace !== namespace) {
    return { reason: 'Invalid', message: `${t.kind} ${t.namespace}/${t.name}: cross-namespace targets are not supported` };
  }
  if (t.kind === 'Gateway' && group === GATEWAY_GROUP) {
    if (!ctx.waypointOfGateway(key)) {
      return { reason: 'TargetNotFound', message: `no waypoint Gateway ${key} (a Gateway with gatewayClassName ${WAYPOINT_CLASS})` };
    }
    bind(key).all = true;
    return undefined;
  }
  if (t.kind === 'Service' && group === 'core') {
    const hostname = ctx.serviceHostname(key);
    if (hostname === undefined) return { reason: 'TargetNotFound', message: `Service ${key} was not found` };
    const waypoint = ctx.waypointOfService(key);
    if (waypoint === undefined) {
      return { reason: 'AncestorNotBound', message: `Service ${key} is not bound to a waypoint (label it ${Labels.useWaypoint}=<waypoint>)` };
    }
    bind(waypoint).services.add(`${namespace}/${hostname}`);
    return undefined;
  }
  if (t.kind === 'GatewayClass' && group === GATEWAY_GROUP) {
    if (namespace !== ctx.rootNamespace) {
      return { reason: 'Invalid', message: `a policy targeting GatewayClass ${t.name} must be in the root namespace ${ctx.rootNamespace}` };
    }
    if (t.name !== WAYPOINT_CLASS) return { reason: 'Invalid', message: `GatewayClass ${t.name} is not the waypoint class ${WAYPOINT_CLASS}` };
    for (const waypoint of ctx.waypoints?.() ?? []) bind(waypoint).all = true;
    return undefined;
  }
  if (t.kind === 'ServiceEntry' && group === ISTIO_NETWORKING_GROUP) {
    return { reason: 'UnsupportedValue', message: `ServiceEntry ${key}: weft reads no ServiceEntry objects` };
  }
  return { reason: 'Invalid', message: `${t.group ?? ''}/${t.kind} ${t.name} is not a supported target (Gateway, GatewayClass, Service)` };
}

function present(list: ReadonlyArray<string> | undefined): list is ReadonlyArray<string> {
  return list !== undefined && list.length > 0;
}

/** Spec-level rules of Istio's validation; what they refuse is noted, and the rest still applies. */
function checkSpec(policy: AuthorizationPolicy, targets: ReadonlyArray<PolicyTargetRef>, found: Findings): void {
  const spec = policy.spec;
  const note = (path: string, why: string): void => {
    found.invalid.push(`${path}: ${why}`);
  };
  const reported = (path: string): boolean => (policy.fieldProblems ?? []).some((p) => p.path === path);
  // parse.ts names this one itself; both are kept so ztunnel takes the selector and the waypoint the targets.
  if (spec.selector !== undefined && !reported('spec.targetRef') && !reported('spec.targetRefs')) {
    note('spec.targetRefs', 'cannot be used together with spec.selector');
  }
  if (targets.length > MAX_TARGETS) note('spec.targetRefs', `at most ${MAX_TARGETS} targets are allowed`);
  if (spec.action === 'CUSTOM') {
    if (spec.rules.length === 0) note('spec.rules', 'a CUSTOM policy without rules never applies; add an empty rule {} to apply it to every request');
    if (spec.provider === undefined || spec.provider.name === '') note('spec.provider.name', 'must be set for action CUSTOM');
    checkCustomRules(spec.rules, note);
  } else if (spec.provider !== undefined) {
    note('spec.provider', `only allowed with action CUSTOM, not ${spec.action}`);
  }
  if (spec.action === 'DENY' && spec.rules.length === 0) {
    note('spec.rules', 'a DENY policy without rules never applies; add an empty rule {} to deny every request');
  }
}

/** Identity-based fields Istio refuses in CUSTOM rules (weft enforces them in its DENY reading). */
function checkCustomRules(rules: ReadonlyArray<AuthorizationPolicyRule>, note: (path: string, why: string) => void): void {
  const fields = ['principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces', 'serviceAccounts', 'notServiceAccounts'] as const;
  for (const [i, r] of rules.entries()) {
    const at = r.index ?? i;
    for (const [j, f] of (r.from ?? []).entries()) {
      for (const field of fields) {
        if (present(f.source?.[field])) note(`spec.rules[${at}].from[${j}].source.${field}`, 'not supported with action CUSTOM');
      }
    }
    for (const [j, c] of (r.when ?? []).entries()) {
      if (['source.namespace', 'source.serviceAccount', 'source.trustDomain', 'source.principal'].includes(c.key) || c.key.startsWith('request.auth.')) {
        note(`spec.rules[${at}].when[${j}].key`, `${c.key} is not supported with action CUSTOM`);
      }
    }
  }
}

/** One rule's conversion state: parts it could not take, and whether any was invalid. */
interface RuleScan {
  policyNamespace: string;
  found: Findings;
  /** This rule holds a part weft cannot evaluate or Istio refuses. */
  broken: boolean;
  /** This rule holds an invalid part. */
  invalid: boolean;
}

/**
 * Undefined when an ALLOW rule holds a part weft cannot evaluate or Istio refuses (it never
 * matches); any other rule comes back without such parts, so it matches more.
 */
function convertRule(rule: AuthorizationPolicyRule, at: number, action: L7Action, policyNamespace: string, found: Findings): L7Rule | undefined {
  const path = `spec.rules[${at}]`;
  const scan: RuleScan = { policyNamespace, found, broken: false, invalid: false };
  const out: L7Rule = {};
  const from = alternatives(rule.from, `${path}.from`, 'source', scan, (s, p) => convertSource(s, p, scan));
  if (from !== undefined) out.from = from;
  const to = alternatives(rule.to, `${path}.to`, 'operation', scan, (o, p) => convertOperation(o, p, scan));
  if (to !== undefined) out.to = to;
  const when: L7Condition[] = [];
  for (const [i, c] of (rule.when ?? []).entries()) {
    const converted = convertCondition(c, `${path}.when[${i}]`, scan);
    if (converted !== undefined) when.push(converted);
  }
  if (when.length > 0) out.when = when;
  if (scan.invalid) found.invalidRules.add(at);
  if (action !== 'ALLOW' || !scan.broken) return out;
  if (!scan.invalid) found.droppedAllowRules++;
  return undefined;
}

function invalid(scan: RuleScan, path: string, why: string): void {
  scan.found.invalid.push(`${path}: ${why}`);
  scan.broken = true;
  scan.invalid = true;
}

/** Runs one field's conversion; an invalid value is noted and the field left out. */
function attempt<T>(scan: RuleScan, convert: () => T): T | undefined {
  try {
    return convert();
  } catch (err) {
    if (!(err instanceof InvalidPolicyField)) throw err;
    scan.found.invalid.push(err.message);
    scan.broken = true;
    scan.invalid = true;
    return undefined;
  }
}

/**
 * A `from` or `to` list. Istio refuses an empty list and an entry without fields; read
 * fail-safe, such an entry matches anything (a DENY matches more; an ALLOW rule is dropped).
 */
function alternatives<E extends object, T>(
  list: ReadonlyArray<Partial<Record<'source' | 'operation', E>>> | undefined,
  path: string,
  field: 'source' | 'operation',
  scan: RuleScan,
  convert: (entry: E, path: string) => T,
): T[] | undefined {
  if (list === undefined) return undefined;
  if (list.length === 0) {
    invalid(scan, path, 'must not be empty when present');
    return undefined;
  }
  return list.map((e, i) => {
    const entry = e[field];
    const p = `${path}[${i}].${field}`;
    const fields = entry === undefined ? [] : Object.values(entry) as ReadonlyArray<ReadonlyArray<string> | undefined>;
    if (entry === undefined || !fields.some(present)) invalid(scan, p, 'must set at least one field');
    return convert(entry ?? ({} as E), p);
  });
}

/** Non-empty strings, as Istio's validation wants them; otherwise the field is invalid. */
function strings(list: ReadonlyArray<string> | undefined, path: string): ReadonlyArray<string> {
  for (const [i, v] of (list ?? []).entries()) if (v === '') throw new InvalidPolicyField(`${path}[${i}]: must not be empty`);
  return list ?? [];
}

/**
 * Istio matches namespaces by a glob over the peer identity, `*` anywhere; StringMatch holds
 * one `*` at either end, which covers the forms in use. Undefined for the rest.
 */
function namespaceMatch(pattern: string): StringMatch | undefined {
  const stars = pattern.split('*').length - 1;
  if (stars === 0 || pattern === '*') return toStringMatch(pattern);
  if (stars === 1 && (pattern.startsWith('*') || pattern.endsWith('*'))) return toStringMatch(pattern);
  return undefined;
}

/** Namespace patterns; undefined (noted as unsupported) when one cannot be expressed. */
function namespaces(list: ReadonlyArray<string>, label: string, scan: RuleScan): StringMatch[] | undefined {
  const out: StringMatch[] = [];
  for (const v of list) {
    const m = namespaceMatch(v);
    if (m === undefined) {
      scan.found.unsupported.add(`${label} pattern "${v}"`);
      scan.broken = true;
      return undefined;
    }
    out.push(m);
  }
  return out;
}

/** Istio's `<namespace>/<service account>`, or a bare name meaning the policy's namespace. */
function serviceAccountOf(value: string, path: string, policyNamespace: string): string {
  const [ns, sa, extra] = value.split('/');
  if (value === '' || value.includes('*') || extra !== undefined || ns === '' || sa === '' || value.length > 320) {
    throw new InvalidPolicyField(`${path}: "${value}" is not <service account> or <namespace>/<service account> (no wildcards)`);
  }
  return sa === undefined ? `${policyNamespace}/${value}` : value;
}

function serviceAccounts(list: ReadonlyArray<string> | undefined, path: string, scan: RuleScan): string[] {
  const values = strings(list, path);
  // Istio caps the list; outside ALLOW rules a longer one is still evaluated as written.
  if (values.length > MAX_SERVICE_ACCOUNTS) invalid(scan, path, `at most ${MAX_SERVICE_ACCOUNTS} values are allowed`);
  return values.map((v, i) => serviceAccountOf(v, `${path}[${i}]`, scan.policyNamespace));
}

function setList<T, K extends keyof T>(target: T, key: K, list: T[K] & readonly unknown[] | undefined): void {
  if (list !== undefined && list.length > 0) target[key] = list;
}

function convertSource(src: AuthorizationSource, path: string, scan: RuleScan): L7Source {
  if ((present(src.serviceAccounts) || present(src.notServiceAccounts))
    && (present(src.principals) || present(src.notPrincipals) || present(src.namespaces) || present(src.notNamespaces))) {
    // Istio refuses the mix: an ALLOW rule holding it is dropped; elsewhere both fields are
    // kept as written (they AND), which is exactly what was asked for.
    invalid(scan, path, 'serviceAccounts cannot be combined with principals or namespaces');
  }
  const out: L7Source = {};
  const get = <T>(convert: () => T): T | undefined => attempt(scan, convert);
  setList(out, 'principals', get(() => strings(src.principals, `${path}.principals`).map(toPrincipalMatch)));
  setList(out, 'notPrincipals', get(() => strings(src.notPrincipals, `${path}.notPrincipals`).map(toPrincipalMatch)));
  setList(out, 'namespaces', get(() => namespaces(strings(src.namespaces, `${path}.namespaces`), 'source.namespaces', scan)));
  setList(out, 'notNamespaces', get(() => namespaces(strings(src.notNamespaces, `${path}.notNamespaces`), 'source.notNamespaces', scan)));
  setList(out, 'serviceAccounts', get(() => serviceAccounts(src.serviceAccounts, `${path}.serviceAccounts`, scan)));
  setList(out, 'notServiceAccounts', get(() => serviceAccounts(src.notServiceAccounts, `${path}.notServiceAccounts`, scan)));
  for (const f of ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const) {
    setList(out, f, get(() => strings(src[f], `${path}.${f}`).map((v, i) => toAddressMatch(v, `${path}.${f}[${i}]`))));
  }
  for (const f of ['requestPrincipals', 'notRequestPrincipals'] as const) {
    if (present(get(() => strings(src[f], `${path}.${f}`)))) {
      scan.found.jwt.add(`source.${f}`);
      scan.broken = true;
    }
  }
  return out;
}

function hostMatch(pattern: string): StringMatch {
  return toStringMatch(pattern.toLowerCase());
}

function pathMatch(pattern: string, path: string): L7PathMatch {
  const problem = pathProblem(pattern);
  if (problem !== undefined) throw new InvalidPolicyField(`${path}: "${pattern}": ${problem}`);
  return isPathTemplate(pattern) ? { template: pattern } : toStringMatch(pattern);
}

function convertOperation(op: AuthorizationOperation, path: string, scan: RuleScan): L7Operation {
  const out: L7Operation = {};
  const get = <T>(convert: () => T): T | undefined => attempt(scan, convert);
  setList(out, 'hosts', get(() => strings(op.hosts, `${path}.hosts`).map(hostMatch)));
  setList(out, 'notHosts', get(() => strings(op.notHosts, `${path}.notHosts`).map(hostMatch)));
  setList(out, 'ports', get(() => strings(op.ports, `${path}.ports`).map((p, i) => toPort(p, `${path}.ports[${i}]`))));
  setList(out, 'notPorts', get(() => strings(op.notPorts, `${path}.notPorts`).map((p, i) => toPort(p, `${path}.notPorts[${i}]`))));
  setList(out, 'methods', get(() => strings(op.methods, `${path}.methods`).map(toStringMatch)));
  setList(out, 'notMethods', get(() => strings(op.notMethods, `${path}.notMethods`).map(toStringMatch)));
  setList(out, 'paths', get(() => strings(op.paths, `${path}.paths`).map((p, i) => pathMatch(p, `${path}.paths[${i}]`))));
  setList(out, 'notPaths', get(() => strings(op.notPaths, `${path}.notPaths`).map((p, i) => pathMatch(p, `${path}.notPaths[${i}]`))));
  return out;
}

/** `name[inner]` with a non-empty name and inner part (Istio's map-key form). */
function bracketed(key: string, prefix: string): string | undefined {
  if (!key.startsWith(`${prefix}[`) || !key.endsWith(']')) return undefined;
  const inner = key.slice(prefix.length + 1, -1);
  return inner === '' ? undefined : inner;
}

const JWT_KEYS = new Set(['request.auth.principal', 'request.auth.audiences', 'request.auth.presenter']);

/** One `when` entry; undefined when it is left out (conditions AND, so the rule matches more). */
function convertCondition(cond: AuthorizationCondition, path: string, scan: RuleScan): L7Condition | undefined {
  return attempt(scan, () => {
    const values = strings(cond.values, `${path}.values`);
    const notValues = strings(cond.notValues, `${path}.notValues`);
    if (values.length === 0 && notValues.length === 0) throw new InvalidPolicyField(`${path}: must set values or notValues`);
    return conditionOf(cond.key, values, notValues, path, scan);
  });
}

function conditionOf(key: string, values: ReadonlyArray<string>, notValues: ReadonlyArray<string>, path: string, scan: RuleScan): L7Condition | undefined {
  const both = <T>(f: (v: string, path: string) => T): { values?: T[]; notValues?: T[] } => {
    const out: { values?: T[]; notValues?: T[] } = {};
    if (values.length > 0) out.values = values.map((v, i) => f(v, `${path}.values[${i}]`));
    if (notValues.length > 0) out.notValues = notValues.map((v, i) => f(v, `${path}.notValues[${i}]`));
    return out;
  };
  switch (key) {
    case 'source.ip':
    case 'remote.ip':
    case 'destination.ip':
      return { key, ...both(toAddressMatch) };
    case 'destination.port':
      return { key, ...both(toPort) };
    case 'source.principal':
      return { key, ...both(toPrincipalMatch) };
    case 'connection.sni':
      return { key, ...both(toStringMatch) };
    case 'source.serviceAccount':
      return { key, ...both((v, p) => serviceAccountOf(v, p, scan.policyNamespace)) };
    case 'source.trustDomain':
      return { key, ...both(trustDomainMatch) };
    case 'source.namespace': {
      const v = namespaces(values, 'when source.namespace', scan);
      const nv = namespaces(notValues, 'when source.namespace', scan);
      if (v === undefined || nv === undefined) return undefined;
      const out: { key: typeof key; values?: StringMatch[]; notValues?: StringMatch[] } = { key };
      setList(out, 'values', v);
      setList(out, 'notValues', nv);
      return out;
    }
  }
  const header = bracketed(key, 'request.headers');
  if (header !== undefined) return { key: 'request.headers', header: header.toLowerCase(), ...both(toStringMatch) };
  if (JWT_KEYS.has(key) || bracketed(key, 'request.auth.claims') !== undefined) {
    scan.found.jwt.add(`when ${key}`);
    scan.broken = true;
    return undefined;
  }
  if (key.startsWith('experimental.envoy.filters.') && /^[^[]+\[.+\]$/.test(key)) {
    scan.found.unsupported.add(`when ${key}`);
    scan.broken = true;
    return undefined;
  }
  throw new InvalidPolicyField(`${path}.key: unknown key "${key}"`);
}

/** At most one `*`, at either end, and no `/` (Istio's trust-domain rule). */
function trustDomainMatch(value: string, path: string): StringMatch {
  const stars = value.split('*').length - 1;
  const ok = !value.includes('/') && (stars === 0 || (stars === 1 && (value.startsWith('*') || value.endsWith('*'))));
  if (!ok) throw new InvalidPolicyField(`${path}: "${value}" is not a trust domain pattern (one "*" at the start or end at most)`);
  return toStringMatch(value);
}
