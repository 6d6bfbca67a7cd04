import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTROLLER_DEFAULTS, parseControllerConfig, parseDurationSeconds } from './config.ts';

test('parseDurationSeconds reads Go durations as Istio\'s environment does', () => {
  const cases: [string, number | undefined][] = [
    ['24h', 86_400], ['1h30m', 5400], ['90s', 90], ['1.5h', 5400], ['500ms', 0.5], ['2m30s', 150], ['45', 45],
    ['', undefined], ['h', undefined], ['10d', undefined], ['-5s', undefined], ['5 s', undefined], ['1h 2m', undefined], ['abc', undefined],
  ];
  for (const [input, want] of cases) assert.equal(parseDurationSeconds(input), want, JSON.stringify(input));
});

test('the workload certificate lifetime is a controller option (flag or DEFAULT_WORKLOAD_CERT_TTL), 24 h by default', () => {
  assert.equal(parseControllerConfig(['--state-dir', '/tmp/x'], {}).workloadCertTtlSeconds, 86_400);
  assert.equal(parseControllerConfig(['--state-dir', '/tmp/x'], { DEFAULT_WORKLOAD_CERT_TTL: '1h' }).workloadCertTtlSeconds, 3600);
  assert.equal(parseControllerConfig(['--state-dir', '/tmp/x', '--workload-cert-ttl', '20s'], { DEFAULT_WORKLOAD_CERT_TTL: '1h' }).workloadCertTtlSeconds, 20);
  const bad: [string, RegExp][] = [
    ['soon', /--workload-cert-ttl: not a duration/], ['1s', /--workload-cert-ttl: must be whole seconds from 5s to 90 days/],
    ['91d', /not a duration/], ['2500h', /must be whole seconds/], ['10.5s', /must be whole seconds/],
  ];
  for (const [v, want] of bad) assert.throws(() => parseControllerConfig(['--state-dir', 'x', '--workload-cert-ttl', v], {}), want, v);
});

test('push/CA listener limits: a 10 s handshake bound and a per-source connection cap by default', () => {
  const d = parseControllerConfig(['--state-dir', '/tmp/x'], {});
  assert.deepEqual([d.handshakeTimeoutMs, d.maxConnectionsPerSource], [10_000, CONTROLLER_DEFAULTS.maxConnectionsPerSource]);
  const c = parseControllerConfig(['--state-dir', '/tmp/x', '--handshake-timeout-ms', '2500', '--max-connections-per-source', '8'], {});
  assert.deepEqual([c.handshakeTimeoutMs, c.maxConnectionsPerSource], [2500, 8]);
  assert.throws(() => parseControllerConfig(['--state-dir', 'x', '--handshake-timeout-ms', '0'], {}), /--handshake-timeout-ms: must be 100-120000/);
  assert.throws(() => parseControllerConfig(['--state-dir', 'x', '--max-connections-per-source', '0'], {}), /--max-connections-per-source: must be a positive/);
  assert.throws(() => parseControllerConfig(['--state-dir', 'x', '--max-connections-per-source', 'many'], {}), /--max-connections-per-source: not a number/);
});

test('the waypoints\' rate-limit Redis is a controller option (flag or WEFT_WAYPOINT_RATE_LIMIT_REDIS), none by default', () => {
  assert.equal(parseControllerConfig(['--state-dir', '/tmp/x'], {}).waypointRateLimitRedis, '');
  assert.equal(parseControllerConfig(['--state-dir', '/tmp/x'], { WEFT_WAYPOINT_RATE_LIMIT_REDIS: '10.96.0.10:6379' }).waypointRateLimitRedis, '10.96.0.10:6379');
  assert.equal(parseControllerConfig(['--state-dir', '/tmp/x', '--waypoint-rate-limit-redis', '[fd00::1]:6380'], { WEFT_WAYPOINT_RATE_LIMIT_REDIS: 'a:1' }).waypointRateLimitRedis, '[fd00::1]:6380');
  for (const v of ['redis', 'redis:0', 'redis:70000', 'redis:port', 'a b:1']) {
    assert.throws(() => parseControllerConfig(['--state-dir', 'x', '--waypoint-rate-limit-redis', v], {}), /--waypoint-rate-limit-redis: must be host:port/, v);
  }
});

test('client authentication: hmac locally, token-review on Kubernetes; hmac on Kubernetes only with the insecure flag', () => {
  const local = parseControllerConfig(['--state-dir', '/tmp/x'], {});
  assert.deepEqual([local.clientAuth, local.insecureAllowHmacAuth], ['hmac', false]);
  const kube = parseControllerConfig(['--state-dir', '/tmp/x', '--source', 'kubernetes'], {});
  assert.equal(kube.clientAuth, 'token-review');
  const refused = (args: string[], env: Record<string, string> = {}): void => {
    assert.throws(() => parseControllerConfig(['--state-dir', '/tmp/x', '--source', 'kubernetes', ...args], env), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, /^controller: --client-auth: hmac is refused with --source kubernetes: .*--insecure-allow-hmac-auth true/);
      assert.doesNotMatch(err.message, /\n/, 'one line');
      return true;
    });
  };
  refused(['--client-auth', 'hmac']);
  refused([], { WEFT_CLIENT_AUTH: 'hmac' });
  refused(['--client-auth', 'hmac', '--insecure-allow-hmac-auth', 'false']);
  const insecure = parseControllerConfig(['--state-dir', '/tmp/x', '--source', 'kubernetes', '--client-auth', 'hmac', '--insecure-allow-hmac-auth', 'true'], {});
  assert.deepEqual([insecure.clientAuth, insecure.insecureAllowHmacAuth], ['hmac', true]);
  assert.equal(parseControllerConfig(['--state-dir', '/tmp/x', '--source', 'kubernetes'], { WEFT_CLIENT_AUTH: 'hmac', WEFT_INSECURE_ALLOW_HMAC_AUTH: 'true' }).clientAuth, 'hmac');
  assert.throws(() => parseControllerConfig(['--state-dir', 'x', '--client-auth', 'token-review'], {}), /--client-auth: token-review needs --source kubernetes/);
  assert.throws(() => parseControllerConfig(['--state-dir', 'x', '--client-auth', 'jwt'], {}), /--client-auth: one of hmac, token-review, got "jwt"/);
  assert.throws(() => parseControllerConfig(['--state-dir', 'x', '--insecure-allow-hmac-auth', 'yes'], {}), /--insecure-allow-hmac-auth: true or false/);
});
