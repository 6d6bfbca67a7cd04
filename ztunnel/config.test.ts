import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWeftError } from '#core/errors.ts';
import { parseZtunnelConfig } from '#ztunnel/config.ts';

test('controller mode from env, URLs derived, frozen', () => {
  const c = parseZtunnelConfig([], {
    WEFT_NODE_NAME: 'node1', WEFT_CONTROLLER_URL: 'https://10.0.0.5:15012/anything', WEFT_TOKEN_FILE: '/t', WEFT_ROOT_CERT: '/r',
  });
  assert.equal(c.node, 'node1');
  assert.equal(c.trustDomain, 'cluster.local');
  assert.deepEqual(c.source, {
    kind: 'controller', url: 'https://10.0.0.5:15012', pushUrl: 'wss://10.0.0.5:15012/v1/push', caUrl: 'https://10.0.0.5:15012/v1/certificates',
    tokenFile: '/t', rootCertFile: '/r', controllerIdentity: undefined,
  });
  assert.equal(c.adminHost, '0.0.0.0');
  assert.equal(c.configWaitMs, 5000);
  assert.equal(c.removeCaptureOnExit, false);
  assert.equal(c.nodeDir, undefined);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.source));
});

test('flags win over env; file mode', () => {
  const c = parseZtunnelConfig(['--node', 'n2', '--config-file', '/c.json', '--ca-dir', '/ca', '--log-level', 'debug', '--remove-capture-on-exit', '--config-wait-ms', '250'], {
    WEFT_NODE_NAME: 'ignored', WEFT_ADMIN_HOST: '192.168.1.2',
  });
  assert.equal(c.node, 'n2');
  assert.deepEqual(c.source, { kind: 'file', configFile: '/c.json', caDir: '/ca' });
  assert.equal(c.logLevel, 'debug');
  assert.equal(c.adminHost, '192.168.1.2');
  assert.equal(c.removeCaptureOnExit, true);
  assert.equal(c.configWaitMs, 250);
});

test('node folder from flag or env, absolute only', () => {
  const base = ['--node', 'n', '--config-file', '/c.json'];
  assert.equal(parseZtunnelConfig([...base, '--node-dir', '/run/weft/node'], {}).nodeDir, '/run/weft/node');
  assert.equal(parseZtunnelConfig(base, { WEFT_NODE_DIR: '/var/run/weft/pods' }).nodeDir, '/var/run/weft/pods');
  assert.throws(() => parseZtunnelConfig([...base, '--node-dir', 'relative/dir'], {}), (err: unknown) => isWeftError(err, 'WEFT_ERR_ZTUNNEL_CONFIG') && /absolute path/.test(err.message));
});

test('clear errors for bad configuration', () => {
  const rows: [string[], Record<string, string>, RegExp][] = [
    [[], {}, /node name is required/],
    [['--node', 'n'], {}, /no config source/],
    [['--node', 'n', '--controller', 'http://x:1', '--token-file', 't', '--root-cert', 'r'], {}, /must be https/],
    [['--node', 'n', '--controller', 'https://x:1', '--root-cert', 'r'], {}, /token file is required/],
    [['--node', 'n', '--controller', 'https://x:1', '--token-file', 't'], {}, /root certificate is required/],
    [['--node', 'n', '--controller', 'https://x:1', '--config-file', 'f'], {}, /not both/],
    [['--node', 'n', '--config-file', 'f', '--admin-host', 'localhost'], {}, /IP address/],
    [['--node', 'n', '--config-file', 'f', '--log-level', 'loud'], {}, /log level/],
    [['--node', 'n', '--config-file', 'f', '--trust-domain', 'Bad Domain'], {}, /trust domain/],
    [['--node', 'n', '--config-file', 'f', '--config-wait-ms', '0'], {}, /positive integer/],
    [['--nope'], {}, /Unknown option/],
  ];
  for (const [argv, env, re] of rows) {
    assert.throws(() => parseZtunnelConfig(argv, env), (err: unknown) => isWeftError(err, 'WEFT_ERR_ZTUNNEL_CONFIG') && re.test(err.message), argv.join(' '));
  }
});
