// CustomResourceDefinition schemas as the real API server treats them, for the test API
// server: `checkStructural` refuses a CRD whose openAPIV3Schema is not structural (the rules
// of apiextensions.k8s.io/v1: every node typed unless int-or-string or preserve-unknown-fields,
// no types or defaults inside allOf/anyOf/oneOf/not, properties and additionalProperties not
// together, only name/generateName restrictions under metadata), and `admitCustomObject`
// validates an object against its version's schema and prunes the fields the schema does not
// name — unless `x-kubernetes-preserve-unknown-fields` keeps them — or, with field validation
// Strict (kubectl's default), refuses them. Validated: type, nullable, enum, required,
// properties, additionalProperties, items, minimum/maximum (and exclusive), minLength/
// maxLength, pattern, minItems/maxItems, minProperties/maxProperties, allOf/anyOf/oneOf/not,
// x-kubernetes-int-or-string. Not evaluated: CEL rules (x-kubernetes-validations), formats,
// defaults, list-type and map-type uniqueness.

type JsonObject = Record<string, unknown>;

export interface SchemaCause {
  field: string;
  reason: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueNotSupported' | 'FieldValueTypeInvalid' | 'FieldValueForbidden' | 'FieldValueUnknown';
  message: string;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function schemaAt(v: unknown): JsonObject | undefined {
  return isObject(v) ? v : undefined;
}

const JUNCTORS = ['allOf', 'anyOf', 'oneOf', 'not'] as const;
const FORBIDDEN_IN_JUNCTORS = ['description', 'type', 'default', 'additionalProperties', 'nullable'];
const METADATA_ALLOWED = new Set(['type', 'description']);

/** The reasons a CRD version's schema is not structural (empty when it is). */
export function checkStructural(schema: unknown, path = 'openAPIV3Schema'): string[] {
  const problems: string[] = [];
  const root = schemaAt(schema);
  if (root === undefined) return [`${path}: Required value: a schema is required`];
  if (root['type'] !== 'object') problems.push(`${path}.type: Required value: must be object at the root`);
  walkStructural(root, path, problems, { root: true });
  return problems;
}

function walkStructural(s: JsonObject, path: string, problems: string[], at: { root: boolean }): void {
  const intOrString = s['x-kubernetes-int-or-string'] === true;
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  if ((typeof s['type'] !== 'string' || s['type'] === '') && !intOrString && !preserve) {
    problems.push(`${path}.type: Required value: must not be empty for specified object fields`);
  }
  if (s['properties'] !== undefined && s['additionalProperties'] !== undefined) {
    problems.push(`${path}.additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive`);
  }
  for (const j of JUNCTORS) {
    const inner = s[j];
    const list = j === 'not' ? (inner === undefined ? [] : [inner]) : Array.isArray(inner) ? inner : [];
    list.forEach((x, i) => {
      const p = j === 'not' ? `${path}.not` : `${path}.${j}[${i}]`;
      const js = schemaAt(x);
      if (js === undefined) return;
      junctorCheck(js, p, s, problems, intOrString);
    });
  }
  const props = schemaAt(s['properties']);
  if (props !== undefined) {
    for (const [k, v] of Object.entries(props)) {
      const child = schemaAt(v);
      if (child === undefined) continue;
      const p = `${path}.properties[${k}]`;
      if (at.root && k === 'metadata') {
        for (const mk of Object.keys(child)) {
          if (mk === 'properties') {
            for (const [mf, ms] of Object.entries(schemaAt(child['properties']) ?? {})) {
              if (mf !== 'name' && mf !== 'generateName') problems.push(`${p}.properties[${mf}]: Forbidden: must not be specified`);
              else if (isObject(ms) && ms['type'] !== 'string') problems.push(`${p}.properties[${mf}].type: Unsupported value: must be string`);
            }
          } else if (!METADATA_ALLOWED.has(mk)) {
            problems.push(`${p}.${mk}: Forbidden: must not be specified`);
          }
        }
        continue;
      }
      walkStructural(child, p, problems, { root: false });
    }
  }
  const additional = schemaAt(s['additionalProperties']);
  if (additional !== undefined) walkStructural(additional, `${path}.additionalProperties`, problems, { root: false });
  const items = schemaAt(s['items']);
  if (items !== undefined) walkStructural(items, `${path}.items`, problems, { root: false });
  else if (s['type'] === 'array') problems.push(`${path}.items: Required value: must be specified`);
}

/** Inside a junctor: no types or defaults, and every field named there is named outside too. */
function junctorCheck(js: JsonObject, path: string, outside: JsonObject, problems: string[], intOrString: boolean): void {
  for (const f of FORBIDDEN_IN_JUNCTORS) {
    if (js[f] === undefined) continue;
    // The two int-or-string patterns (anyOf: [{type: integer}, {type: string}]) are allowed.
    if (f === 'type' && intOrString && (js[f] === 'integer' || js[f] === 'string')) continue;
    problems.push(`${path}.${f}: Forbidden: must be empty to be structural`);
  }
  const props = schemaAt(js['properties']);
  const outer = schemaAt(outside['properties']) ?? {};
  for (const k of Object.keys(props ?? {})) {
    if (!Object.hasOwn(outer, k)) problems.push(`${path}.properties[${k}]: Required value: must have a counterpart outside the junctor to be structural`);
  }
  if (js['items'] !== undefined && outside['items'] === undefined) {
    problems.push(`${path}.items: Required value: must have a counterpart outside the junctor to be structural`);
  }
}

/** Applies a version's schema to an object: returns it pruned, with the causes that reject it. */
export function admitCustomObject(
  schema: JsonObject,
  obj: JsonObject,
  options: { strict: boolean },
): { object: JsonObject; causes: SchemaCause[] } {
  const causes: SchemaCause[] = [];
  const out: JsonObject = {};
  const props = schemaAt(schema['properties']) ?? {};
  for (const [k, v] of Object.entries(obj)) {
    // apiVersion, kind and metadata are the server's to check, never pruned by a CRD schema.
    if (k === 'apiVersion' || k === 'kind' || k === 'metadata') {
      out[k] = v;
      continue;
    }
    const child = schemaAt(props[k]);
    if (child === undefined) {
      if (schema['x-kubernetes-preserve-unknown-fields'] === true) out[k] = v;
      else if (options.strict) causes.push({ field: k, reason: 'FieldValueUnknown', message: `unknown field "${k}"` });
      continue;
    }
    out[k] = validate(child, v, k, causes, options);
  }
  for (const r of requiredOf(schema)) {
    if (r !== 'apiVersion' && r !== 'kind' && r !== 'metadata' && obj[r] === undefined) {
      causes.push({ field: r, reason: 'FieldValueRequired', message: `${r}: Required value` });
    }
  }
  return { object: out, causes };
}

function requiredOf(s: JsonObject): string[] {
  return Array.isArray(s['required']) ? s['required'].filter((x): x is string => typeof x === 'string') : [];
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(type: string, v: unknown): boolean {
  switch (type) {
    case 'object': return isObject(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'number': return typeof v === 'number';
    case 'boolean': return typeof v === 'boolean';
    default: return false;
  }
}

/** Validates one value (recording causes) and returns it pruned. */
function validate(s: JsonObject, v: unknown, path: string, causes: SchemaCause[], options: { strict: boolean }): unknown {
  const bad = (reason: SchemaCause['reason'], message: string): void => {
    causes.push({ field: path, reason, message: `${path}: ${message}` });
  };
  if (v === null) {
    if (s['nullable'] !== true && s['x-kubernetes-preserve-unknown-fields'] !== true) bad('FieldValueTypeInvalid', `Invalid value: "null": ${path} in body must be of type ${typeof s['type'] === 'string' ? s['type'] : 'object'}: "null"`);
    return v;
  }
  const type = typeof s['type'] === 'string' ? s['type'] : undefined;
  if (s['x-kubernetes-int-or-string'] === true) {
    if (!(typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v)))) {
      bad('FieldValueTypeInvalid', `Invalid value: ${JSON.stringify(v)}: ${path} in body must be of type integer or string: "${typeName(v)}"`);
      return v;
    }
  } else if (type !== undefined && !typeMatches(type, v)) {
    bad('FieldValueTypeInvalid', `Invalid value: "${typeName(v)}": ${path} in body must be of type ${type}: "${typeName(v)}"`);
    return v;
  }
  if (Array.isArray(s['enum']) && !s['enum'].some((e) => JSON.stringify(e) === JSON.stringify(v))) {
    bad('FieldValueNotSupported', `Unsupported value: ${JSON.stringify(v)}: supported values: ${s['enum'].map((e) => JSON.stringify(e)).join(', ')}`);
  }
  if (typeof v === 'string') {
    if (typeof s['maxLength'] === 'number' && v.length > s['maxLength']) bad('FieldValueInvalid', `Too long: may not be more than ${s['maxLength']} bytes`);
    if (typeof s['minLength'] === 'number' && v.length < s['minLength']) bad('FieldValueInvalid', `Invalid value: ${JSON.stringify(v)}: ${path} in body should be at least ${s['minLength']} chars long`);
    if (typeof s['pattern'] === 'string' && !new RegExp(s['pattern'], 'u').test(v)) bad('FieldValueInvalid', `Invalid value: ${JSON.stringify(v)}: ${path} in body should match '${s['pattern']}'`);
  }
  if (typeof v === 'number') {
    const min = s['minimum'];
    const max = s['maximum'];
    if (typeof min === 'number' && (s['exclusiveMinimum'] === true ? v <= min : v < min)) bad('FieldValueInvalid', `Invalid value: ${v}: ${path} in body should be greater than or equal to ${min}`);
    if (typeof max === 'number' && (s['exclusiveMaximum'] === true ? v >= max : v > max)) bad('FieldValueInvalid', `Invalid value: ${v}: ${path} in body should be less than or equal to ${max}`);
  }
  junctors(s, v, path, causes);
  if (Array.isArray(v)) {
    if (typeof s['maxItems'] === 'number' && v.length > s['maxItems']) bad('FieldValueInvalid', `Too many: ${v.length}: must have at most ${s['maxItems']} items`);
    if (typeof s['minItems'] === 'number' && v.length < s['minItems']) bad('FieldValueInvalid', `Invalid value: ${v.length}: ${path} in body should have at least ${s['minItems']} items`);
    const items = schemaAt(s['items']);
    return items === undefined ? v : v.map((x, i) => validate(items, x, `${path}[${i}]`, causes, options));
  }
  if (isObject(v)) {
    const n = Object.keys(v).length;
    if (typeof s['maxProperties'] === 'number' && n > s['maxProperties']) bad('FieldValueInvalid', `Too many: ${n}: must have at most ${s['maxProperties']} properties`);
    if (typeof s['minProperties'] === 'number' && n < s['minProperties']) bad('FieldValueInvalid', `Invalid value: ${n}: ${path} in body should have at least ${s['minProperties']} properties`);
    for (const r of requiredOf(s)) if (v[r] === undefined) causes.push({ field: `${path}.${r}`, reason: 'FieldValueRequired', message: `${path}.${r}: Required value` });
    const props = schemaAt(s['properties']);
    const additional = s['additionalProperties'];
    const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) {
      const child = schemaAt(props?.[k]);
      const p = `${path}.${k}`;
      if (child !== undefined) out[k] = validate(child, x, p, causes, options);
      else if (isObject(additional)) out[k] = validate(additional, x, p, causes, options);
      else if (additional === true || preserve) out[k] = x;
      else if (additional === false) causes.push({ field: p, reason: 'FieldValueForbidden', message: `${p}: Forbidden: additional properties are not allowed` });
      else if (options.strict) causes.push({ field: p, reason: 'FieldValueUnknown', message: `unknown field "${p}"` });
      // else: pruned, as the server drops what the schema does not name.
    }
    return out;
  }
  return v;
}

