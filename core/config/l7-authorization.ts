// The L7 authorization policy a waypoint enforces, as it crosses the push stream (plain JSON),
// and its validator. The controller turns an Istio AuthorizationPolicy with targetRefs into one
// of these per waypoint; Istio's string patterns arrive pre-split into StringMatch, so the
// waypoint never re-parses `*` forms. Every list is optional: absent or empty means "no
// constraint", as in Istio.
import { FieldError, arr, bool, isObj, item, obj, oneOf, str } from './fields.ts';
import type { Obj } from './fields.ts';
import { parseStringMatch } from './string-match.ts';
import type { AddressMatch, StringMatch } from './model.ts';

export const L7Action = { ALLOW: 'ALLOW', DENY: 'DENY', AUDIT: 'AUDIT' } as const;
export type L7Action = (typeof L7Action)[keyof typeof L7Action];

/** Istio's string forms, or an Istio path template (`{*}` one segment, `{**}` any rest). */
export type L7PathMatch = StringMatch | { template: string };

/** Fields AND together; a value list matches when any element does. */
export interface L7Source {
  /** Compared with the peer's SPIFFE id without its `spiffe://` scheme. */
  principals?: StringMatch[];
  notPrincipals?: StringMatch[];
  namespaces?: StringMatch[];
  notNamespaces?: StringMatch[];
  /** `<namespace>/<service account>`, exact (Istio allows no wildcard here). */
  serviceAccounts?: string[];
  notServiceAccounts?: string[];
  ipBlocks?: AddressMatch[];
  notIpBlocks?: AddressMatch[];
  remoteIpBlocks?: AddressMatch[];
  notRemoteIpBlocks?: AddressMatch[];
}

export interface L7Operation {
  /** Compared case-insensitively with the Host / :authority as sent (a port included). */
  hosts?: StringMatch[];
  notHosts?: StringMatch[];
  ports?: number[];
  notPorts?: number[];
  methods?: StringMatch[];
  notMethods?: StringMatch[];
  paths?: L7PathMatch[];
  notPaths?: L7PathMatch[];
}

export const L7StringConditionKeys = [
  'source.namespace', 'source.principal', 'source.trustDomain', 'connection.sni',
] as const;
export const L7AddressConditionKeys = ['source.ip', 'remote.ip', 'destination.ip'] as const;

/** One `when` entry; values OR together, notValues exclude. */
export type L7Condition =
  | { key: 'request.headers'; /** lowercase */ header: string; values?: StringMatch[]; notValues?: StringMatch[] }
  | { key: (typeof L7StringConditionKeys)[number]; values?: StringMatch[]; notValues?: StringMatch[] }
  | { key: (typeof L7AddressConditionKeys)[number]; values?: AddressMatch[]; notValues?: AddressMatch[] }
  | { key: 'destination.port'; values?: number[]; notValues?: number[] }
  | { key: 'source.serviceAccount'; /** `<namespace>/<service account>` */ values?: string[]; notValues?: string[] };

/** Any `from` AND any `to` AND every `when`; an absent or empty list places no constraint. */
export interface L7Rule {
  from?: L7Source[];
  to?: L7Operation[];
  when?: L7Condition[];
}

export interface L7Authorization {
  namespace: string;
  name: string;
  action: L7Action;
  /** The waypoint that enforces it: `<namespace>/<gateway name>`. */
  waypoint: string;
  /** Present when targeted at Services: the policy applies only to requests for these (`<namespace>/<hostname>`). */
  services?: string[];
  /** A policy matches when any rule matches; an ALLOW without rules matches nothing. */
  rules: L7Rule[];
  /** Evaluated and reported, never enforced (annotation `istio.io/dry-run`). */
  dryRun: boolean;
}

// Envoy's URI template literal characters (RFC 3986 pchar without `*` and `=`); Istio checks
// template segments against the same set plus `=`.
const TEMPLATE_LITERAL = /^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$/;
export const PATH_TEMPLATE_ONE = '{*}';
export const PATH_TEMPLATE_ANY = '{**}';

export function isPathTemplate(path: string): boolean {
  return path.includes(PATH_TEMPLATE_ONE) || path.includes(PATH_TEMPLATE_ANY);
}

/**
 * What is wrong with a `paths` entry by Istio's rules, or undefined: braces only as a whole
 * `{*}` or `{**}` segment, `{**}` the last operator, and template segments plain characters.
 */
export function pathProblem(path: string): string | undefined {
  const template = isPathTemplate(path);
  if (template && !path.startsWith('/')) return 'a path template must start with "/"';
  let seenAny = false;
  for (const seg of path.replace(/^\/+|\/+$/g, '').split('/')) {
    if (seg === PATH_TEMPLATE_ONE || seg === PATH_TEMPLATE_ANY) {
      if (seenAny) return '{**} must be the last operator';
      seenAny = seg === PATH_TEMPLATE_ANY;
      continue;
    }
    if (seg.includes('{') || seg.includes('}')) return `segment "${seg}" holds "{" or "}" outside {*} or {**}`;
    if (template && seg === '') return 'a path template may not hold an empty segment ("//")';
    if (template && !TEMPLATE_LITERAL.test(seg)) return `segment "${seg}" of a template may hold only unreserved, sub-delim, ":" and "@" characters`;
  }
  return undefined;
}

const NAMESPACED_KEY = /^[^/\s]+\/[^/\s]+$/;

