// The controller path of ztunnel's config, against a scripted stand-in controller (a TLS
// WebSocket push endpoint): resources are validated once, by ztunnel's mutator, so a
// malformed version of a resource is NACKed while its last good version stays in force, and
// weft_ztunnel_config_rejected_total counts it. No network namespaces: runs without root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { CertificateAuthority } from '#core/ca/authority.ts';
import { MemoryCaStore } from '#core/ca/store.ts';
import { ConfigClient } from '#core/config/client.ts';
import { PUSH_PATH } from '#core/config/protocol.ts';
import { silentLogger } from '#core/log.ts';
import { issueServerCertificate } from '#controller/ca/server-cert.ts';
import { parseZtunnelConfig } from '#ztunnel/config.ts';
import { startFromConfig } from '#ztunnel/start.ts';
import { ProxyState } from '#ztunnel/state/proxy-state.ts';
import { authz, policy, service, svc, wl, workload } from '#ztunnel/state/testing.ts';

type Answer = { type: string; version?: number; errors?: { kind: string; key: string; reason: string }[] };

/** A push endpoint that sends what the test says and records what the client answers. */
class ScriptedController {
  readonly answers: Answer[] = [];
  #server: Server | undefined;
  #wss: WebSocketServer | undefined;
  #ws: WebSocket | undefined;
  #waiters: (() => void)[] = [];
  rootsPem: string[] = [];
  port = 0;

  async start(): Promise<void> {
    const store = new MemoryCaStore();
    const ca = await CertificateAuthority.open({ store });
    const root = await store.load();
    assert.ok(root);
    this.rootsPem = ca.rootsPem;
    const cert = await issueServerCertificate(root, { dnsNames: ['weft-controller'], ipAddresses: ['127.0.0.1'], uris: [] });
    this.#server = createServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => res.writeHead(404).end());
    this.#wss = new WebSocketServer({ server: this.#server, path: PUSH_PATH });
    this.#wss.on('connection', (ws) => {
      this.#ws = ws;
      ws.on('message', (data: Buffer) => {
        this.answers.push(JSON.parse(data.toString('utf8')) as Answer);
        for (const w of this.#waiters.splice(0)) w();
      });
    });
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.port = (this.#server.address() as AddressInfo).port;
  }

  get url(): string { return `https://127.0.0.1:${this.port}`; }

  /** The first answer matching, waiting for it if need be. */
  async answer(match: (a: Answer) => boolean, timeoutMs = 5000): Promise<Answer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.answers.find(match);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`no matching answer; got ${JSON.stringify(this.answers)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.#waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  send(frame: unknown): void {
    assert.ok(this.#ws !== undefined, 'no client connected');
    this.#ws.send(JSON.stringify(frame));
  }

  async close(): Promise<void> {
    for (const c of this.#wss?.clients ?? []) c.terminate();
    await new Promise<void>((resolve) => this.#wss?.close(() => resolve()) ?? resolve());
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}

const remote = workload({ name: 'remote', addresses: ['10.9.0.2'], node: 'other-node' });
const echo = service({ name: 'echo', addresses: ['10.96.0.10'] });
const deny = policy({ name: 'deny-9' });
const echoKey = 'default/echo.default.svc.cluster.local';

describe('config from the controller is validated once, by the mutator', () => {
  const controller = new ScriptedController();
  before(() => controller.start());
  after(() => controller.close());

  test('a malformed version of a resource is NACKed and the last good version stays, in snapshots and deltas', async () => {
    const state = new ProxyState();
    const client = new ConfigClient({
      url: controller.url, client: { kind: 'ztunnel', node: 'this-node' }, token: 't', rootsPem: controller.rootsPem,
      apply: (u) => state.applyUpdate(u), logger: silentLogger,
    }).start();
    try {
      await controller.answer((a) => a.type === 'subscribe');
      controller.send({ type: 'snapshot', version: 1, resources: [wl(remote), svc(echo), authz(deny)] });
      await controller.answer((a) => a.type === 'ack' && a.version === 1);

      const broken = { kind: 'authorization', key: 'default/deny-9', value: { ...deny, action: 'MAYBE' } };
      controller.send({ type: 'snapshot', version: 2, resources: [wl(remote), svc(echo), broken] });
      const nack = await controller.answer((a) => a.version === 2);
      assert.equal(nack.type, 'nack');
      assert.deepEqual(nack.errors?.map((e) => [e.kind, e.key]), [['authorization', 'default/deny-9']]);
      assert.match(nack.errors?.[0]?.reason ?? '', /action/);
      assert.deepEqual(state.authorization('default/deny-9'), deny, 'the snapshot kept the last good version');
      assert.equal(state.version, '2');

      controller.send({ type: 'delta', version: 3, updated: [{ kind: 'service', key: echoKey, value: { ...echo, addresses: ['nope'] } }, 'junk'], removed: [] });
      const nack3 = await controller.answer((a) => a.version === 3);
      assert.deepEqual(nack3.errors?.map((e) => [e.kind, e.key]), [['service', echoKey], ['?', '?']]);
      assert.deepEqual(state.service(echoKey), echo, 'the delta kept the last good version');
    } finally {
      await client.close();
    }
  });

  test('a ztunnel in controller mode counts what it refused in weft_ztunnel_config_rejected_total', async () => {
    controller.answers.length = 0;
    const dir = await mkdtemp(join(tmpdir(), 'weft-zt-config-path-'));
    await writeFile(join(dir, 'root.pem'), controller.rootsPem.join('\n'));
    await writeFile(join(dir, 'token'), 'a-token\n');
    const cfg = parseZtunnelConfig([
      '--node', 'this-node', '--controller', controller.url, '--root-cert', join(dir, 'root.pem'), '--token-file', join(dir, 'token'),
      '--admin-host', '127.0.0.1',
    ], {});
    const running = await startFromConfig(cfg, silentLogger, { admin: { ports: { admin: 0, metrics: 0, readiness: 0 } } });
    try {
      await controller.answer((a) => a.type === 'subscribe');
      controller.send({ type: 'snapshot', version: 1, resources: [wl(remote), svc(echo)] });
      await controller.answer((a) => a.type === 'ack' && a.version === 1);
      controller.send({ type: 'snapshot', version: 2, resources: [wl(remote), { kind: 'service', key: echoKey, value: {} }] });
      await controller.answer((a) => a.type === 'nack' && a.version === 2);
      assert.equal(running.ztunnel.state.service(echoKey)?.name, 'echo', 'the last good service is still served');
      const ports = running.ztunnel.adminPorts;
      assert.ok(ports !== undefined);
      const metrics = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
      assert.match(metrics, /weft_ztunnel_config_rejected_total\{kind="service"\} 1\b/);
    } finally {
      await running.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
