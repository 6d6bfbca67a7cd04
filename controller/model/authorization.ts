// AuthorizationPolicy → the L4 Authorization ztunnel enforces, with Istio's rules for what
// ztunnel cannot see: L7 attributes make an ALLOW rule match nothing and are dropped from
// a DENY rule, so an unsupported policy is always stricter, never looser. Values that turn
// out invalid here (a bad CIDR, port, service account) follow the same rule, as do the
// fields the parser could not use (already applied to the policy it hands over); the
// Accepted condition then says False and names every such field.
import type {
  Authorization,
  AuthorizationClause,
  AuthorizationMatch,
  AuthorizationRule,
  PolicyScope,
  StringMatch,
} from '#core/config/model.ts';
import type { AuthorizationCondition, AuthorizationPolicy, AuthorizationPolicyRule } from '#controller/source/types.ts';
import type { ResourceCondition } from '#controller/model/types.ts';
import { formatFieldProblems } from '#controller/source/fields.ts';
import { Annotations } from '#controller/model/labels.ts';
import {
  InvalidPolicyField,
  toAddressMatch,
  toPort,
  toPrincipalMatch,
  toServiceAccountMatch,
  toStringMatch,
} from '#controller/model/string-match.ts';

export interface ConvertedPolicy {
  /** Absent when the policy is not for ztunnel (waypoint-targeted) or was not accepted. */
  authorization?: Authorization;
  /** For WORKLOAD_SELECTOR policies: the labels a workload must carry. */
  selector?: Readonly<Record<string, string>>;
  conditions: ResourceCondition[];
}

export function emptyMatch(): AuthorizationMatch {
  return {
    namespaces: [], notNamespaces: [], principals: [], notPrincipals: [], serviceAccounts: [], notServiceAccounts: [],
    sourceIps: [], notSourceIps: [], destinationIps: [], notDestinationIps: [], destinationPorts: [], notDestinationPorts: [],
  };
}

/** `when` keys ztunnel can evaluate. */
const L4_WHEN_KEYS = new Set(['source.ip', 'source.namespace', 'source.principal', 'destination.ip', 'destination.port']);
/** Keys Istio knows that only an L7 proxy can evaluate. */
const L7_WHEN_KEY = /^(request\.|remote\.ip$|connection\.sni$|experimental\.)/;

export function scopeFor(policyNamespace: string, hasSelector: boolean, rootNamespace: string): PolicyScope {
  if (hasSelector) return 'WORKLOAD_SELECTOR';
  return policyNamespace === rootNamespace ? 'GLOBAL' : 'NAMESPACE';
}

/** `spec.rules[3].from[0]` → 3: parse.ts names every problem inside a rule this way. */
const RULE_PATH = /^spec\.rules\[(\d+)\]/;

export function convertAuthorizationPolicy(policy: AuthorizationPolicy, rootNamespace: string): ConvertedPolicy {
  const { namespace, name } = policy.metadata;
  const spec = policy.spec;
  const fieldProblems = policy.fieldProblems ?? [];
  /** Invalid values found while converting, as `path: message`. */
  const invalid: string[] = [];
  const accepted = (status: 'True' | 'False', reason: string, message: string): ResourceCondition => ({
    kind: 'AuthorizationPolicy', namespace, name, type: 'Accepted', status, reason, message,
  });
  /** With field problems the policy is not accepted as written, whatever else holds. */
  const reported = (status: 'True' | 'False', reason: string, message: string, effect?: string): ResourceCondition => {
    if (fieldProblems.length === 0 && invalid.length === 0) return accepted(status, reason, message);
    const listed = [formatFieldProblems(fieldProblems), ...invalid].filter((x) => x !== '').join('; ');
    const parts = [`fields weft cannot use: ${listed}`, effect === undefined ? undefined : `fail-safe: ${effect}`, message];
    return accepted('False', 'InvalidField', parts.filter((x) => x !== undefined).join('; '));
  };
  const targets = spec.targetRef === undefined ? spec.targetRefs : [spec.targetRef, ...spec.targetRefs];
  // With a selector as well (invalid, reported by the parser) ztunnel still enforces on the
  // selected workloads, while the waypoint takes the targets: that covers both readings.
  if (targets.length > 0 && spec.selector === undefined) {
    const names = targets.map((t) => `${t.kind}/${t.name}`).join(', ');
    return { conditions: [reported('True', 'WaypointPolicy', `targets ${names}: enforced by the waypoint, not by ztunnel`, failSafeEffect(policy, new Set()))] };
  }
  if (spec.action === 'AUDIT' || spec.action === 'CUSTOM') {
    return { conditions: [reported('False', 'UnsupportedValue', `action ${spec.action} is not supported by ztunnel; the policy is not enforced`)] };
  }
  const action = spec.action;
  const l7 = new Set<string>();
  const rules: AuthorizationRule[] = [];
  let dropped = 0;
  const invalidRules = new Set<number>();
  spec.rules.forEach((rule, i) => {
    const at = rule.index ?? i;
    const before = invalid.length;
    const converted = convertRule(rule, `spec.rules[${at}]`, action, l7, invalid);
    if (invalid.length > before) invalidRules.add(at);
    else if (converted === undefined) dropped++;
    if (converted !== undefined) rules.push(converted);
  });
  const authorization: Authorization = {
    name,
    namespace,
    scope: scopeFor(namespace, spec.selector !== undefined, rootNamespace),
    action,
    rules,
    dryRun: policy.metadata.annotations[Annotations.dryRun] === 'true',
  };
  const conditions: ResourceCondition[] = [];
  const effect = failSafeEffect(policy, invalidRules);
  if (l7.size === 0) conditions.push(reported('True', 'Accepted', `enforced by ztunnel (${authorization.scope})`, effect));
  else {
    const fields = [...l7].sort().join(', ');
    const l7Effect = action === 'ALLOW'
      ? `${dropped} ALLOW rule(s) using them never match, so less traffic is allowed than written`
      : 'they were removed from the DENY rules, so more traffic is denied than written';
    conditions.push(reported('True', 'UnsupportedValue', `ztunnel cannot see HTTP attributes (${fields}): ${l7Effect}; attach the policy to a waypoint (targetRefs) to enforce them`, effect));
  }
  const out: ConvertedPolicy = { authorization, conditions };
  if (spec.selector !== undefined) out.selector = spec.selector.matchLabels;
  return out;
}

