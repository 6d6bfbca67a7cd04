import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderHaproxyConfig, renderNginxConfig, type ProxyConfigInput } from './proxy-configs.ts';

const input: ProxyConfigInput = {
  listen: '10.0.0.5:8443', certFile: '/w/proxy.crt', keyFile: '/w/proxy.key',
  clientCertFile: '/w/client.crt', clientKeyFile: '/w/client.key', caFile: '/w/ca.crt', backendName: 'backend.bench',
  routes: [{ prefix: '/a', backend: '10.0.1.2:8443' }, { prefix: '/b', backend: '10.0.1.3:8443' }],
  workDir: '/w/nginx',
};

function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trim());
}

test('nginx: one worker, TLS 1.3 listener, kept-alive mutual-TLS upstreams, prefix-stripping routes', () => {
  const l = lines(renderNginxConfig(input));
  for (const want of [
    'daemon off;', 'worker_processes 1;', 'access_log off;', 'listen 10.0.0.5:8443 ssl;', 'ssl_protocols TLSv1.3;',
    'upstream backend_a {', 'server 10.0.1.2:8443;', 'keepalive 64;', 'proxy_http_version 1.1;', 'proxy_set_header Connection "";',
    'proxy_ssl_verify on;', 'proxy_ssl_name backend.bench;', 'proxy_ssl_certificate /w/client.crt;', 'proxy_ssl_trusted_certificate /w/ca.crt;',
    'location /a/ {', 'proxy_pass https://backend_a/;', 'location /b/ {', 'proxy_pass https://backend_b/;', 'pid /w/nginx/nginx.pid;',
  ]) assert.ok(l.includes(want), `missing ${want}`);
  const text = renderNginxConfig(input);
  assert.equal(text.split('{').length, text.split('}').length, 'balanced braces');
});

test('HAProxy: one thread, TLS 1.3 both ways, path_beg routing with the prefix stripped, verified backends', () => {
  const l = lines(renderHaproxyConfig({ ...input, certPemFile: '/w/proxy.pem', clientPemFile: '/w/client.pem' }));
  for (const want of [
    'nbthread 1', 'ssl-default-bind-options ssl-min-ver TLSv1.3', 'ssl-default-server-options ssl-min-ver TLSv1.3', 'mode http',
    'bind 10.0.0.5:8443 ssl crt /w/proxy.pem',
    'use_backend backend_a if { path_beg /a/ }', 'use_backend backend_b if { path_beg /b/ }',
    'backend backend_b', 'http-request replace-path /b(/.*) \\1',
    'server s1 10.0.1.3:8443 ssl verify required ca-file /w/ca.crt verifyhost backend.bench crt /w/client.pem',
  ]) assert.ok(l.includes(want), `missing ${want}`);
});
