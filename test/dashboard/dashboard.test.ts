// End-to-end: the controller's node dashboard on the embedded mesh, in headless Chromium.
// The page loads without console errors, shows both nodes' ztunnels (and the waypoint) up,
// and its connection counter rises after curl traffic crosses the mesh. A screenshot is
// kept in the test's temp folder (its path is printed); WEFT_DASHBOARD_SCREENSHOT=<file>
// also writes one there (how manifests/dashboards/node-dashboard.png was made).
// Needs root (the embedded cluster) and the Debian `chromium` package.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '#core/log.ts';
import { buildProgram } from '#cli/weft.ts';
import { chromiumMissing, openBrowser, type TestBrowser } from './browser.ts';
import { startTrafficScene, type TrafficScene } from '../metrics/traffic-scene.ts';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot ? 'needs root (network namespaces, iptables)' : await chromiumMissing();
const echoOutput = process.env['WEFT_TEST_LOG'] === '1';

describe('the node dashboard on the embedded mesh', { skip }, () => {
  let scene: TrafficScene | undefined;
  let browser: TestBrowser | undefined;

  before(async () => {
    scene = await startTrafficScene({ name: 'dash', echo: echoOutput, logger: new Logger({ level: echoOutput ? 'debug' : 'off' }) });
    browser = await openBrowser();
  });

  after(async () => {
    await browser?.close();
    await scene?.mesh.stop();
  });

  // Page-side expressions are strings: this file is type-checked for Node, not the DOM.
  const OPENED = `[...document.querySelectorAll('#nodes tr[data-node] td[data-field="opened"]')]
    .reduce((n, cell) => n + Number(cell.textContent.replace(/[^0-9]/g, '') || '0'), 0)`;
  const opened = async (): Promise<number> => Number(await browser!.page.evaluate(OPENED));

  test('`weft dashboard` prints the page URL', async () => {
    let out = '';
    await buildProgram((s) => { out += s; }).exitOverride().parseAsync(['node', 'weft', 'dashboard', '--no-open', '--controller', scene!.mesh.controllerAdminUrl]);
    assert.equal(out, `${scene!.mesh.controllerAdminUrl}/dashboard\n`);
  });

  test('the page shows both nodes up and the waypoint, with no console errors', async () => {
    const { page, errors } = browser!;
    await page.goto(`${scene!.mesh.controllerAdminUrl}/dashboard`);
    await page.waitForFunction(`document.querySelectorAll('#nodes tr[data-node][data-up="true"]').length === 2`, undefined, { timeout: 15_000 });
    const nodes = await page.evaluate(`[...document.querySelectorAll('#nodes tr[data-node]')].map((r) => r.getAttribute('data-node'))`);
    assert.deepEqual(Array.isArray(nodes) ? nodes.map(String).sort() : nodes, ['node1', 'node2']);
    await page.waitForFunction(`document.querySelector('#waypoints tr[data-waypoint]') !== null`, undefined, { timeout: 15_000 });
    assert.match(await page.textContent('#waypoints tbody') ?? '', /shop\/waypoint/);
    assert.deepEqual(errors, []);
  });

  test('the connection counter rises after traffic, and the traffic table names the pair', async () => {
    const { page, errors } = browser!;
    // The baseline is read once the page shows a snapshot taken two scrape intervals after
    // the test began, so counts from earlier traffic have settled.
    const GENERATED = `Number(document.querySelector('#updated').dataset.generatedAt ?? '0')`;
    const since = Date.now() + 4500;
    await page.waitForFunction(`${GENERATED} >= ${since}`, undefined, { timeout: 15_000 });
    const before = await opened();
    await scene!.traffic(5);
    await page.waitForFunction(`${OPENED} >= ${before + 10}`, undefined, { timeout: 15_000 });
    const after = await opened();
    assert.ok(after >= before + 10, `opened ${before} → ${after}: each request opens a connection at both ztunnels`);
    // The traffic table fills from the same scrapes; wait until every expected row is there
    // with its full count, then read it once for the assertions (and their messages).
    const ROWS = `[...document.querySelectorAll('#traffic tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent))`;
    const READY = `((rows) => rows.some((r) => r[0] === 'tclient.tcp' && r[1] === 'techo.tcp' && r[3] === 'mTLS' && Number(r[4]) >= 5)
      && rows.some((r) => r[0] === 'denied.tcp' && r[1] === 'techo.tcp' && Number(r[5]) >= 5)
      && rows.some((r) => r[6] === 'waypoint' && r[0] === 'client.shop'))(${ROWS})`;
    await page.waitForFunction(READY, undefined, { timeout: 15_000 }).catch(() => undefined);
    const table: unknown = await page.evaluate(ROWS);
    const rows = Array.isArray(table) ? table.map((r: unknown) => (Array.isArray(r) ? r.map(String) : [])) : [];
    assert.ok(rows.some((r) => r[0] === 'tclient.tcp' && r[1] === 'techo.tcp' && r[3] === 'mTLS' && Number(r[4]) >= 5), JSON.stringify(rows));
    assert.ok(rows.some((r) => r[0] === 'denied.tcp' && r[1] === 'techo.tcp' && Number(r[5]) >= 5), `denied pair: ${JSON.stringify(rows)}`);
    assert.ok(rows.some((r) => r[6] === 'waypoint' && r[0] === 'client.shop'), `waypoint rows: ${JSON.stringify(rows)}`);
    // Charts drawn from the history the controller keeps.
    assert.ok(Number(await page.evaluate(`document.querySelectorAll('.charts canvas').length`)) >= 4);
    const dir = await mkdtemp(join(tmpdir(), 'weft-dashboard-'));
    const shot = join(dir, 'node-dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    process.stderr.write(`dashboard screenshot: ${shot}\n`);
    const keep = process.env['WEFT_DASHBOARD_SCREENSHOT'];
    if (keep !== undefined && keep !== '') await copyFile(shot, keep);
    assert.deepEqual(errors, []);
  });
});
