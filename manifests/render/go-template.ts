// The part of Go's text/template language that Helm charts are written in, so the chart in
// manifests/chart/ renders here and in tests without a `helm` binary (Debian ships none).
// Supported: text and actions with `{{-`/`-}}` trimming, comments, pipelines, parenthesised
// pipelines, fields (`.A.B`, `$v.A`, `(x).A`), variables (`:=`, `=`, `$i, $v :=` in range),
// `if`/`else if`/`else`, `range` over lists and maps (sorted keys), `with`/`else`, `define`,
// `template`, and the functions handed in (see helm-functions.ts). Anything else — `block`,
// `break`/`continue`, method calls, character literals — is refused with the template name and
// line, so a chart that leans on an unsupported feature fails its render test instead of
// rendering something else. Missing map keys read as nil and print as nothing, as Helm prints
// them; reading a field of nil is an error, as in Go.

export type TemplateFunction = (...args: unknown[]) => unknown;

export class TemplateError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'TemplateError';
  }
}

// ---- lexing --------------------------------------------------------------------------------

type Segment =
  | { t: 'text'; text: string }
  | { t: 'action'; body: string; line: number };

/** Splits a template into text and action bodies, applying the trim markers. */
function segment(name: string, src: string): Segment[] {
  const out: Segment[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    trimNext = false;
    if (open < 0) {
      if (text !== '') out.push({ t: 'text', text });
      break;
    }
    const line = src.slice(0, open).split('\n').length;
    let j = open + 2;
    if (src[j] === '-' && /[ \t\r\n]/.test(src[j + 1] ?? '')) {
      text = text.replace(/[ \t\r\n]+$/, '');
      j += 2;
    }
    if (text !== '') out.push({ t: 'text', text });
    const close = findClose(src, j);
    if (close < 0) throw new TemplateError(`${name}:${line}`, 'unclosed action');
    let body = src.slice(j, close);
    if (/[ \t\r\n]-$/.test(body)) {
      body = body.slice(0, -2);
      trimNext = true;
    }
    i = close + 2;
    const trimmed = body.trim();
    if (trimmed.startsWith('/*')) {
      if (!trimmed.endsWith('*/')) throw new TemplateError(`${name}:${line}`, 'unclosed comment');
      continue;
    }
    out.push({ t: 'action', body, line });
  }
  return out;
}

/** The index of the `}}` closing an action, skipping string literals and comments. */
function findClose(src: string, from: number): number {
  let i = from;
  while (i < src.length) {
    const c = src[i];
    if (c === '"') {
      i++;
      while (i < src.length && src[i] !== '"') i += src[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '`') {
      const end = src.indexOf('`', i + 1);
      if (end < 0) return -1;
      i = end + 1;
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) return -1;
      i = end + 2;
    } else if (c === '}' && src[i + 1] === '}') {
      return i;
    } else {
      i++;
    }
  }
  return -1;
}

type Token =
  | { t: 'string'; value: string }
  | { t: 'number'; value: number }
  | { t: 'field'; path: string[] }
  | { t: 'var'; name: string; path: string[] }
  | { t: 'ident'; name: string }
  | { t: 'punct'; value: '(' | ')' | '|' | ':=' | '=' | ',' }
  /** A field chain right after `)`, applied to the parenthesised value. */
  | { t: 'chain'; path: string[] };

