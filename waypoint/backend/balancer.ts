// Load balancing among the usable endpoints of one destination (service, subset, port), as
// DestinationRule `loadBalancer` asks: round robin, least request (power of two choices over
// the requests each endpoint has in flight), random, and consistent hashing on a request key
// (ring hash or Maglev). Pure apart from the per-destination cursor and cached hash tables,
// which the caller owns; endpoints are identified by uid.
import type { HashAlgorithm, HashKey, LoadBalancer } from '#core/config/routes.ts';

/** What a consistent hash may be computed from. */
export interface HashInput {
  header(name: string): string | undefined;
  sourceIp: string;
  /** Path with query. */
  path: string;
}

/** Per-destination memory of the balancer: the round robin cursor and the last hash table built. */
export interface BalancerState {
  cursor: number;
  table?: { key: string; table: HashTable };
}

export interface PickInput {
  /** Usable endpoint uids, sorted (the caller sorts so a table is stable across calls). */
  candidates: readonly string[];
  lb: LoadBalancer | undefined;
  /** Requests in flight per uid (least request). */
  inFlight(uid: string): number;
  random: () => number;
  hash?: HashInput;
  /** The hash key already worked out (a generated cookie); wins over `hash`. */
  hashValue?: string;
}

/** Istio's default when a DestinationRule names no balancer. */
export const DEFAULT_LOAD_BALANCER: LoadBalancer = { simple: 'LEAST_REQUEST' };

/** Undefined only when there is no candidate. */
export function pickEndpoint(state: BalancerState, input: PickInput): string | undefined {
  const { candidates } = input;
  if (candidates.length <= 1) return candidates[0];
  const lb = input.lb ?? DEFAULT_LOAD_BALANCER;
  if ('consistentHash' in lb) {
    const key = input.hashValue ?? (input.hash === undefined ? undefined : hashKeyValue(lb.consistentHash.key, input.hash));
    // Envoy falls back to a random endpoint when the request carries no key.
    if (key === undefined) return candidates[Math.floor(input.random() * candidates.length)];
    return tableFor(state, candidates, lb.consistentHash.algorithm).lookup(hash64(key));
  }
  switch (lb.simple) {
    case 'ROUND_ROBIN': {
      const uid = candidates[state.cursor % candidates.length];
      state.cursor = (state.cursor + 1) % 1_000_000_007;
      return uid;
    }
    case 'RANDOM':
      return candidates[Math.floor(input.random() * candidates.length)];
    case 'LEAST_REQUEST': {
      // Two distinct random choices; the one with fewer requests in flight wins (Envoy's P2C).
      const n = candidates.length;
      const i = Math.floor(input.random() * n);
      const j = (i + 1 + Math.floor(input.random() * (n - 1))) % n;
      const a = candidates[i];
      const b = candidates[j];
      if (a === undefined || b === undefined) return a ?? b;
      return input.inFlight(b) < input.inFlight(a) ? b : a;
    }
  }
}

/** The string a consistent hash is computed from; undefined when the request has none. */
export function hashKeyValue(key: HashKey, input: HashInput): string | undefined {
  if ('header' in key) return input.header(key.header.toLowerCase());
  if ('sourceIp' in key) return input.sourceIp;
  if ('cookie' in key) return cookieValue(input.header('cookie'), key.cookie.name);
  const q = input.path.indexOf('?');
  if (q === -1) return undefined;
  return new URLSearchParams(input.path.slice(q + 1)).get(key.queryParameter) ?? undefined;
}

/**
 * For a cookie key with a ttl and a request without the cookie: the value to hash on and the
 * Set-Cookie header that pins the client to it from now on. Envoy derives the value from the
 * client's address, so a client that drops the cookie still lands on the same endpoint.
 */
export function generatedCookie(key: HashKey, input: HashInput): { value: string; setCookie: string } | undefined {
  if (!('cookie' in key) || key.cookie.ttl === undefined) return undefined;
  if (cookieValue(input.header('cookie'), key.cookie.name) !== undefined) return undefined;
  const value = hash64(input.sourceIp).toString(16).padStart(16, '0');
  const attrs = [`${key.cookie.name}="${value}"`];
  // ttl 0 is a session cookie: no Max-Age.
  if (key.cookie.ttl > 0) attrs.push(`Max-Age=${Math.floor(key.cookie.ttl / 1000)}`);
  if (key.cookie.path !== undefined) attrs.push(`Path=${key.cookie.path}`);
  attrs.push('HttpOnly');
  return { value: `"${value}"`, setCookie: attrs.join('; ') };
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(/[;,]/)) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

// ---- hash tables --------------------------------------------------------------------

export interface HashTable {
  lookup(h: bigint): string | undefined;
}

function tableFor(state: BalancerState, candidates: readonly string[], algorithm: HashAlgorithm): HashTable {
  // Rebuilt only when the endpoint set or the algorithm changes, which is rare next to requests.
  const key = `${JSON.stringify(algorithm)}\u0000${candidates.join('\u0000')}`;
  if (state.table?.key === key) return state.table.table;
  const table = 'maglev' in algorithm ? maglevTable(candidates, algorithm.maglev.tableSize) : ringHash(candidates, algorithm.ringHash.minimumRingSize);
  state.table = { key, table };
  return table;
}

const MASK64 = (1n << 64n) - 1n;

/**
 * 64-bit FNV-1a with MurmurHash3's finalizer: stable across processes, so replicas hash a key
 * alike; the finalizer spreads keys that differ in one character (user-1, user-2) apart.
 */
export function hash64(s: string, seed = 0xcbf29ce484222325n): bigint {
  let h = seed;
  for (const byte of Buffer.from(s, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & MASK64;
  }
  h ^= h >> 33n;
  h = (h * 0xff51afd7ed558ccdn) & MASK64;
  h ^= h >> 33n;
  h = (h * 0xc4ceb9fe1a85ec53n) & MASK64;
  return h ^ (h >> 33n);
}

/** Ketama-style ring: each endpoint gets an equal share of `size` points; a key goes to the next point clockwise. */
export function ringHash(uids: readonly string[], size: number): HashTable {
  const per = Math.max(1, Math.ceil(size / Math.max(1, uids.length)));
  const points: { at: bigint; uid: string }[] = [];
  for (const uid of uids) for (let i = 0; i < per; i++) points.push({ at: hash64(`${uid}_${i}`), uid });
  points.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  return {
    lookup(h) {
      let lo = 0;
      let hi = points.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const p = points[mid];
        if (p !== undefined && p.at < h) lo = mid + 1;
        else hi = mid;
      }
      return (points[lo] ?? points[0])?.uid;
    },
  };
}

/** Maglev (Eisenbud et al. 2016): each endpoint fills table slots along its own permutation, in turns. */
export function maglevTable(uids: readonly string[], size: number): HashTable {
  const m = BigInt(size);
  const perms = uids.map((uid) => ({ offset: hash64(uid) % m, skip: (hash64(uid, 0x84222325cbf29ce4n) % (m - 1n)) + 1n, next: 0n }));
  const slots = new Array<number>(size).fill(-1);
  let filled = 0;
  while (filled < size) {
    for (let i = 0; i < perms.length && filled < size; i++) {
      const p = perms[i];
      if (p === undefined) continue;
      for (;;) {
        const c = Number((p.offset + p.next * p.skip) % m);
        p.next++;
        if (slots[c] === -1) {
          slots[c] = i;
          filled++;
          break;
        }
      }
    }
  }
  return { lookup: (h) => uids[slots[Number(h % m)] ?? -1] };
}
