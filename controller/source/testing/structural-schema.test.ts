// Structural-schema rules and custom-object admission, table by table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { admitCustomObject, checkStructural } from '#controller/source/testing/structural-schema.ts';

test('checkStructural', () => {
  const cases: [string, unknown, RegExp | undefined][] = [
    ['typed object', { type: 'object', properties: { spec: { type: 'object', properties: { a: { type: 'string' } } } } }, undefined],
    ['root not an object', { type: 'string' }, /must be object at the root/],
    ['untyped field', { type: 'object', properties: { spec: {} } }, /properties\[spec\]\.type: Required value/],
    ['preserve-unknown needs no type', { type: 'object', properties: { spec: { 'x-kubernetes-preserve-unknown-fields': true } } }, undefined],
    ['int-or-string with its anyOf', { type: 'object', properties: { p: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] } } }, undefined],
    ['type inside a junctor', { type: 'object', properties: { p: { type: 'string', oneOf: [{ type: 'string' }] } } }, /oneOf\[0\]\.type: Forbidden/],
    ['junctor field without a counterpart', { type: 'object', properties: { s: { type: 'object', anyOf: [{ properties: { x: {} } }] } } }, /anyOf\[0\]\.properties\[x\]: Required value/],
    ['properties and additionalProperties', { type: 'object', properties: { m: { type: 'object', properties: {}, additionalProperties: { type: 'string' } } } }, /mutual exclusive/],
    ['array without items', { type: 'object', properties: { l: { type: 'array' } } }, /items: Required value/],
    ['metadata beyond name', { type: 'object', properties: { metadata: { type: 'object', properties: { namespace: { type: 'string' } } } } }, /properties\[namespace\]: Forbidden/],
    ['metadata name restriction', { type: 'object', properties: { metadata: { type: 'object', properties: { name: { type: 'string', maxLength: 10 } } } } }, undefined],
  ];
  for (const [name, schema, want] of cases) {
    const problems = checkStructural(schema);
    if (want === undefined) assert.deepEqual(problems, [], name);
    else assert.ok(problems.some((p) => want.test(p)), `${name}: ${problems.join('; ')}`);
  }
});

test('admitCustomObject', () => {
  const schema = {
    type: 'object',
    properties: {
      spec: {
        type: 'object', required: ['name'],
        properties: {
          name: { type: 'string', minLength: 1 }, mode: { type: 'string', enum: ['A', 'B'] }, count: { type: 'integer', minimum: 0, maximum: 3 },
          tags: { type: 'array', maxItems: 2, items: { type: 'string' } }, labels: { type: 'object', additionalProperties: { type: 'string' } },
          open: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { n: { type: 'integer' } } },
          port: { 'x-kubernetes-int-or-string': true }, note: { type: 'string', nullable: true },
        },
      },
    },
  };
  const base = { apiVersion: 'x/v1', kind: 'X', metadata: { name: 'x', anything: 1 } };
  const cases: { name: string; spec: unknown; strict?: boolean; causes: string[]; spec2?: unknown }[] = [
    { name: 'valid', spec: { name: 'a', mode: 'A', count: 3, tags: ['x'], labels: { k: 'v' }, port: 'http', note: null }, causes: [] },
    { name: 'required', spec: {}, causes: ['spec.name: Required value'] },
    { name: 'enum', spec: { name: 'a', mode: 'C' }, causes: ['spec.mode: Unsupported value: "C": supported values: "A", "B"'] },
    { name: 'type', spec: { name: 1 }, causes: ['spec.name: Invalid value: "integer": spec.name in body must be of type string: "integer"'] },
    { name: 'bounds', spec: { name: 'a', count: 4, tags: ['a', 'b', 'c'] }, causes: ['spec.count: Invalid value: 4: spec.count in body should be less than or equal to 3', 'spec.tags: Too many: 3: must have at most 2 items'] },
    { name: 'map values', spec: { name: 'a', labels: { k: 1 } }, causes: ['spec.labels.k: Invalid value: "integer": spec.labels.k in body must be of type string: "integer"'] },
    { name: 'int-or-string', spec: { name: 'a', port: true }, causes: ['spec.port: Invalid value: true: spec.port in body must be of type integer or string: "boolean"'] },
    { name: 'unknown fields are pruned, preserved ones kept', spec: { name: 'a', extra: 1, open: { n: 1, free: { deep: true } } }, causes: [], spec2: { name: 'a', open: { n: 1, free: { deep: true } } } },
    { name: 'strict refuses unknown fields', spec: { name: 'a', extra: 1 }, strict: true, causes: ['unknown field "spec.extra"'] },
  ];
  for (const c of cases) {
    const { object, causes } = admitCustomObject(schema, { ...base, spec: c.spec }, { strict: c.strict === true });
    assert.deepEqual(causes.map((x) => x.message), c.causes, c.name);
    if (c.spec2 !== undefined) assert.deepEqual(object['spec'], c.spec2, c.name);
    assert.deepEqual(object['metadata'], base.metadata, `${c.name}: metadata is the server's, not the schema's`);
  }
});