function tokenize(where: string, body: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const fieldPath = (): string[] => {
    const path: string[] = [];
    while (body[i] === '.' && /[A-Za-z_]/.test(body[i + 1] ?? '')) {
      i++;
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(body.slice(i));
      if (m === null) break;
      path.push(m[0]);
      i += m[0].length;
    }
    return path;
  };
  while (i < body.length) {
    const c = body[i] ?? '';
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < body.length && body[j] !== '"') j += body[j] === '\\' ? 2 : 1;
      const literal = body.slice(i, j + 1);
      try {
        out.push({ t: 'string', value: JSON.parse(literal.replace(/\\x([0-9a-fA-F]{2})/g, '\\u00$1')) as string });
      } catch {
        throw new TemplateError(where, `bad string literal ${literal}`);
      }
      i = j + 1;
    } else if (c === '`') {
      const end = body.indexOf('`', i + 1);
      out.push({ t: 'string', value: body.slice(i + 1, end) });
      i = end + 1;
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(body[i + 1] ?? ''))) {
      const m = /^-?(0x[0-9a-fA-F]+|[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)/.exec(body.slice(i));
      if (m === null) throw new TemplateError(where, `bad number at ${body.slice(i)}`);
      out.push({ t: 'number', value: Number(m[0]) });
      i += m[0].length;
    } else if (c === '.') {
      const chainable = out.at(-1)?.t === 'punct' && (out.at(-1) as { value: string }).value === ')' && !/\s/.test(body[i - 1] ?? ' ');
      const path = fieldPath();
      if (path.length === 0) {
        i++;
        out.push({ t: 'field', path: [] });
      } else {
        out.push(chainable ? { t: 'chain', path } : { t: 'field', path });
      }
    } else if (c === '$') {
      i++;
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(body.slice(i));
      const name = m === null ? '$' : `$${m[0]}`;
      i += m === null ? 0 : m[0].length;
      out.push({ t: 'var', name, path: fieldPath() });
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(body.slice(i));
      const name = m?.[0] ?? c;
      i += name.length;
      out.push({ t: 'ident', name });
    } else if (c === ':' && body[i + 1] === '=') {
      out.push({ t: 'punct', value: ':=' });
      i += 2;
    } else if (c === '(' || c === ')' || c === '|' || c === '=' || c === ',') {
      out.push({ t: 'punct', value: c });
      i++;
    } else {
      throw new TemplateError(where, `unexpected character ${JSON.stringify(c)}`);
    }
  }
  return out;
}

// ---- parsing -------------------------------------------------------------------------------

type Operand =
  | { t: 'lit'; value: unknown }
  | { t: 'field'; path: string[] }
  | { t: 'var'; name: string; path: string[] }
  | { t: 'ident'; name: string }
  | { t: 'sub'; pipe: Pipeline; path: string[] };

interface Pipeline {
  decl: { names: string[]; define: boolean } | undefined;
  commands: Operand[][];
}

type Node =
  | { t: 'text'; text: string }
  | { t: 'action'; pipe: Pipeline; where: string }
  | { t: 'if' | 'with'; branches: { pipe: Pipeline; body: Node[] }[]; otherwise: Node[]; where: string }
  | { t: 'range'; pipe: Pipeline; body: Node[]; otherwise: Node[]; where: string }
  | { t: 'template'; name: string; pipe: Pipeline | undefined; where: string };

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue']);

class Parser {
  readonly #name: string;
  readonly #segments: Segment[];
  #i = 0;
  readonly defines = new Map<string, Node[]>();

  constructor(name: string, src: string) {
    this.#name = name;
    this.#segments = segment(name, src);
  }

  parse(): Node[] {
    const { nodes, stop } = this.#list();
    if (stop !== undefined) throw new TemplateError(stop.where, `unexpected {{${stop.keyword}}}`);
    return nodes;
  }

  /** Nodes up to an `else` or `end` (returned as `stop`), or the end of input. */
  #list(): { nodes: Node[]; stop: { keyword: 'else' | 'end'; rest: Token[]; where: string } | undefined } {
    const nodes: Node[] = [];
    while (this.#i < this.#segments.length) {
      const s = this.#segments[this.#i++];
      if (s === undefined) break;
      if (s.t === 'text') {
        nodes.push({ t: 'text', text: s.text });
        continue;
      }
      const where = `${this.#name}:${s.line}`;
      const tokens = tokenize(where, s.body);
      const head = tokens[0];
      if (head === undefined) throw new TemplateError(where, 'empty action');
      const keyword = head.t === 'ident' && KEYWORDS.has(head.name) ? head.name : undefined;
      const rest = tokens.slice(1);
      switch (keyword) {
        case undefined:
          nodes.push({ t: 'action', pipe: parsePipeline(where, tokens), where });
          break;
        case 'else':
        case 'end':
          return { nodes, stop: { keyword, rest, where } };
        case 'if':
        case 'with':
          nodes.push(this.#conditional(keyword, rest, where));
          break;
        case 'range': {
          const pipe = parsePipeline(where, rest);
          const body = this.#list();
          let otherwise: Node[] = [];
          if (body.stop?.keyword === 'else') {
            const tail = this.#list();
            if (tail.stop?.keyword !== 'end') throw new TemplateError(where, 'range without end');
            otherwise = tail.nodes;
          } else if (body.stop === undefined) {
            throw new TemplateError(where, 'range without end');
          }
          nodes.push({ t: 'range', pipe, body: body.nodes, otherwise, where });
          break;
        }
        case 'define': {
          const n = rest[0];
          if (n?.t !== 'string' || rest.length !== 1) throw new TemplateError(where, 'define needs one string name');
          const body = this.#list();
          if (body.stop?.keyword !== 'end') throw new TemplateError(where, `define ${n.value} without end`);
          this.defines.set(n.value, body.nodes);
          break;
        }
        case 'template': {
          const n = rest[0];
          if (n?.t !== 'string') throw new TemplateError(where, 'template needs a string name');
          nodes.push({ t: 'template', name: n.value, pipe: rest.length > 1 ? parsePipeline(where, rest.slice(1)) : undefined, where });
          break;
        }
        default:
          throw new TemplateError(where, `{{${keyword}}} is not supported by this renderer`);
      }
    }
    return { nodes, stop: undefined };
  }