function keyed(v: unknown, path: string): string {
  if (typeof v !== 'string' || !NAMESPACED_KEY.test(v)) throw new FieldError(path, 'must be <namespace>/<name>');
  return v;
}

/** Refuses fields this reader does not know: a newer controller's constraint must not be skipped silently. */
function known(o: Obj, keys: readonly string[], path: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw new FieldError(`${path}.${k}`, 'is not a known field');
}

function optList<T>(o: Obj, key: string, path: string, read: (v: unknown, path: string) => T): T[] | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new FieldError(`${path}.${key}`, 'must be an array');
  return v.map((x, i) => read(x, `${path}.${key}[${i}]`));
}

/** Copies the listed optional array fields that are present. */
function copyLists<T extends object>(out: T, o: Obj, path: string, readers: Readonly<Record<string, (v: unknown, path: string) => unknown>>): T {
  for (const [key, read] of Object.entries(readers)) {
    const list = optList(o, key, path, read);
    if (list !== undefined) Object.assign(out, { [key]: list });
  }
  return out;
}



function pathMatch(v: unknown, path: string): L7PathMatch {
  if (isObj(v) && 'template' in v) {
    known(v, ['template'], path);
    const template = str(v, 'template', path);
    const problem = isPathTemplate(template) ? pathProblem(template) : 'must contain {*} or {**}';
    if (problem !== undefined) throw new FieldError(`${path}.template`, problem);
    return { template };
  }
  return parseStringMatch(v, path);
}

const serviceAccount = (v: unknown, path: string): string => keyed(v, path);

const SOURCE_READERS = {
  principals: parseStringMatch, notPrincipals: parseStringMatch,
  namespaces: parseStringMatch, notNamespaces: parseStringMatch,
  serviceAccounts: serviceAccount, notServiceAccounts: serviceAccount,
  ipBlocks: item.cidr, notIpBlocks: item.cidr,
  remoteIpBlocks: item.cidr, notRemoteIpBlocks: item.cidr,
} as const;

const OPERATION_READERS = {
  hosts: parseStringMatch, notHosts: parseStringMatch,
  ports: item.port, notPorts: item.port,
  methods: parseStringMatch, notMethods: parseStringMatch,
  paths: pathMatch, notPaths: pathMatch,
} as const;

function source(v: unknown, path: string): L7Source {
  const o = obj(v, path);
  known(o, Object.keys(SOURCE_READERS), path);
  return copyLists<L7Source>({}, o, path, SOURCE_READERS);
}

function operation(v: unknown, path: string): L7Operation {
  const o = obj(v, path);
  known(o, Object.keys(OPERATION_READERS), path);
  return copyLists<L7Operation>({}, o, path, OPERATION_READERS);
}

const CONDITION_KEYS = [
  'request.headers', ...L7StringConditionKeys, ...L7AddressConditionKeys, 'destination.port', 'source.serviceAccount',
] as const;

function condition(v: unknown, path: string): L7Condition {
  const o = obj(v, path);
  const key = oneOf(o, 'key', path, CONDITION_KEYS);
  known(o, key === 'request.headers' ? ['key', 'header', 'values', 'notValues'] : ['key', 'values', 'notValues'], path);
  if (o['values'] === undefined && o['notValues'] === undefined) throw new FieldError(path, 'must set values or notValues');
  const lists = <T>(read: (v: unknown, path: string) => T): { values?: T[]; notValues?: T[] } =>
    copyLists<{ values?: T[]; notValues?: T[] }>({}, o, path, { values: read, notValues: read });
  switch (key) {
    case 'request.headers': {
      const header = str(o, 'header', path);
      if (header !== header.toLowerCase()) throw new FieldError(`${path}.header`, 'must be lowercase');
      return { key, header, ...lists(parseStringMatch) };
    }
    case 'source.ip':
    case 'remote.ip':
    case 'destination.ip':
      return { key, ...lists(item.cidr) };
    case 'destination.port':
      return { key, ...lists(item.port) };
    case 'source.serviceAccount':
      return { key, ...lists(serviceAccount) };
    case 'source.namespace':
    case 'source.principal':
    case 'source.trustDomain':
    case 'connection.sni':
      return { key, ...lists(parseStringMatch) };
  }
}

function rule(v: unknown, path: string): L7Rule {
  const o = obj(v, path);
  known(o, ['from', 'to', 'when'], path);
  return copyLists<L7Rule>({}, o, path, { from: source, to: operation, when: condition });
}

/** Checks every field of a pushed L7 policy and copies it into a fresh value; throws FieldError. */
export function parseL7Authorization(v: unknown, path: string): L7Authorization {
  const o = obj(v, path);
  known(o, ['namespace', 'name', 'action', 'waypoint', 'services', 'rules', 'dryRun'], path);
  const out: L7Authorization = {
    namespace: str(o, 'namespace', path),
    name: str(o, 'name', path),
    action: oneOf(o, 'action', path, Object.values(L7Action)),
    waypoint: keyed(o['waypoint'], `${path}.waypoint`),
    rules: arr(o, 'rules', path, rule),
    dryRun: bool(o, 'dryRun', path),
  };
  const services = optList(o, 'services', path, keyed);
  if (services !== undefined) {
    // An empty list would read as "every Service" to a careless reader; Istio has no such form.
    if (services.length === 0) throw new FieldError(`${path}.services`, 'must not be empty when present');
    out.services = services;
  }
  return out;
}