/**
 * What weft enforces instead of the fields it could not use (parse.ts applied it to the
 * policy; `invalidRules` are the rules whose values failed here). Undefined when nothing
 * was wrong.
 */
function failSafeEffect(policy: AuthorizationPolicy, invalidRules: ReadonlySet<number>): string | undefined {
  const ruleProblems = new Set(invalidRules);
  let outsideRules = false;
  for (const p of policy.fieldProblems ?? []) {
    const m = RULE_PATH.exec(p.path);
    if (m === null) outsideRules = true;
    else ruleProblems.add(Number(m[1]));
  }
  if (!outsideRules && ruleProblems.size === 0) return undefined;
  const { action, rules } = policy.spec;
  if (outsideRules && action === 'ALLOW') {
    return 'none of its rules are used, so the policy allows nothing (traffic it applies to needs another ALLOW policy to get through)';
  }
  if (outsideRules && rules.length === 1 && Object.keys(rules[0] ?? {}).length === 0) return `the ${action} policy matches all traffic it applies to`;
  if (ruleProblems.size === 0) return `the ${action} policy keeps its rules and applies at least where written`;
  const list = [...ruleProblems].sort((a, b) => a - b).join(', ');
  return action === 'ALLOW'
    ? `ALLOW rule(s) ${list} never match, so less traffic is allowed than written`
    : `${action} rule(s) ${list} are enforced without those parts, so more traffic is ${action === 'DENY' ? 'denied' : 'matched'} than written`;
}

/**
 * One Istio rule → one rule of clauses: sources (any of), operations (any of), then one
 * clause per condition (all of). Returns undefined when an ALLOW rule needs L7 fields or
 * holds an invalid value; a DENY rule instead loses the clause holding it, matching more.
 */
function convertRule(rule: AuthorizationPolicyRule, path: string, action: 'ALLOW' | 'DENY', l7: Set<string>, invalid: string[]): AuthorizationRule | undefined {
  const usedL7 = new Set<string>();
  const clauses: AuthorizationClause[] = [];
  let broken = false;
  const attempt = <T>(convert: () => T): T | undefined => {
    try {
      return convert();
    } catch (err) {
      if (!(err instanceof InvalidPolicyField)) throw err;
      invalid.push(err.message);
      broken = true;
      return undefined;
    }
  };
  if (rule.from !== undefined && rule.from.length > 0) {
    const from = rule.from;
    const matches = attempt(() => from.map((f, i) => convertSource(f.source, `${path}.from[${i}].source`, usedL7)));
    if (matches !== undefined) clauses.push({ matches });
  }
  if (rule.to !== undefined && rule.to.length > 0) {
    const to = rule.to;
    const matches = attempt(() => to.map((t, i) => convertOperation(t.operation, `${path}.to[${i}].operation`, usedL7)));
    if (matches !== undefined) clauses.push({ matches });
  }
  for (const [i, cond] of (rule.when ?? []).entries()) {
    const match = attempt(() => convertCondition(cond, `${path}.when[${i}]`, usedL7));
    if (match !== undefined) clauses.push({ matches: [match] });
  }
  for (const f of usedL7) l7.add(f);
  if (action === 'ALLOW' && (broken || usedL7.size > 0)) return undefined;
  return { clauses };
}

function present(list: ReadonlyArray<string> | undefined): list is ReadonlyArray<string> {
  return list !== undefined && list.length > 0;
}