  #conditional(kind: 'if' | 'with', first: Token[], where: string): Node {
    const branches: { pipe: Pipeline; body: Node[] }[] = [];
    let tokens = first;
    for (;;) {
      const pipe = parsePipeline(where, tokens);
      const body = this.#list();
      branches.push({ pipe, body: body.nodes });
      if (body.stop === undefined) throw new TemplateError(where, `${kind} without end`);
      if (body.stop.keyword === 'end') return { t: kind, branches, otherwise: [], where };
      const next = body.stop.rest;
      const head = next[0];
      if (head?.t === 'ident' && head.name === kind) {
        tokens = next.slice(1);
        continue;
      }
      if (next.length > 0) throw new TemplateError(body.stop.where, `else ${kind === 'if' ? 'if' : 'with'} expected`);
      const tail = this.#list();
      if (tail.stop?.keyword !== 'end') throw new TemplateError(where, `${kind} without end`);
      return { t: kind, branches, otherwise: tail.nodes, where };
    }
  }
}

function parsePipeline(where: string, tokens: Token[]): Pipeline {
  let i = 0;
  let decl: Pipeline['decl'];
  // `$a := …`, `$a = …`, `$i, $v := …`
  const names: string[] = [];
  let j = 0;
  while (tokens[j]?.t === 'var' && (tokens[j] as { path: string[] }).path.length === 0) {
    names.push((tokens[j] as { name: string }).name);
    const sep = tokens[j + 1];
    if (sep?.t === 'punct' && sep.value === ',') {
      j += 2;
      continue;
    }
    if (sep?.t === 'punct' && (sep.value === ':=' || sep.value === '=')) {
      decl = { names, define: sep.value === ':=' };
      i = j + 2;
    }
    break;
  }
  const commands: Operand[][] = [[]];
  const operand = (): Operand => {
    const tok = tokens[i++];
    if (tok === undefined) throw new TemplateError(where, 'missing operand');
    switch (tok.t) {
      case 'string':
      case 'number':
        return { t: 'lit', value: tok.value };
      case 'field':
        return { t: 'field', path: tok.path };
      case 'var':
        return { t: 'var', name: tok.name, path: tok.path };
      case 'ident':
        if (tok.name === 'true' || tok.name === 'false') return { t: 'lit', value: tok.name === 'true' };
        if (tok.name === 'nil') return { t: 'lit', value: null };
        return { t: 'ident', name: tok.name };
      case 'punct': {
        if (tok.value !== '(') throw new TemplateError(where, `unexpected ${tok.value}`);
        let depth = 1;
        const start = i;
        while (i < tokens.length && depth > 0) {
          const x = tokens[i++];
          if (x?.t === 'punct' && x.value === '(') depth++;
          if (x?.t === 'punct' && x.value === ')') depth--;
        }
        if (depth !== 0) throw new TemplateError(where, 'unclosed (');
        const pipe = parsePipeline(where, tokens.slice(start, i - 1));
        let path: string[] = [];
        const next = tokens[i];
        if (next?.t === 'chain') {
          path = next.path;
          i++;
        }
        return { t: 'sub', pipe, path };
      }
      case 'chain':
        throw new TemplateError(where, 'unexpected field chain');
    }
  };
  while (i < tokens.length) {
    const tok = tokens[i];
    if (tok?.t === 'punct' && tok.value === '|') {
      i++;
      if ((commands.at(-1) ?? []).length === 0) throw new TemplateError(where, 'empty command in pipeline');
      commands.push([]);
      continue;
    }
    commands.at(-1)?.push(operand());
  }
  if ((commands.at(-1) ?? []).length === 0) throw new TemplateError(where, 'empty pipeline');
  return { decl, commands };
}

