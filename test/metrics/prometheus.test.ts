// End-to-end: a real Prometheus server scrapes both ztunnels of the embedded mesh, so the
// text exposition on :15020 must parse for Prometheus itself, and the Istio TCP series must
// count what crossed the mesh. Needs root (the embedded cluster) and the Debian package
// `prometheus`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '#core/log.ts';
import { ECHO_HTTP_PORT, startEcho } from '#local/echo.ts';
import { LocalMesh } from '#local/mesh.ts';
import type { LocalPod } from '#local/pod.ts';
import type { LocalProcess } from '#local/process.ts';
import type { LocalService } from '#local/service.ts';
import { PrometheusServer } from './prometheus-server.ts';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (network namespaces, iptables)';
const echoOutput = process.env['WEFT_TEST_LOG'] === '1';
const NAMESPACE = 'metrics';
const REQUESTS = 3;
// A control target whose page Prometheus must reject (a label set that never closes), so a
// clean lastError on the ztunnels means their exposition parsed, not that errors go unseen.
const BROKEN_EXPOSITION = '# TYPE weft_broken counter\nweft_broken_total{reporter="source" 1\n';

async function eventually(what: () => string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`timed out: ${what()}`);
}

describe('ztunnel metrics scraped by a real Prometheus', { skip }, () => {
  let mesh: LocalMesh | undefined;
  let prometheus: PrometheusServer | undefined;
  let echoApp: LocalProcess | undefined;
  let broken: http.Server | undefined;
  let promStarted: Promise<void> | undefined;
  let client: LocalPod;
  let svc: LocalService;

  before(async () => {
    mesh = await LocalMesh.start({ name: 'prom', nodes: 2, echo: echoOutput, logger: new Logger({ level: echoOutput ? 'debug' : 'off' }) });
    const cluster = mesh.cluster;
    const badPage = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(BROKEN_EXPOSITION);
    });
    broken = badPage;
    await new Promise<void>((resolve) => badPage.listen(0, '127.0.0.1', resolve));
    // Prometheus applies scrape targets only every few seconds after start: start it first,
    // and build the workloads meanwhile.
    promStarted = PrometheusServer.start({
      jobs: {
        ztunnel: mesh.ztunnels.map((z) => new URL(z.metricsUrl).host),
        control: [`127.0.0.1:${(badPage.address() as AddressInfo).port}`],
      },
      echo: echoOutput,
    }).then((p) => { prometheus = p; });
    let server: LocalPod;
    [client, server] = await Promise.all([
      cluster.addPod({ namespace: NAMESPACE, name: 'client', node: 'node1', serviceAccount: 'sleep', labels: { app: 'sleep' } }),
      cluster.addPod({ namespace: NAMESPACE, name: 'echo', node: 'node2', serviceAccount: 'echo', labels: { app: 'echo' } }),
    ]);
    echoApp = await startEcho(server);
    svc = await cluster.addService({ namespace: NAMESPACE, name: 'echo', selector: { app: 'echo' }, ports: [{ port: 80, targetPort: ECHO_HTTP_PORT, name: 'http' }] });
    await mesh.enrollNamespace(NAMESPACE);
    await Promise.all([mesh.waitForEnrollment(client), mesh.waitForEnrollment(server)]);
    await mesh.settle();
    await promStarted;
  });

  after(async () => {
    // A failed before() may leave the start in flight: let it finish so it can be stopped.
    await promStarted?.catch(() => undefined);
    await prometheus?.stop();
    await echoApp?.stop(2000);
    await mesh?.stop();
    await new Promise<void>((resolve) => broken === undefined ? resolve() : broken.close(() => resolve()));
  });

  test('both ztunnel targets are up and their exposition parses without errors', async () => {
    const prom = prometheus!;
    const want = mesh!.ztunnels.map((z) => new URL(z.metricsUrl).host).sort();
    let last = '';
    await eventually(() => `targets not all scraped: ${last}; prometheus: ${prom.stderr.slice(-1000)}`, async () => {
      const targets = await prom.targets();
      last = JSON.stringify(targets);
      return targets.length === want.length + 1 && targets.every((t) => t.health !== 'unknown');
    }, 10_000);
    const targets = await prom.targets();
    const ztunnels = targets.filter((t) => t.job === 'ztunnel');
    assert.deepEqual(ztunnels.map((t) => t.address).sort(), want);
    for (const t of ztunnels) {
      assert.equal(t.lastError, '', `scrape of ${t.scrapeUrl} failed`);
      assert.equal(t.health, 'up');
    }
    const control = targets.find((t) => t.job === 'control');
    assert.equal(control?.health, 'down', 'the control target with a broken page must fail');
    assert.match(control.lastError, /expected|parse|invalid/i, 'a parse error, e.g. `expected label name`');
    assert.equal(await prom.queryNumber('sum(up{job="ztunnel"})'), want.length);
    // Something was actually ingested from each, not just an empty page.
    const samples = await prom.queryNumber('min(scrape_samples_scraped{job="ztunnel"})');
    assert.ok(samples !== undefined && samples > 0, `samples scraped: ${String(samples)}`);
  });

  test('the Istio TCP series count the requests made through the Service', async () => {
    const prom = prometheus!;
    const url = `http://${svc.vip}:80/`;
    for (let i = 0; i < REQUESTS; i++) {
      const r = await client.exec(['curl', '-sS', '--max-time', '3', '-o', '/dev/null', '-w', '%{http_code}', url]);
      assert.equal(r.code, 0, `curl ${url}: ${r.stderr}`);
      assert.equal(r.stdout, '200');
    }

    const selector = (reporter: string): string =>
      `reporter="${reporter}",destination_service="${svc.hostname}",connection_security_policy="mutual_tls"`;
    const opened = (reporter: string): string => `sum(istio_tcp_connections_opened_total{${selector(reporter)}})`;
    const received = `sum(istio_tcp_received_bytes_total{${selector('destination')}})`;
    const seen: Record<string, number | undefined> = {};
    await eventually(() => `Prometheus did not see ${REQUESTS} connections each side: ${JSON.stringify(seen)}`, async () => {
      seen['destination'] = await prom.queryNumber(opened('destination'));
      seen['source'] = await prom.queryNumber(opened('source'));
      seen['received'] = await prom.queryNumber(received);
      return seen['destination'] === REQUESTS && seen['source'] === REQUESTS && (seen['received'] ?? 0) > 0;
    }, 15_000);
    assert.equal(seen['destination'], REQUESTS);
    assert.equal(seen['source'], REQUESTS);
    assert.ok((seen['received'] ?? 0) > 0);
    // Still parsing cleanly now that the series carry traffic labels.
    for (const t of await prom.targets()) {
      if (t.job === 'ztunnel') assert.equal(t.lastError, '', `scrape of ${t.scrapeUrl} failed`);
    }
  });
});