function anyField(fields: object): boolean {
  return (Object.values(fields) as ReadonlyArray<ReadonlyArray<string> | undefined>).some(present);
}

type Source = NonNullable<NonNullable<AuthorizationPolicyRule['from']>[number]['source']>;
type Operation = NonNullable<NonNullable<AuthorizationPolicyRule['to']>[number]['operation']>;

function convertSource(src: Source | undefined, path: string, l7: Set<string>): AuthorizationMatch {
  if (src === undefined || !anyField(src)) throw new InvalidPolicyField(`${path}: must set at least one field`);
  if ((present(src.serviceAccounts) || present(src.notServiceAccounts)) && (present(src.principals) || present(src.notPrincipals) || present(src.namespaces) || present(src.notNamespaces))) {
    throw new InvalidPolicyField(`${path}: serviceAccounts cannot be combined with principals or namespaces`);
  }
  for (const f of ['requestPrincipals', 'notRequestPrincipals', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const) {
    if (present(src[f])) l7.add(`source.${f}`);
  }
  const m = emptyMatch();
  const strings = (list: ReadonlyArray<string> | undefined, f: (s: string) => StringMatch): StringMatch[] => (list ?? []).map(f);
  m.principals = strings(src.principals, toPrincipalMatch);
  m.notPrincipals = strings(src.notPrincipals, toPrincipalMatch);
  m.namespaces = strings(src.namespaces, toStringMatch);
  m.notNamespaces = strings(src.notNamespaces, toStringMatch);
  m.serviceAccounts = (src.serviceAccounts ?? []).map((s, i) => toServiceAccountMatch(s, `${path}.serviceAccounts[${i}]`));
  m.notServiceAccounts = (src.notServiceAccounts ?? []).map((s, i) => toServiceAccountMatch(s, `${path}.notServiceAccounts[${i}]`));
  m.sourceIps = (src.ipBlocks ?? []).map((s, i) => toAddressMatch(s, `${path}.ipBlocks[${i}]`));
  m.notSourceIps = (src.notIpBlocks ?? []).map((s, i) => toAddressMatch(s, `${path}.notIpBlocks[${i}]`));
  // Validated even though dropped: a typo must not hide behind the L7 rule.
  for (const f of ['remoteIpBlocks', 'notRemoteIpBlocks'] as const) (src[f] ?? []).forEach((s, i) => toAddressMatch(s, `${path}.${f}[${i}]`));
  return m;
}

function convertOperation(op: Operation | undefined, path: string, l7: Set<string>): AuthorizationMatch {
  if (op === undefined || !anyField(op)) throw new InvalidPolicyField(`${path}: must set at least one field`);
  for (const f of ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const) {
    if (present(op[f])) l7.add(`operation.${f}`);
  }
  const m = emptyMatch();
  m.destinationPorts = (op.ports ?? []).map((p, i) => toPort(p, `${path}.ports[${i}]`));
  m.notDestinationPorts = (op.notPorts ?? []).map((p, i) => toPort(p, `${path}.notPorts[${i}]`));
  return m;
}

/** undefined = an L7 condition (recorded in `l7`), which a DENY drops. */
function convertCondition(cond: AuthorizationCondition, path: string, l7: Set<string>): AuthorizationMatch | undefined {
  const values = cond.values ?? [];
  const notValues = cond.notValues ?? [];
  if (values.length === 0 && notValues.length === 0) throw new InvalidPolicyField(`${path}: must set values or notValues`);
  if (!L4_WHEN_KEYS.has(cond.key)) {
    if (!L7_WHEN_KEY.test(cond.key)) throw new InvalidPolicyField(`${path}.key: unknown key "${cond.key}"`);
    l7.add(`when ${cond.key}`);
    return undefined;
  }
  const m = emptyMatch();
  switch (cond.key) {
    case 'source.ip':
      m.sourceIps = values.map((v, i) => toAddressMatch(v, `${path}.values[${i}]`));
      m.notSourceIps = notValues.map((v, i) => toAddressMatch(v, `${path}.notValues[${i}]`));
      break;
    case 'destination.ip':
      m.destinationIps = values.map((v, i) => toAddressMatch(v, `${path}.values[${i}]`));
      m.notDestinationIps = notValues.map((v, i) => toAddressMatch(v, `${path}.notValues[${i}]`));
      break;
    case 'destination.port':
      m.destinationPorts = values.map((v, i) => toPort(v, `${path}.values[${i}]`));
      m.notDestinationPorts = notValues.map((v, i) => toPort(v, `${path}.notValues[${i}]`));
      break;
    case 'source.namespace':
      m.namespaces = values.map(toStringMatch);
      m.notNamespaces = notValues.map(toStringMatch);
      break;
    case 'source.principal':
      m.principals = values.map(toPrincipalMatch);
      m.notPrincipals = notValues.map(toPrincipalMatch);
      break;
  }
  return m;
}
