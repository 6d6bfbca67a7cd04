import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderStunnelConfig } from './stunnel-config.ts';

test('renderStunnelConfig: mutual TLS 1.3, AES-GCM, one section per service', () => {
  const text = renderStunnelConfig({
    client: true, certFile: '/w/c.pem', keyFile: '/w/c.key', caFile: '/w/ca.pem',
    services: [{ name: 'iperf', accept: '127.0.0.1:15001', connect: '10.0.2.2:15443' }, { name: 'http', accept: '127.0.0.1:15002', connect: '10.0.2.2:15444' }],
  });
  const lines = text.split('\n');
  for (const want of ['client = yes', 'verifyChain = yes', 'requireCert = yes', 'sslVersionMin = TLSv1.3', 'foreground = yes',
    'ciphersuites = TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256', 'cert = /w/c.pem', 'key = /w/c.key', 'CAfile = /w/ca.pem']) {
    assert.ok(lines.includes(want), `missing ${want}`);
  }
  const iperf = lines.indexOf('[iperf]');
  assert.deepEqual(lines.slice(iperf, iperf + 3), ['[iperf]', 'accept = 127.0.0.1:15001', 'connect = 10.0.2.2:15443']);
  assert.ok(lines.indexOf('[http]') > iperf);
  assert.ok(lines.indexOf('ciphersuites = TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256') < iperf, 'global options come before the services');
  assert.ok(renderStunnelConfig({ client: false, certFile: 'a', keyFile: 'b', caFile: 'c', services: [] }).includes('client = no\n'));
});