// ---- evaluation ----------------------------------------------------------------------------

/** Go's truth: false, 0, nil and empty strings, lists and maps are false. */
export function isTrue(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v !== '';
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

export function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** How Go's fmt prints a value with %v (nil prints as nothing, as Helm leaves it). */
export function formatValue(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(' ')}]`;
  if (isMap(v)) return `map[${Object.keys(v).sort().map((k) => `${k}:${formatValue(v[k])}`).join(' ')}]`;
  return typeof v === 'bigint' || typeof v === 'symbol' ? v.toString() : typeof v;
}

class Scope {
  readonly #vars = new Map<string, unknown>();
  readonly #parent: Scope | undefined;
  constructor(parent?: Scope) {
    this.#parent = parent;
  }
  define(name: string, v: unknown): void {
    this.#vars.set(name, v);
  }
  /** The innermost scope that declared the variable. */
  #owner(name: string): Scope | undefined {
    if (this.#vars.has(name)) return this;
    return this.#parent === undefined ? undefined : this.#parent.#owner(name);
  }
  assign(where: string, name: string, v: unknown): void {
    const owner = this.#owner(name);
    if (owner === undefined) throw new TemplateError(where, `undefined variable ${name}`);
    owner.#vars.set(name, v);
  }
  get(where: string, name: string): unknown {
    const owner = this.#owner(name);
    if (owner === undefined) throw new TemplateError(where, `undefined variable ${name}`);
    return owner.#vars.get(name);
  }
}

function field(where: string, base: unknown, path: readonly string[], shown: string): unknown {
  let v = base;
  let at = shown;
  for (const p of path) {
    if (v === undefined || v === null) throw new TemplateError(where, `nil pointer evaluating ${at}.${p}`);
    if (!isMap(v)) throw new TemplateError(where, `can't evaluate field ${p} in ${Array.isArray(v) ? 'a list' : typeof v} (${at})`);
    v = Object.hasOwn(v, p) ? v[p] : undefined;
    at = `${at}.${p}`;
  }
  return v;
}

/** A parsed set of templates sharing their `define`s, as Helm parses a chart's files together. */
export class TemplateSet {
  readonly #templates = new Map<string, Node[]>();
  readonly #functions: Readonly<Record<string, TemplateFunction>>;
  #depth = 0;

  constructor(functions: Readonly<Record<string, TemplateFunction>>) {
    this.#functions = functions;
  }

  /** Parses a file; its `define`s join the set, its body is a template of its own name. */
  add(name: string, src: string): void {
    const p = new Parser(name, src);
    this.#templates.set(name, p.parse());
    for (const [n, body] of p.defines) this.#templates.set(n, body);
  }

  has(name: string): boolean {
    return this.#templates.has(name);
  }

  execute(name: string, data: unknown): string {
    const nodes = this.#templates.get(name);
    if (nodes === undefined) throw new TemplateError(name, `no template named ${JSON.stringify(name)}`);
    // Recursive includes are allowed in Go; a bound stops one that never ends.
    if (++this.#depth > 100) throw new TemplateError(name, 'templates nested more than 100 deep');
    try {
      const scope = new Scope();
      scope.define('$', data);
      const out: string[] = [];
      this.#run(nodes, data, scope, out);
      return out.join('');
    } finally {
      this.#depth--;
    }
  }

  #run(nodes: readonly Node[], dot: unknown, scope: Scope, out: string[]): void {
    for (const n of nodes) {
      switch (n.t) {
        case 'text':
          out.push(n.text);
          break;
        case 'action': {
          const v = this.#pipeline(n.where, n.pipe, dot, scope);
          if (n.pipe.decl === undefined) out.push(formatValue(v));
          break;
        }
        case 'if':
        case 'with': {
          let done = false;
          for (const b of n.branches) {
            const inner = new Scope(scope);
            const v = this.#pipeline(n.where, b.pipe, dot, inner);
            if (isTrue(v)) {
              this.#run(b.body, n.t === 'with' ? v : dot, inner, out);
              done = true;
              break;
            }
          }
          if (!done) this.#run(n.otherwise, dot, new Scope(scope), out);
          break;
        }
        case 'range': {
          const inner = new Scope(scope);
          const decl = n.pipe.decl;
          const v = this.#pipeline(n.where, { decl: undefined, commands: n.pipe.commands }, dot, inner);
          const entries: [unknown, unknown][] = Array.isArray(v)
            ? v.map((x, i) => [i, x])
            : isMap(v)
              ? Object.keys(v).sort().map((k) => [k, v[k]])
              : typeof v === 'number' && Number.isInteger(v) ? Array.from({ length: Math.max(0, v) }, (_, i) => [i, i]) : [];
          if (v !== undefined && v !== null && !Array.isArray(v) && !isMap(v) && typeof v !== 'number') {
            throw new TemplateError(n.where, `range can't iterate over ${formatValue(v)}`);
          }
          if (entries.length === 0) {
            this.#run(n.otherwise, dot, inner, out);
            break;
          }
          for (const [k, x] of entries) {
            const each = new Scope(inner);
            if (decl !== undefined) {
              if (decl.names.length === 1) each.define(decl.names[0] ?? '', x);
              else {
                each.define(decl.names[0] ?? '', k);
                each.define(decl.names[1] ?? '', x);
              }
            }
            this.#run(n.body, x, each, out);
          }
          break;
        }
        case 'template': {
          const data = n.pipe === undefined ? undefined : this.#pipeline(n.where, n.pipe, dot, scope);
          out.push(this.execute(n.name, data));
          break;
        }
      }
    }
  }