/** allOf/anyOf/oneOf/not constrain the value only; pruning follows the outer schema. */
function junctors(s: JsonObject, v: unknown, path: string, causes: SchemaCause[]): void {
  const passes = (x: unknown): boolean => {
    const inner: SchemaCause[] = [];
    const js = schemaAt(x);
    if (js !== undefined) validate({ ...js, 'x-kubernetes-preserve-unknown-fields': true }, v, path, inner, { strict: false });
    return inner.length === 0;
  };
  const list = (k: string): unknown[] => (Array.isArray(s[k]) ? s[k] : []);
  for (const x of list('allOf')) {
    const js = schemaAt(x);
    if (js !== undefined) validate({ ...js, 'x-kubernetes-preserve-unknown-fields': true }, v, path, causes, { strict: false });
  }
  if (list('anyOf').length > 0 && !list('anyOf').some(passes)) {
    causes.push({ field: path, reason: 'FieldValueInvalid', message: `${path}: Invalid value: ${JSON.stringify(v)}: ${path} in body must match at least one schema (anyOf)` });
  }
  if (list('oneOf').length > 0 && list('oneOf').filter(passes).length !== 1) {
    causes.push({ field: path, reason: 'FieldValueInvalid', message: `${path}: Invalid value: ${JSON.stringify(v)}: ${path} in body must match exactly one schema (oneOf)` });
  }
  if (s['not'] !== undefined && passes(s['not'])) {
    causes.push({ field: path, reason: 'FieldValueInvalid', message: `${path}: Invalid value: ${JSON.stringify(v)}: ${path} in body must not match the schema (not)` });
  }
}
