// The pure parts of Gateway API filters: header modifiers on a plain headers record, the
// redirect a RequestRedirect answers with, URLRewrite's path and host, and whether a request
// is mirrored, plus a VirtualService's character-wise prefix rewrite. The socket code applies
// the results; nothing here does I/O.
import type {
  Fraction, HeaderModifier, PathModifier, PrefixReplace, RedirectStatusCode, RequestMirror, RequestRedirect, RouteMatch, UrlRewrite,
} from '#core/config/routes.ts';

/** Headers as Node carries them: one string, or several values (as for set-cookie). */
export type HeaderRecord = Record<string, string | string[] | undefined>;

function keysNamed(headers: Readonly<HeaderRecord>, lower: string): string[] {
  return Object.keys(headers).filter((k) => k.toLowerCase() === lower);
}

/**
 * Applies set (overwrite), add (append to any existing value, joined with ",") and remove, all
 * with case-insensitive names, to a copy of the headers. Every header a modifier touches is
 * written under its lower-case name; the others keep theirs.
 */
export function modifyHeaders(headers: Readonly<HeaderRecord>, modifier: HeaderModifier): HeaderRecord {
  const out: HeaderRecord = { ...headers };
  const take = (lower: string): (string | string[])[] => {
    const values: (string | string[])[] = [];
    for (const k of keysNamed(out, lower)) {
      const v = out[k];
      if (v !== undefined) values.push(v);
      delete out[k];
    }
    return values;
  };
  for (const { name, value } of modifier.set) {
    const lower = name.toLowerCase();
    take(lower);
    out[lower] = value;
  }
  for (const { name, value } of modifier.add) {
    const lower = name.toLowerCase();
    const existing = take(lower).flat();
    // set-cookie cannot be folded into one line (RFC 6265); every other header can (RFC 9110 5.3).
    if (existing.length === 0) out[lower] = value;
    else if (lower === 'set-cookie') out[lower] = [...existing, value];
    else out[lower] = [...existing, value].join(',');
  }
  for (const name of modifier.remove) take(name.toLowerCase());
  return out;
}

function splitQuery(path: string): { path: string; query: string } {
  const q = path.indexOf('?');
  return q === -1 ? { path, query: '' } : { path: path.slice(0, q), query: path.slice(q) };
}

/**
 * The path a ReplaceFullPath or ReplacePrefixMatch modifier gives (the query string is kept).
 * ReplacePrefixMatch works on whole path elements and ignores trailing slashes, as the spec's
 * table shows: `/foo/bar` with prefix `/foo` and `/xyz` gives `/xyz/bar`, with `` or `/` gives
 * `/bar`. The controller only pairs it with a single PathPrefix match; for any other match the
 * path is returned unchanged.
 */
export function rewritePath(path: string, match: RouteMatch, modifier: PathModifier): string {
  const { path: p, query } = splitQuery(path);
  if (modifier.type === 'ReplaceFullPath') return modifier.replaceFullPath + query;
  if (match.protocol !== 'http' || match.path.type !== 'PathPrefix') return path;
  const prefix = match.path.value === '/' ? '' : match.path.value;
  if (p !== prefix && !p.startsWith(`${prefix}/`)) return path;
  const rest = p.slice(prefix.length);
  const replacement = modifier.replacePrefixMatch.replace(/\/+$/, '');
  const result = replacement + rest;
  return (result === '' ? '/' : result) + query;
}

/**
 * A VirtualService prefix rewrite (Envoy's `prefix_rewrite`): unlike ReplacePrefixMatch it
 * works on characters, so `/v1` over `/v1beta/x` leaves `beta/x` behind the replacement. A
 * path without the prefix is returned unchanged; the query string is kept.
 */
export function replacePrefix(path: string, r: PrefixReplace): string {
  const { path: p, query } = splitQuery(path);
  const head = p.slice(0, r.prefix.length);
  const has = r.ignoreCase === true ? head.toLowerCase() === r.prefix.toLowerCase() : head === r.prefix;
  if (!has) return path;
  return r.replacement + p.slice(r.prefix.length) + query;
}

/** The path a rewrite or redirect gives: a Gateway API path modifier, a prefix replacement, or none. */
export function changedPath(path: string, match: RouteMatch, change: Pick<UrlRewrite, 'path' | 'replacePrefix'>): string {
  if (change.path !== undefined) return rewritePath(path, match, change.path);
  if (change.replacePrefix !== undefined) return replacePrefix(path, change.replacePrefix);
  return path;
}

/** URLRewrite's hostname replaces the Host header; without one the host stays. */
export function rewriteHost(host: string, rewrite: UrlRewrite): string {
  return rewrite.hostname ?? host;
}

/** Where the request arrived: what a redirect keeps unless the filter says otherwise. */
export interface RedirectOrigin {
  scheme: 'http' | 'https';
  /** The Host header (or :authority); a port in it is ignored. */
  host: string;
  /** The Service port the request was sent to (the spec's listener port). */
  port: number;
  /** With the query string, which the redirect keeps. */
  path: string;
}

function hostWithoutPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  // More than one colon is a bare IPv6 address, which has no port to strip.
  return colon === -1 || host.indexOf(':', colon + 1) !== -1 ? host : host.slice(0, colon);
}

const DEFAULT_PORT = { http: 80, https: 443 } as const;

/**
 * The response a RequestRedirect gives. Scheme and host default to the request's. The port is
 * the filter's; else the scheme's well-known port when the filter sets a scheme; else the
 * port the request arrived on. It is left out of Location when it is the scheme's default.
 */
export function redirect(origin: RedirectOrigin, filter: RequestRedirect, match: RouteMatch): { status: RedirectStatusCode; location: string } {
  const scheme = filter.scheme ?? origin.scheme;
  const host = filter.hostname ?? hostWithoutPort(origin.host);
  const port = filter.port ?? (filter.scheme !== undefined ? DEFAULT_PORT[filter.scheme] : origin.port);
  const path = changedPath(origin.path, match, filter);
  const authority = port === DEFAULT_PORT[scheme] ? host : `${host}:${port}`;
  return { status: filter.statusCode, location: `${scheme}://${authority}${path}` };
}

/** Whether this request is mirrored: numerator/denominator of requests are. `random` is in [0, 1). */
export function mirrorWanted(mirror: RequestMirror, random: () => number): boolean {
  return fractionHit(mirror.fraction, random);
}

/** Whether this request falls in `numerator` of every `denominator`; random() is drawn only when it decides. */
export function fractionHit(fraction: Fraction, random: () => number): boolean {
  const { numerator, denominator } = fraction;
  if (numerator <= 0) return false;
  if (numerator >= denominator) return true;
  return random() * denominator < numerator;
}
