import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWaypointConfig } from './config.ts';

const base = ['--namespace', 'shop', '--name', 'waypoint', '--controller', 'https://10.0.0.1:15010', '--token-file', '/t', '--root-cert', '/r'];

test('flags make a frozen config with the waypoint identity and the controller endpoints', () => {
  const c = parseWaypointConfig(base, {});
  assert.equal(c.identity, 'spiffe://cluster.local/ns/shop/sa/waypoint');
  assert.equal(c.pushUrl, 'wss://10.0.0.1:15010/v1/push');
  assert.equal(c.caUrl, 'https://10.0.0.1:15010/v1/certificates');
  assert.equal(c.listenHost, '0.0.0.0');
  assert.equal(c.connectTimeoutMs, 10_000, 'Envoy\'s default connectTimeout');
  assert.equal(parseWaypointConfig([...base, '--connect-timeout-ms', '2500'], {}).connectTimeoutMs, 2500);
  assert.ok(Object.isFrozen(c));
});

test('the environment a Deployment sets is read, and flags win over it', () => {
  const env = {
    WEFT_WAYPOINT_NAMESPACE: 'shop', WEFT_WAYPOINT_NAME: 'wp', WEFT_CONTROLLER_URL: 'wss://ctl:15010',
    WEFT_TOKEN_FILE: '/t', WEFT_ROOT_CERT: '/r', WEFT_TRUST_DOMAIN: 'example.org',
  };
  const c = parseWaypointConfig([], env);
  assert.equal(c.identity, 'spiffe://example.org/ns/shop/sa/wp');
  assert.equal(c.controllerUrl, 'https://ctl:15010');
  assert.equal(parseWaypointConfig(['--name', 'other'], env).name, 'other');
});

test('bad input is refused with the reason', () => {
  const cases: [string[], RegExp][] = [
    [base.slice(2), /Gateway namespace is required/],
    [[...base, '--controller', 'http://x'], /must be https/],
    [[...base, '--admin-host', 'localhost'], /admin-host must be an IP address/],
    [[...base, '--log-level', 'loud'], /log level/],
    [[...base, '--bogus'], /Unknown option/],
    [[...base, '--connect-timeout-ms', '0'], /positive integer/],
  ];
  for (const [argv, want] of cases) assert.throws(() => parseWaypointConfig(argv, {}), want, argv.join(' '));
});
