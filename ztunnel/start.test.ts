// Standalone start-up from a local config file: config dump, readiness, live reload, NACK
// counting. No namespaces involved (no workload runs on this node), so no root needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '#core/log.ts';
import { parseZtunnelConfig } from '#ztunnel/config.ts';
import { startFromConfig } from '#ztunnel/start.ts';
import { service, svc, wl, workload } from '#ztunnel/state/testing.ts';

test('file mode: serves admin endpoints and reloads the file on change', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-zt-start-'));
  const file = join(dir, 'mesh.json');
  const elsewhere = workload({ name: 'remote', addresses: ['10.9.0.2'], node: 'other-node' });
  await writeFile(file, JSON.stringify({ resources: [wl(elsewhere)] }));
  const cfg = parseZtunnelConfig(['--node', 'this-node', '--config-file', file, '--ca-dir', join(dir, 'ca'), '--admin-host', '127.0.0.1'], {});
  const running = await startFromConfig(cfg, silentLogger, { admin: { ports: { admin: 0, metrics: 0, readiness: 0 } } });
  try {
    const ports = running.ztunnel.adminPorts;
    assert.ok(ports !== undefined);
    const dump = await (await fetch(`http://127.0.0.1:${ports.admin}/config_dump`)).json() as { workloads: { name: string }[]; enrolledPods: unknown[]; version: string };
    assert.deepEqual(dump.workloads.map((w) => w.name), ['remote']);
    assert.deepEqual(dump.enrolledPods, []);
    assert.equal(dump.version, 'file-1');
    assert.equal((await fetch(`http://127.0.0.1:${ports.readiness}/healthz/ready`)).status, 200);

    // Atomic replace, as editors and config management do; one resource is malformed.
    const next = join(dir, '.mesh.json.tmp');
    await writeFile(next, JSON.stringify({ resources: [wl(elsewhere), svc(service({ name: 'echo', addresses: ['10.96.0.10'] })), { kind: 'service', key: 'x', value: {} }] }));
    await rename(next, file);
    const deadline = Date.now() + 3000;
    while (running.ztunnel.state.services().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(running.ztunnel.state.service('default/echo.default.svc.cluster.local')?.name, 'echo');
    const metrics = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
    assert.match(metrics, /weft_ztunnel_config_rejected_total\{kind="service"\} 1/);
    assert.match(metrics, /istio_build\{component="ztunnel"/);
  } finally {
    await running.close();
    await rm(dir, { recursive: true, force: true });
  }
});
