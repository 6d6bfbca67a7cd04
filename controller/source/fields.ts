// Small readers that check one JSON field each and name its path when it is wrong, so a
// rejected manifest says exactly which field to fix.

export class FieldError extends Error {
  constructor(path: string, expected: string, got: unknown) {
    super(`${path}: expected ${expected}, got ${describe(got)}`);
    this.name = 'FieldError';
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  return `${typeof value} ${JSON.stringify(value) ?? ""}`;
}

export type JsonObject = Readonly<Record<string, unknown>>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function object(value: unknown, path: string): JsonObject {
  if (!isObject(value)) throw new FieldError(path, 'an object', value);
  return value;
}

/** An optional object; absent or null reads as undefined. */
export function optObject(value: unknown, path: string): JsonObject | undefined {
  return value === undefined || value === null ? undefined : object(value, path);
}

export function string(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new FieldError(path, 'a string', value);
  return value;
}

export function optString(value: unknown, path: string): string | undefined {
  return value === undefined || value === null ? undefined : string(value, path);
}

export function optBoolean(value: unknown, path: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new FieldError(path, 'true or false', value);
  return value;
}

export function optInteger(value: unknown, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new FieldError(path, 'an integer', value);
  return value;
}

export function port(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new FieldError(path, 'a port number (1-65535)', value);
  }
  return value;
}

/** An optional list; absent or null reads as an empty list. */
export function list<T>(value: unknown, path: string, item: (v: unknown, p: string) => T): T[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new FieldError(path, 'a list', value);
  return value.map((v: unknown, i) => item(v, `${path}[${i}]`));
}

/** Like `list` but keeps "absent" distinct from "empty" (Istio gives them different meanings in places). */
export function optList<T>(value: unknown, path: string, item: (v: unknown, p: string) => T): T[] | undefined {
  return value === undefined || value === null ? undefined : list(value, path, item);
}

/** A map of strings (labels, selectors); absent reads as empty. */
export function stringMap(value: unknown, path: string): Record<string, string> {
  const obj = optObject(value, path);
  const out: Record<string, string> = {};
  if (obj === undefined) return out;
  for (const [k, v] of Object.entries(obj)) out[k] = string(v, `${path}.${k}`);
  return out;
}

/** Copies only the defined entries, so optional properties stay absent (exactOptionalPropertyTypes). */
export type Defined<T> = { [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & {
  [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
};

export function defined<T extends Record<string, unknown>>(fields: T): Defined<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return out as Defined<T>;
}
