// Field readers for JSON that arrives off the wire: each one checks one field of an `unknown`
// object and returns it typed, or throws a FieldError naming the path, so parsers build
// typed values field by field without casting unchecked data.
import { isIP } from 'node:net';

export class FieldError extends Error {
  readonly path: string;

  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'FieldError';
    this.path = path;
  }
}

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown, path: string): Obj {
  if (!isObj(v)) throw new FieldError(path, 'must be an object');
  return v;
}

export function str(o: Obj, key: string, path: string, opts: { empty?: boolean } = {}): string {
  const v = o[key];
  if (typeof v !== 'string') throw new FieldError(`${path}.${key}`, 'must be a string');
  if (v === '' && opts.empty !== true) throw new FieldError(`${path}.${key}`, 'must not be empty');
  return v;
}

export function optStr(o: Obj, key: string, path: string): string | undefined {
  return o[key] === undefined ? undefined : str(o, key, path);
}

export function bool(o: Obj, key: string, path: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw new FieldError(`${path}.${key}`, 'must be a boolean');
  return v;
}

export function isVersion(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function version(o: Obj, key: string, path: string): number {
  const v = o[key];
  if (!isVersion(v)) throw new FieldError(`${path}.${key}`, 'must be a non-negative integer');
  return v;
}

export function isPort(v: unknown, allowZero = false): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= (allowZero ? 0 : 1) && v <= 65535;
}

export function port(o: Obj, key: string, path: string, allowZero = false): number {
  const v = o[key];
  if (!isPort(v, allowZero)) throw new FieldError(`${path}.${key}`, `must be a port number (${allowZero ? 0 : 1}-65535)`);
  return v;
}

export function oneOf<T extends string>(o: Obj, key: string, path: string, values: readonly T[]): T {
  const v = o[key];
  const found = values.find((x) => x === v);
  if (found === undefined) throw new FieldError(`${path}.${key}`, `must be one of ${values.join(', ')}`);
  return found;
}

export function arr<T>(o: Obj, key: string, path: string, item: (v: unknown, path: string) => T): T[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new FieldError(`${path}.${key}`, 'must be an array');
  return v.map((x, i) => item(x, `${path}.${key}[${i}]`));
}

export function record<T>(o: Obj, key: string, path: string, item: (v: unknown, path: string) => T): Record<string, T> {
  const m = obj(o[key], `${path}.${key}`);
  const out: Record<string, T> = {};
  for (const [k, v] of Object.entries(m)) out[k] = item(v, `${path}.${key}[${JSON.stringify(k)}]`);
  return out;
}

/** Item readers for arr()/record(). */
export const item = {
  string: (v: unknown, path: string): string => {
    if (typeof v !== 'string' || v === '') throw new FieldError(path, 'must be a non-empty string');
    return v;
  },
  ip: (v: unknown, path: string): string => {
    if (typeof v !== 'string' || isIP(v) === 0) throw new FieldError(path, 'must be an IP address');
    return v;
  },
  /** An address or a CIDR block (`10.0.0.0/8`, `fd00::/8`). */
  cidr: (v: unknown, path: string): string => {
    if (typeof v !== 'string') throw new FieldError(path, 'must be an address or CIDR');
    const [addr, bits, extra] = v.split('/');
    const family = isIP(addr ?? '');
    const max = family === 4 ? 32 : 128;
    const ok = family !== 0 && extra === undefined && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max));
    if (!ok) throw new FieldError(path, 'must be an address or CIDR');
    return v;
  },
  port: (v: unknown, path: string): number => {
    if (!isPort(v)) throw new FieldError(path, 'must be a port number (1-65535)');
    return v;
  },
};
