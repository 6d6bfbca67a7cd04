// The Helm and Sprig template functions the chart uses, with Helm's semantics where they are
// easy to get wrong: `toYaml` sorts keys and drops the final newline, `indent` pads every
// line, `default` treats every empty value as unset, `lookup` answers an empty map when the
// object is absent (and always under `helm template`), `required` and `fail` stop the render.
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { formatValue, isMap, isTrue } from './go-template.ts';
import type { TemplateFunction } from './go-template.ts';

/** What `lookup` reads: the cluster's object, or undefined when there is none. */
export type LookupFn = (apiVersion: string, kind: string, namespace: string, name: string) => Record<string, unknown> | undefined;

export class RenderFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RenderFailure';
  }
}

function str(v: unknown): string {
  return formatValue(v);
}

function toYaml(v: unknown): string {
  if (v === undefined || v === null) return 'null';
  return stringify(v, { sortMapEntries: true, lineWidth: 0, aliasDuplicateObjects: false }).replace(/\n$/, '');
}

function indent(n: unknown, s: unknown): string {
  const pad = ' '.repeat(Number(n));
  return pad + str(s).replaceAll('\n', `\n${pad}`);
}

/** Go's %q: a double-quoted string with Go escapes (JSON's are the same for what charts hold). */
function goQuote(s: string): string {
  return JSON.stringify(s);
}

function printf(format: unknown, ...args: unknown[]): string {
  let i = 0;
  return str(format).replace(/%([%vsdqtfx])/g, (_m, verb: string) => {
    if (verb === '%') return '%';
    const a = args[i++];
    switch (verb) {
      case 'q': return goQuote(str(a));
      case 'd': return String(Math.trunc(Number(a)));
      case 'x': return Math.trunc(Number(a)).toString(16);
      default: return str(a);
    }
  });
}

function compare(op: string, a: unknown, b: unknown): boolean {
  if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) {
    throw new Error(`incompatible types for comparison (${op} ${typeof a} ${typeof b})`);
  }
  const x = a;
  const y = b as typeof x;
  switch (op) {
    case 'lt': return x < y;
    case 'le': return x <= y;
    case 'gt': return x > y;
    default: return x >= y;
  }
}

function equal(a: unknown, b: unknown): boolean {
  if ((a === undefined || a === null) && (b === undefined || b === null)) return true;
  if (typeof a === 'object' || typeof b === 'object') throw new Error('eq compares only basic values');
  return a === b;
}

export function helmFunctions(lookup: LookupFn | undefined): Record<string, TemplateFunction> {
  return {
    default: (dflt, given) => (isTrue(given) ? given : dflt),
    empty: (v) => !isTrue(v),
    required: (message, v) => {
      if (v === undefined || v === null || v === '') throw new RenderFailure(str(message));
      return v;
    },
    fail: (message) => {
      throw new RenderFailure(str(message));
    },
    coalesce: (...vs) => vs.find(isTrue),
    ternary: (yes, no, cond) => (isTrue(cond) ? yes : no),
    quote: (...vs) => vs.filter((v) => v !== undefined && v !== null).map((v) => goQuote(str(v))).join(' '),
    squote: (...vs) => vs.filter((v) => v !== undefined && v !== null).map((v) => `'${str(v)}'`).join(' '),
    toYaml,
    toJson: (v) => JSON.stringify(v ?? null),
    indent,
    nindent: (n, s) => `\n${indent(n, s)}`,
    trim: (s) => str(s).trim(),
    trimSuffix: (suffix, s) => (str(s).endsWith(str(suffix)) ? str(s).slice(0, -str(suffix).length || undefined) : str(s)),
    trimPrefix: (prefix, s) => (str(s).startsWith(str(prefix)) ? str(s).slice(str(prefix).length) : str(s)),
    trunc: (n, s) => str(s).slice(0, Number(n)),
    lower: (s) => str(s).toLowerCase(),
    upper: (s) => str(s).toUpperCase(),
    replace: (from, to, s) => str(s).replaceAll(str(from), str(to)),
    contains: (needle, s) => str(s).includes(str(needle)),
    hasPrefix: (prefix, s) => str(s).startsWith(str(prefix)),
    hasSuffix: (suffix, s) => str(s).endsWith(str(suffix)),
    join: (sep, list) => (Array.isArray(list) ? list.map(str).join(str(sep)) : str(list)),
    printf,
    print: (...vs) => vs.map(str).join(''),
    toString: (v: unknown) => str(v),
    int: (v) => Math.trunc(Number(v ?? 0)),
    eq: (a, ...bs) => bs.some((b) => equal(a, b)),
    ne: (a, b) => !equal(a, b),
    lt: (a, b) => compare('lt', a, b),
    le: (a, b) => compare('le', a, b),
    gt: (a, b) => compare('gt', a, b),
    ge: (a, b) => compare('ge', a, b),
    not: (v) => !isTrue(v),
    len: (v) => (typeof v === 'string' || Array.isArray(v) ? v.length : isMap(v) ? Object.keys(v).length : 0),
    index: (v, ...keys) => keys.reduce<unknown>((acc, k) => (Array.isArray(acc) ? acc[Number(k)] : isMap(acc) ? acc[str(k)] : undefined), v),
    list: (...vs) => vs,
    dict: (...kv) => {
      const out: Record<string, unknown> = {};
      for (let i = 0; i + 1 < kv.length; i += 2) out[str(kv[i])] = kv[i + 1];
      return out;
    },
    hasKey: (m, k) => isMap(m) && Object.hasOwn(m, str(k)),
    kindIs: (kind, v) => kindOf(v) === str(kind),
    b64enc: (s) => Buffer.from(str(s)).toString('base64'),
    sha256sum: (s) => createHash('sha256').update(str(s)).digest('hex'),
    lookup: (apiVersion, kind, namespace, name) => lookup?.(str(apiVersion), str(kind), str(namespace), str(name)) ?? {},
  };
}

function kindOf(v: unknown): string {
  if (v === undefined || v === null) return 'invalid';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (Array.isArray(v)) return 'slice';
  return 'map';
}
