// Small readers that check one JSON field each and name its path when it is wrong, so a
// rejected manifest says exactly which field to fix; and a collector for the readers that
// keep going past a bad field (user-authored kinds), so every problem is reported at once.
import type { FieldProblem } from '#controller/source/types.ts';

export class FieldError extends Error {
  readonly path: string;
  /** The message without the path, e.g. `expected a list, got string "x"`. */
  readonly problem: string;

  constructor(path: string, expected: string, got: unknown) {
    const problem = `expected ${expected}, got ${describe(got)}`;
    super(`${path}: ${problem}`);
    this.name = 'FieldError';
    this.path = path;
    this.problem = problem;
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

/** `parent.key`, or `parent["odd key"]` when the key would not read as one path step. */
export function fieldPath(parent: string, key: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(key)) return `${parent}[${JSON.stringify(key)}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

/** One problem per line of text: `path: message; path: message`. */
export function formatFieldProblems(problems: readonly FieldProblem[]): string {
  return problems.map((p) => `${p.path}: ${p.message}`).join('; ');
}

/**
 * The problems found while reading one object, in the order they were met. Readers call
 * `attempt` where a bad value should be recorded and skipped instead of rejecting the object.
 */
export class FieldProblems {
  readonly #list: FieldProblem[] = [];

  get size(): number {
    return this.#list.length;
  }

  list(): FieldProblem[] {
    return [...this.#list];
  }

  add(path: string, message: string): void {
    this.#list.push({ path, message });
  }

  /** `read()`, or `fallback` with the FieldError recorded. */
  attempt<T, F>(read: () => T, fallback: F): T | F {
    try {
      return read();
    } catch (err) {
      if (!(err instanceof FieldError)) throw err;
      this.add(err.path, err.problem);
      return fallback;
    }
  }

  /**
   * Records every key of `obj` that is not in `known`. `unsupported` names fields the API has
   * but weft does not implement: they are just as unusable, and said so differently.
   */
  unknownKeys(obj: JsonObject, path: string, known: readonly string[], unsupported: readonly string[] = []): void {
    for (const key of Object.keys(obj)) {
      if (known.includes(key)) continue;
      if (unsupported.includes(key)) {
        this.add(fieldPath(path, key), 'not supported by weft');
        continue;
      }
      const near = closest(key, [...known, ...unsupported]);
      this.add(fieldPath(path, key), near === undefined ? 'unknown field' : `unknown field (did you mean "${near}"?)`);
    }
  }

  /** `{ fieldProblems }` to spread into an object, or nothing when there are none. */
  field(): { fieldProblems?: FieldProblem[] } {
    return this.#list.length === 0 ? {} : { fieldProblems: this.list() };
  }
}

/** The known name a typo most likely meant: same letters in another case, or one or two edits away. */
function closest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const d = name.toLowerCase() === lower ? 0 : editDistance(lower, name.toLowerCase());
    if (d <= (Math.min(key.length, name.length) <= 4 ? 1 : 2) && (best === undefined || d < best.distance)) best = { name, distance: d };
  }
  return best?.name;
}

/** Edit distance where swapping two neighbouring letters is one edit (`form` → `from`). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [];
    for (let j = 0; j <= b.length; j++) {
      if (i === 0 || j === 0) {
        row.push(i + j);
        continue;
      }
      const above = rows[i - 1] ?? [];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}
