// Filters, table-driven. Scenarios: conformance httproute-request-header-modifier,
// httproute-response-header-modifier, httproute-rewrite-path, httproute-rewrite-host,
// httproute-redirect-path, httproute-redirect-port-and-scheme (listeners 80, 8080, 443),
// httproute-redirect-host-and-status, httproute-303/307/308-redirect, mesh/httproute-redirect-port,
// mesh/httproute-redirect-scheme, httproute-request-percentage-mirror; and the ReplacePrefixMatch
// table of HTTPPathModifier in apis/v1/httproute_types.go.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HeaderModifier, HttpRouteMatch, PrefixReplace, RequestMirror, RequestRedirect } from '#core/config/routes.ts';
import {
  changedPath, mirrorWanted, modifyHeaders, redirect, replacePrefix, rewriteHost, rewritePath, type HeaderRecord, type RedirectOrigin,
} from '#waypoint/route/filters.ts';

const mod = (m: Partial<HeaderModifier>): HeaderModifier => ({ set: [], add: [], remove: [], ...m });

/** Lower-cases names so results compare as a client sees them. */
function lower(h: HeaderRecord): HeaderRecord {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

test('modifyHeaders: set, add, remove (request-header-modifier and response-header-modifier)', () => {
  const rows: [string, HeaderRecord, HeaderModifier, HeaderRecord][] = [
    ['set adds a missing header', { 'some-other-header': 'val' }, mod({ set: [{ name: 'X-Header-Set', value: 'set-overwrites-values' }] }),
      { 'some-other-header': 'val', 'x-header-set': 'set-overwrites-values' }],
    ['set overwrites', { 'some-other-header': 'val', 'x-header-set': 'some-other-value' }, mod({ set: [{ name: 'X-Header-Set', value: 'set-overwrites-values' }] }),
      { 'some-other-header': 'val', 'x-header-set': 'set-overwrites-values' }],
    ['add creates', { 'some-other-header': 'val' }, mod({ add: [{ name: 'X-Header-Add', value: 'add-appends-values' }] }),
      { 'some-other-header': 'val', 'x-header-add': 'add-appends-values' }],
    ['add appends with a comma', { 'x-header-add': 'some-other-value' }, mod({ add: [{ name: 'X-Header-Add', value: 'add-appends-values' }] }),
      { 'x-header-add': 'some-other-value,add-appends-values' }],
    ['remove', { 'x-header-remove': 'val' }, mod({ remove: ['X-Header-Remove'] }), {}],
    ['multiple', { 'x-header-set-2': 'set-val-2', 'x-header-add-2': 'add-val-2', 'x-header-remove-2': 'remove-val-2', 'another-header': 'another-header-val' },
      mod({
        set: [{ name: 'X-Header-Set-1', value: 'header-set-1' }, { name: 'X-Header-Set-2', value: 'header-set-2' }],
        add: [{ name: 'X-Header-Add-1', value: 'header-add-1' }, { name: 'X-Header-Add-2', value: 'header-add-2' }, { name: 'X-Header-Add-3', value: 'header-add-3' }],
        remove: ['X-Header-Remove-1', 'X-Header-Remove-2'],
      }),
      { 'x-header-set-1': 'header-set-1', 'x-header-set-2': 'header-set-2', 'x-header-add-1': 'header-add-1', 'x-header-add-2': 'add-val-2,header-add-2', 'x-header-add-3': 'header-add-3', 'another-header': 'another-header-val' }],
    ['case-insensitivity: the record may carry any case', { 'X-Header-Set': 'original-val-set', 'x-HEADER-add': 'original-val-add', 'X-Header-Remove': 'original-val-remove', 'Another-Header': 'another-header-val' },
      mod({ set: [{ name: 'x-header-set', value: 'header-set' }], add: [{ name: 'X-Header-Add', value: 'header-add' }, { name: 'x-Mixedcase-ADD-1', value: 'mixedcase-add-1' }], remove: ['X-HEADER-REMOVE'] }),
      { 'x-header-set': 'header-set', 'x-header-add': 'original-val-add,header-add', 'x-mixedcase-add-1': 'mixedcase-add-1', 'another-header': 'another-header-val' }],
    ['add to a repeated header folds all values', { 'x-a': ['1', '2'] }, mod({ add: [{ name: 'x-a', value: '3' }] }), { 'x-a': '1,2,3' }],
    ['set-cookie is never folded', { 'set-cookie': ['a=1'] }, mod({ add: [{ name: 'Set-Cookie', value: 'b=2' }] }), { 'set-cookie': ['a=1', 'b=2'] }],
    ['untouched headers keep their names', { 'Keep-Me': 'x' }, mod({}), { 'Keep-Me': 'x' }],
  ];
  for (const [name, input, modifier, want] of rows) {
    const out = modifyHeaders(input, modifier);
    assert.deepEqual(name === 'untouched headers keep their names' ? out : lower(out), want, name);
  }
  const input = { a: '1' };
  modifyHeaders(input, mod({ set: [{ name: 'a', value: '2' }] }));
  assert.deepEqual(input, { a: '1' }, 'the input record is not changed');
});

const prefixMatch = (value: string): HttpRouteMatch => ({ protocol: 'http', path: { type: 'PathPrefix', value }, headers: [], queryParams: [] });

test('rewritePath: ReplacePrefixMatch, the spec table (prefixes as the controller stores them, trailing "/" dropped)', () => {
  const rows: [string, string, string, string][] = [
    ['/foo/bar', '/foo', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo', '/xyz/', '/xyz/bar'],
    ['/foo/bar', '/foo', '/xyz', '/xyz/bar'], // prefix written `/foo/`
    ['/foo/bar', '/foo', '/xyz/', '/xyz/bar'], // prefix written `/foo/`
    ['/foo', '/foo', '/xyz', '/xyz'],
    ['/foo/', '/foo', '/xyz', '/xyz/'],
    ['/foo/bar', '/foo', '', '/bar'],
    ['/foo/', '/foo', '', '/'],
    ['/foo', '/foo', '', '/'],
    ['/foo/', '/foo', '/', '/'],
    ['/foo', '/foo', '/', '/'],
    // conformance httproute-rewrite-path
    ['/prefix/one/two', '/prefix/one', '/one', '/one/two'],
    ['/strip-prefix/three', '/strip-prefix', '/', '/three'],
    ['/strip-prefix', '/strip-prefix', '/', '/'],
    ['/prefix/rewrite-path-and-modify-headers/one', '/prefix/rewrite-path-and-modify-headers', '/prefix', '/prefix/one'],
    // the query string is kept; the root prefix prepends
    ['/foo/bar?x=1&y', '/foo', '/xyz', '/xyz/bar?x=1&y'],
    ['/a/b', '/', '/v2', '/v2/a/b'],
  ];
  for (const [path, prefix, replace, want] of rows) {
    assert.equal(rewritePath(path, prefixMatch(prefix), { type: 'ReplacePrefixMatch', replacePrefixMatch: replace }), want, `${path} ${prefix} → ${replace}`);
  }
});

test('rewritePath: ReplaceFullPath keeps the query; a prefix replace never applies to a non-matching path or match', () => {
  assert.equal(rewritePath('/full/one/two', prefixMatch('/full/one'), { type: 'ReplaceFullPath', replaceFullPath: '/one' }), '/one');
  assert.equal(rewritePath('/full/rewrite-path-and-modify-headers/test?q=1', prefixMatch('/full'), { type: 'ReplaceFullPath', replaceFullPath: '/test' }), '/test?q=1');
  assert.equal(rewritePath('/other', prefixMatch('/foo'), { type: 'ReplacePrefixMatch', replacePrefixMatch: '/x' }), '/other');
  const exactMatch: HttpRouteMatch = { protocol: 'http', path: { type: 'Exact', value: '/foo' }, headers: [], queryParams: [] };
  assert.equal(rewritePath('/foo', exactMatch, { type: 'ReplacePrefixMatch', replacePrefixMatch: '/x' }), '/foo');
});

test('rewriteHost (httproute-rewrite-host)', () => {
  assert.equal(rewriteHost('rewrite.example', { hostname: 'one.example.org' }), 'one.example.org');
  assert.equal(rewriteHost('rewrite.example', { path: { type: 'ReplaceFullPath', replaceFullPath: '/x' } }), 'rewrite.example');
});

const origin = (o: Partial<RedirectOrigin> = {}): RedirectOrigin => ({ scheme: 'http', host: 'echo', port: 80, path: '/', ...o });
const redirectTo = (r: Partial<RequestRedirect>): RequestRedirect => ({ statusCode: 302, ...r });

test('redirect: scheme, host, port, path and status, with the spec defaults', () => {
  const rows: [string, RedirectOrigin, RequestRedirect, HttpRouteMatch, number, string][] = [
    // httproute-redirect-path
    ['prefix replaced', origin({ path: '/original-prefix/lemon' }), redirectTo({ path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/replacement-prefix' } }), prefixMatch('/original-prefix'), 302, 'http://echo/replacement-prefix/lemon'],
    ['full path replaced', origin({ path: '/full/path/original' }), redirectTo({ path: { type: 'ReplaceFullPath', replaceFullPath: '/full-path-replacement' } }), prefixMatch('/full'), 302, 'http://echo/full-path-replacement'],
    ['path and host', origin({ path: '/path-and-host' }), redirectTo({ hostname: 'example.org', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/replacement-prefix' } }), prefixMatch('/path-and-host'), 302, 'http://example.org/replacement-prefix'],
    ['path and status', origin({ path: '/path-and-status' }), { statusCode: 301, path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/replacement-prefix' } }, prefixMatch('/path-and-status'), 301, 'http://echo/replacement-prefix'],
    ['no path modifier keeps the path and query', origin({ path: '/keep/me?x=1' }), redirectTo({ hostname: 'example.org' }), prefixMatch('/keep'), 302, 'http://example.org/keep/me?x=1'],
    // httproute-redirect-port-and-scheme, listener on 80
    ['80: scheme nil, port nil', origin(), redirectTo({ hostname: 'example.org' }), prefixMatch('/'), 302, 'http://example.org/'],
    ['80: scheme nil, port 80', origin(), redirectTo({ hostname: 'example.org', port: 80 }), prefixMatch('/'), 302, 'http://example.org/'],
    ['80: scheme nil, port 8080', origin(), redirectTo({ hostname: 'example.org', port: 8080 }), prefixMatch('/'), 302, 'http://example.org:8080/'],
    ['80: https, port nil', origin(), redirectTo({ hostname: 'example.org', scheme: 'https' }), prefixMatch('/'), 302, 'https://example.org/'],
    ['80: https, port 443', origin(), redirectTo({ hostname: 'example.org', scheme: 'https', port: 443 }), prefixMatch('/'), 302, 'https://example.org/'],
    ['80: https, port 8443', origin(), redirectTo({ hostname: 'example.org', scheme: 'https', port: 8443 }), prefixMatch('/'), 302, 'https://example.org:8443/'],
    // listener on 8080
    ['8080: scheme nil, port nil keeps the listener port', origin({ port: 8080 }), redirectTo({ hostname: 'example.org' }), prefixMatch('/'), 302, 'http://example.org:8080/'],
    ['8080: scheme nil, port 80', origin({ port: 8080 }), redirectTo({ hostname: 'example.org', port: 80 }), prefixMatch('/'), 302, 'http://example.org/'],
    ['8080: https, port nil takes 443', origin({ port: 8080 }), redirectTo({ hostname: 'example.org', scheme: 'https' }), prefixMatch('/'), 302, 'https://example.org/'],
    // listener on 443 (https)
    ['443: scheme nil, port nil', origin({ scheme: 'https', port: 443, host: 'example.org' }), redirectTo({ hostname: 'example.org' }), prefixMatch('/'), 302, 'https://example.org/'],
    ['443: scheme nil, port 8443', origin({ scheme: 'https', port: 443 }), redirectTo({ hostname: 'example.org', port: 8443 }), prefixMatch('/'), 302, 'https://example.org:8443/'],
    ['443: http, port nil takes 80', origin({ scheme: 'https', port: 443 }), redirectTo({ hostname: 'example.org', scheme: 'http' }), prefixMatch('/'), 302, 'http://example.org/'],
    ['443: http, port 8080', origin({ scheme: 'https', port: 443 }), redirectTo({ hostname: 'example.org', scheme: 'http', port: 8080 }), prefixMatch('/'), 302, 'http://example.org:8080/'],
    // mesh/httproute-redirect-port, -scheme, -host-and-status; httproute-30x-redirect
    ['mesh: port only', origin({ path: '/port' }), redirectTo({ port: 8083 }), prefixMatch('/port'), 302, 'http://echo:8083/port'],
    ['mesh: port and host, Host header port ignored', origin({ host: 'echo:80', path: '/port-and-host' }), redirectTo({ hostname: 'example.org', port: 8083 }), prefixMatch('/port-and-host'), 302, 'http://example.org:8083/port-and-host'],
    ['mesh: scheme only', origin({ path: '/scheme' }), redirectTo({ scheme: 'https' }), prefixMatch('/scheme'), 302, 'https://echo/scheme'],
    ['mesh: host and 301', origin({ path: '/host-and-status' }), { statusCode: 301, hostname: 'example.org' }, prefixMatch('/host-and-status'), 301, 'http://example.org/host-and-status'],
    ['303', origin(), { statusCode: 303 }, prefixMatch('/'), 303, 'http://echo/'],
    ['307', origin(), { statusCode: 307 }, prefixMatch('/'), 307, 'http://echo/'],
    ['308', origin(), { statusCode: 308 }, prefixMatch('/'), 308, 'http://echo/'],
    ['the request Host keeps its name, loses its port', origin({ host: 'echo.ns.svc.cluster.local:8080', port: 8080 }), redirectTo({}), prefixMatch('/'), 302, 'http://echo.ns.svc.cluster.local:8080/'],
    ['an IPv6 Host', origin({ host: '[fd00::1]:8080', port: 8080 }), redirectTo({ port: 9090 }), prefixMatch('/'), 302, 'http://[fd00::1]:9090/'],
  ];
  for (const [name, o, filter, match, status, location] of rows) assert.deepEqual(redirect(o, filter, match), { status, location }, name);
});

test('mirrorWanted: percent and fraction (httproute-request-percentage-mirror)', () => {
  const mirror = (numerator: number, denominator: number): RequestMirror => ({ service: 'ns/m.ns.svc.cluster.local', port: 8080, fraction: { numerator, denominator } });
  const rows: [string, RequestMirror, number, boolean][] = [
    ['all', mirror(100, 100), 0.999, true],
    ['none', mirror(0, 100), 0, false],
    ['20 percent, inside', mirror(20, 100), 0.19, true],
    ['20 percent, outside', mirror(20, 100), 0.2, false],
    ['25/50 inside', mirror(25, 50), 0.49, true],
    ['25/50 outside', mirror(25, 50), 0.5, false],
  ];
  for (const [name, m, r, want] of rows) assert.equal(mirrorWanted(m, () => r), want, name);
  let calls = 0;
  mirrorWanted(mirror(100, 100), () => (calls++, 0));
  assert.equal(calls, 0, 'a certain answer needs no random draw');
});

test('replacePrefix: character-wise, as Envoy prefix_rewrite (VirtualService rewrite.uri)', () => {
  const rows: [string, PrefixReplace, string][] = [
    ['/v1/items?x=1', { prefix: '/v1', replacement: '/v2' }, '/v2/items?x=1'],
    ['/v1beta/x', { prefix: '/v1', replacement: '/v2' }, '/v2beta/x'],
    ['/v1', { prefix: '/v1', replacement: '' }, ''],
    ['/api/x', { prefix: '/api/', replacement: '/' }, '/x'],
    ['/anything', { prefix: '', replacement: '/pre' }, '/pre/anything'],
    ['/API/x', { prefix: '/api', replacement: '/svc' }, '/API/x'],
    ['/API/x', { prefix: '/api', replacement: '/svc', ignoreCase: true }, '/svc/x'],
    ['/other', { prefix: '/api', replacement: '/svc' }, '/other'],
  ];
  for (const [path, r, want] of rows) assert.equal(replacePrefix(path, r), want, `${path} ${JSON.stringify(r)}`);
});

test('rewrite and redirect with replacePrefix', () => {
  const m: HttpRouteMatch = { protocol: 'http', path: { type: 'PathPrefix', value: '/old' }, headers: [], queryParams: [] };
  assert.equal(changedPath('/old/x?q', m, { replacePrefix: { prefix: '/old', replacement: '/new' } }), '/new/x?q');
  assert.equal(changedPath('/old/x', m, {}), '/old/x');
  const origin: RedirectOrigin = { scheme: 'http', host: 'echo', port: 80, path: '/old/x?q=1' };
  const r: RequestRedirect = { statusCode: 301, replacePrefix: { prefix: '/old', replacement: '/new' } };
  assert.deepEqual(redirect(origin, r, m), { status: 301, location: 'http://echo/new/x?q=1' });
});
