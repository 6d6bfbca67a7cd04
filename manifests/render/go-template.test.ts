// The Go template subset, table-tested against what Go's text/template and Helm print for the
// same input (outputs worked out from the text/template and Sprig documentation).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TemplateSet } from './go-template.ts';
import { helmFunctions } from './helm-functions.ts';
import type { LookupFn } from './helm-functions.ts';

function render(src: string, data: unknown, lookup?: LookupFn, defines = ''): string {
  const set = new TemplateSet(helmFunctions(lookup));
  if (defines !== '') set.add('_helpers.tpl', defines);
  set.add('t', src);
  return set.execute('t', data);
}

test('rendering', () => {
  const data = { Values: { name: 'weft', n: 2, on: true, off: false, empty: '', list: ['a', 'b'], map: { b: 2, a: 1 }, nested: { x: { y: 'deep' } }, res: { requests: { cpu: '100m' } } } };
  const cases: [string, string, string][] = [
    ['text only', 'plain\n', 'plain\n'],
    ['field', '{{ .Values.name }}', 'weft'],
    ['missing key prints nothing', '[{{ .Values.nope }}]', '[]'],
    ['number', '{{ .Values.n }}', '2'],
    ['trim both sides', 'a  \n  {{- .Values.name -}}  \n  b', 'aweftb'],
    ['trim needs a space', '{{-3}}', '-3'],
    ['comment', 'a{{/* gone */}}b', 'ab'],
    ['trimmed comment', 'a\n{{- /* gone */ -}}\nb', 'ab'],
    ['if/else if/else', '{{ if .Values.off }}1{{ else if .Values.empty }}2{{ else }}3{{ end }}', '3'],
    ['if true', '{{ if .Values.on }}yes{{ end }}', 'yes'],
    ['empty list is false', '{{ if list }}x{{ else }}none{{ end }}', 'none'],
    ['range list with index', '{{ range $i, $v := .Values.list }}{{ $i }}={{ $v }};{{ end }}', '0=a;1=b;'],
    ['range map sorts keys', '{{ range $k, $v := .Values.map }}{{ $k }}{{ $v }}{{ end }}', 'a1b2'],
    ['range dot', '{{ range .Values.list }}<{{ . }}>{{ end }}', '<a><b>'],
    ['range else', '{{ range .Values.nope }}x{{ else }}empty{{ end }}', 'empty'],
    ['with', '{{ with .Values.nested.x }}{{ .y }}{{ end }}', 'deep'],
    ['with else', '{{ with .Values.empty }}x{{ else }}no{{ end }}', 'no'],
    ['$ inside with', '{{ with .Values.nested }}{{ $.Values.name }}{{ end }}', 'weft'],
    ['variables and assignment', '{{ $a := "x" }}{{ if true }}{{ $a = "y" }}{{ end }}{{ $a }}', 'y'],
    ['pipeline appends the last argument', '{{ .Values.empty | default "dflt" }}', 'dflt'],
    ['default keeps a set value', '{{ .Values.name | default "dflt" }}', 'weft'],
    ['default of false is the default', '{{ .Values.off | default true }}', 'true'],
    ['parenthesised', '{{ printf "%s-%d" (.Values.name | upper) .Values.n }}', 'WEFT-2'],
    ['field of a parenthesised value', '{{ (dict "a" (dict "b" "c")).a.b }}', 'c'],
    ['quote', '{{ .Values.name | quote }} {{ quote "a\\"b" }}', '"weft" "a\\"b"'],
    ['toYaml sorts keys and drops the final newline', '{{ toYaml .Values.map }}', 'a: 1\nb: 2'],
    ['nindent', 'r:{{ toYaml .Values.res | nindent 2 }}', 'r:\n  requests:\n    cpu: 100m'],
    ['indent pads every line', '{{ indent 2 "a\\nb" }}', '  a\n  b'],
    ['eq with several', '{{ eq "b" "a" "b" }}', 'true'],
    ['and/or return operands', '{{ and 1 "" 3 }}|{{ or "" 0 "z" }}', '|z'],
    ['not', '{{ not .Values.empty }}', 'true'],
    ['gt int', '{{ gt (int .Values.n) 1 }}', 'true'],
    ['index of a map', '{{ index .Values.map "b" }}', '2'],
    ['hasKey', '{{ hasKey .Values.map "a" }}{{ hasKey .Values.map "z" }}', 'truefalse'],
    ['trimSuffix, replace, trunc', '{{ "a.svc" | trimSuffix ".svc" }} {{ replace "-" "_" "a-b" }} {{ trunc 2 "abc" }}', 'a a_b ab'],
    ['b64enc', '{{ b64enc "weft" }}', 'd2VmdA=='],
    ['string escapes', '{{ "tab\\there" }}', 'tab\there'],
    ['raw string', '{{ `a\\n` }}', 'a\\n'],
  ];
  for (const [name, src, want] of cases) assert.equal(render(src, data), want, name);
});

test('include and template render defines with the given dot', () => {
  const defines = '{{- define "x.name" -}}name-{{ . }}{{- end }}{{ define "x.labels" }}app: {{ .app }}{{ end }}';
  assert.equal(render('{{ include "x.name" "a" | upper }}', {}, undefined, defines), 'NAME-A');
  assert.equal(render('{{ template "x.labels" (dict "app" "weft") }}', {}, undefined, defines), 'app: weft');
  assert.equal(render('l:{{ include "x.labels" (dict "app" "z") | nindent 2 }}', {}, undefined, defines), 'l:\n  app: z');
});

test('lookup answers the reader, or an empty map (as helm template does)', () => {
  const src = '{{ $o := lookup "v1" "ConfigMap" "ns" "cm" }}{{ if $o }}found {{ $o.data.k }}{{ else }}absent{{ end }}';
  assert.equal(render(src, {}), 'absent');
  const reader: LookupFn = (apiVersion, kind, ns, name) => (kind === 'ConfigMap' && ns === 'ns' && name === 'cm' && apiVersion === 'v1' ? { data: { k: 'v' } } : undefined);
  assert.equal(render(src, {}, reader), 'found v');
});

test('errors name the template and line, and what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['a\n{{ .Values.a.b }}', /t:2: nil pointer evaluating <\.>\.Values\.a\.b/],
    ['{{ nosuch 1 }}', /function "nosuch" not defined/],
    ['{{ if true }}x', /if without end/],
    ['{{ end }}', /unexpected \{\{end\}\}/],
    ['{{ block "x" . }}{{ end }}', /\{\{block\}\} is not supported/],
    ['{{ .Values', /unclosed action/],
    ['{{ $x }}', /undefined variable \$x/],
    ['{{ required "name is required" .Values.none }}', /name is required/],
    ['{{ fail "stop here" }}', /stop here/],
    ['{{ "a" 1 }}', /can't give arguments to a non-function/],
    ['{{ eq (list 1) 1 }}', /eq compares only basic values/],
  ];
  for (const [src, want] of cases) assert.throws(() => render(src, { Values: {} }), want, src);
});