  #pipeline(where: string, pipe: Pipeline, dot: unknown, scope: Scope): unknown {
    let v: unknown;
    let piped = false;
    for (const cmd of pipe.commands) {
      v = this.#command(where, cmd, dot, scope, piped ? { value: v } : undefined);
      piped = true;
    }
    if (pipe.decl !== undefined) {
      const name = pipe.decl.names[0] ?? '';
      if (pipe.decl.names.length !== 1) throw new TemplateError(where, 'only range declares two variables');
      if (pipe.decl.define) scope.define(name, v);
      else scope.assign(where, name, v);
    }
    return v;
  }

  #command(where: string, cmd: readonly Operand[], dot: unknown, scope: Scope, input: { value: unknown } | undefined): unknown {
    const [head, ...args] = cmd;
    if (head === undefined) throw new TemplateError(where, 'empty command');
    if (head.t !== 'ident') {
      if (args.length > 0 || input !== undefined) throw new TemplateError(where, `can't give arguments to a non-function (${describe(head)})`);
      return this.#operand(where, head, dot, scope);
    }
    const name = head.name;
    const lazy = args.map((a) => () => this.#operand(where, a, dot, scope));
    if (input !== undefined) lazy.push(() => input.value);
    // and / or stop at the first operand that decides, as Go's do since 1.18.
    if (name === 'and' || name === 'or') {
      if (lazy.length === 0) throw new TemplateError(where, `${name} needs arguments`);
      let v: unknown;
      for (const f of lazy) {
        v = f();
        if (name === 'and' ? !isTrue(v) : isTrue(v)) return v;
      }
      return v;
    }
    if (name === 'include') {
      const [n, data] = lazy.map((f) => f());
      if (typeof n !== 'string') throw new TemplateError(where, 'include needs a template name');
      return this.execute(n, data);
    }
    const fn = Object.hasOwn(this.#functions, name) ? this.#functions[name] : undefined;
    if (fn === undefined) throw new TemplateError(where, `function ${JSON.stringify(name)} not defined`);
    try {
      return fn(...lazy.map((f) => f()));
    } catch (err) {
      if (err instanceof TemplateError) throw err;
      throw new TemplateError(where, `error calling ${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  #operand(where: string, o: Operand, dot: unknown, scope: Scope): unknown {
    switch (o.t) {
      case 'lit':
        return o.value;
      case 'field':
        return field(where, dot, o.path, '<.>');
      case 'var':
        return field(where, scope.get(where, o.name), o.path, o.name);
      case 'sub':
        return field(where, this.#pipeline(where, o.pipe, dot, scope), o.path, '(…)');
      case 'ident':
        return this.#command(where, [o], dot, scope, undefined);
    }
  }
}

function describe(o: Operand): string {
  switch (o.t) {
    case 'lit': return JSON.stringify(o.value);
    case 'field': return `.${o.path.join('.')}`;
    case 'var': return [o.name, ...o.path].join('.');
    case 'sub': return '(…)';
    case 'ident': return o.name;
  }
}
