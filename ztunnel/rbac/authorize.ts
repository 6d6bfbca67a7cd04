// L4 authorization with Istio's semantics, as a pure function of the connection and the
// policies that apply to its destination:
//   a matching DENY denies; else no ALLOW policy allows; else a matching ALLOW allows; else deny.
// dryRun policies never decide, but the ones that would have matched are reported.
import { parseSpiffeId } from '#core/identity/spiffe.ts';
import type { Authorization, AuthorizationMatch, StringMatch } from '#core/config/model.ts';
import { cidrContains } from '#ztunnel/rbac/cidr.ts';

export interface L4Connection {
  /** The peer's SPIFFE id; absent for plaintext (non-mesh) connections. */
  sourcePrincipal?: string;
  /** The peer's namespace; derived from the principal when absent. */
  sourceNamespace?: string;
  sourceIp: string;
  destinationIp: string;
  destinationPort: number;
}

export interface AuthorizeDecision {
  allow: boolean;
  /** `<namespace>/<name>` of the policy that decided (none when no policy did). */
  policy?: string;
  /** Why, in words, for logs and HBONE 401 reasons. */
  reason: string;
  /** Dry-run policies that matched this connection, with the action they would have taken. */
  dryRun?: { policy: string; action: Authorization['action'] }[];
}

interface Facts {
  principals: string[];
  namespace: string | undefined;
  serviceAccount: string | undefined;
  sourceIp: string;
  destinationIp: string;
  destinationPort: number;
}

const SCHEME = 'spiffe://';

function facts(conn: L4Connection): Facts {
  let namespace = conn.sourceNamespace;
  let serviceAccount: string | undefined;
  const principals: string[] = [];
  if (conn.sourcePrincipal !== undefined && conn.sourcePrincipal !== '') {
    const p = conn.sourcePrincipal;
    // Istio writes principals without the scheme (`cluster.local/ns/a/sa/b`); accept both spellings.
    principals.push(p);
    if (p.startsWith(SCHEME)) principals.push(p.slice(SCHEME.length));
    try {
      const id = parseSpiffeId(p.startsWith(SCHEME) ? p : SCHEME + p);
      namespace ??= id.namespace;
      serviceAccount = `${id.namespace}/${id.serviceAccount}`;
    } catch {
      // Not a SPIFFE id: principal matches still apply, namespace/serviceAccount matches do not.
    }
  }
  return { principals, namespace, serviceAccount, sourceIp: conn.sourceIp, destinationIp: conn.destinationIp, destinationPort: conn.destinationPort };
}

function stringMatches(m: StringMatch, value: string): boolean {
  if ('exact' in m) return value === m.exact;
  if ('prefix' in m) return value.startsWith(m.prefix);
  if ('suffix' in m) return value.endsWith(m.suffix);
  return value !== '';
}

/** An absent value matches no pattern, so it fails a positive list and passes a not-list. */
function anyString(patterns: StringMatch[], values: string[]): boolean {
  return patterns.some((p) => values.some((v) => stringMatches(p, v)));
}

function field<T>(positive: T[], negative: T[], hit: (list: T[]) => boolean): boolean {
  if (positive.length > 0 && !hit(positive)) return false;
  if (negative.length > 0 && hit(negative)) return false;
  return true;
}

function matchHolds(m: AuthorizationMatch, f: Facts): boolean {
  const opt = (v: string | undefined): string[] => (v === undefined ? [] : [v]);
  return field(m.principals, m.notPrincipals, (l) => anyString(l, f.principals))
    && field(m.namespaces, m.notNamespaces, (l) => anyString(l, opt(f.namespace)))
    && field(m.serviceAccounts, m.notServiceAccounts, (l) => anyString(l, opt(f.serviceAccount)))
    && field(m.sourceIps, m.notSourceIps, (l) => l.some((c) => cidrContains(c, f.sourceIp)))
    && field(m.destinationIps, m.notDestinationIps, (l) => l.some((c) => cidrContains(c, f.destinationIp)))
    && field(m.destinationPorts, m.notDestinationPorts, (l) => l.includes(f.destinationPort));
}

/** Any rule holds; a rule holds when every clause holds; a clause holds when any match holds. */
function policyMatches(p: Authorization, f: Facts): boolean {
  return p.rules.some((r) => r.clauses.every((c) => c.matches.some((m) => matchHolds(m, f))));
}

const nameOf = (p: Authorization): string => `${p.namespace}/${p.name}`;

export function authorize(conn: L4Connection, policies: readonly Authorization[]): AuthorizeDecision {
  const f = facts(conn);
  const dryRun: { policy: string; action: Authorization['action'] }[] = [];
  const enforced: Authorization[] = [];
  for (const p of policies) {
    if (!p.dryRun) enforced.push(p);
    else if (policyMatches(p, f)) dryRun.push({ policy: nameOf(p), action: p.action });
  }
  const withDryRun = (d: AuthorizeDecision): AuthorizeDecision => (dryRun.length > 0 ? { ...d, dryRun } : d);

  for (const p of enforced) {
    if (p.action === 'DENY' && policyMatches(p, f)) {
      return withDryRun({ allow: false, policy: nameOf(p), reason: `denied by DENY policy ${nameOf(p)}` });
    }
  }
  const allows = enforced.filter((p) => p.action === 'ALLOW');
  if (allows.length === 0) return withDryRun({ allow: true, reason: 'no ALLOW policy applies' });
  for (const p of allows) {
    if (policyMatches(p, f)) return withDryRun({ allow: true, policy: nameOf(p), reason: `allowed by ALLOW policy ${nameOf(p)}` });
  }
  return withDryRun({ allow: false, reason: `no ALLOW policy matched (${allows.map(nameOf).join(', ')})` });
}
