// The node dashboard in a real browser at scale: 100 nodes and 1,000 workloads (synthetic
// registries read by the real collector, see synthetic.ts) served by the controller's admin
// handler, rendered completely by headless Chromium with no console errors, labelled charts
// and keyboard-reachable controls. How long the render takes is measured by
// bench/dashboard/render.ts, not here: a timing on a loaded machine is no pass/fail signal. Needs the Debian `chromium` package; not root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DashboardSnapshot } from '#controller/dashboard/snapshot.ts';
import { chromiumMissing, openBrowser, type TestBrowser } from './browser.ts';
import { serveSyntheticDashboard } from './synthetic.ts';

const skip = await chromiumMissing();

describe('dashboard at 100 nodes and 1,000 workloads', { skip }, () => {
  let server: Server | undefined;
  let url = '';
  let browser: TestBrowser | undefined;
  let snap: DashboardSnapshot;

  before(async () => {
    ({ server, url, snapshot: snap } = await serveSyntheticDashboard({ nodes: 100, workloads: 1000, waypoints: 10 }));
    browser = await openBrowser();
  });

  after(async () => {
    await browser?.close();
    await new Promise<void>((r) => (server === undefined ? r() : server.close(() => r())));
  });

  test('the snapshot has what the page will draw', () => {
    assert.equal(snap.nodes.length, 100);
    assert.equal(snap.waypoints.length, 10);
    assert.ok(snap.traffic.length >= 1000, `traffic rows: ${snap.traffic.length}`);
    assert.ok(snap.nodes.every((n) => n.connections.openedPerSecond !== null));
  });

  test('renders every node, the busiest traffic rows and the charts, without console errors', async () => {
    const b = browser!;
    const started = Date.now();
    await b.page.goto(`${url}/dashboard`);
    // Page-side expressions are strings: this file is type-checked for Node, not the DOM.
    await b.page.waitForFunction(`document.querySelectorAll('#nodes tbody tr[data-node]').length === 100
      && document.querySelectorAll('#traffic tbody tr').length === 200
      && document.querySelectorAll('#c-opened canvas').length > 0`);
    const wall = Date.now() - started;
    // From navigation start to the end of the first full render, as the page measured it.
    const ms = Number(await b.page.evaluate(`performance.getEntriesByName('weft-first-render')[0]?.startTime ?? Infinity`));
    const dir = await mkdtemp(join(tmpdir(), 'weft-dashboard-scale-'));
    const shot = join(dir, 'dashboard-scale.png');
    await b.page.screenshot({ path: shot });
    process.stderr.write(`dashboard at scale: first render ${ms.toFixed(0)} ms after navigation (${wall} ms as seen by the test); screenshot ${shot}\n`);
    assert.ok(Number.isFinite(ms), 'the page marked its first full render');
    assert.deepEqual(b.errors, []);
  });

  test('charts are labelled and the controls are reachable with the keyboard', async () => {
    const page = browser!.page;
    for (const id of ['c-opened', 'c-bytes', 'c-rps', 'c-p99']) {
      const label = String(await page.evaluate(`(() => {
        const el = document.getElementById('${id}');
        const by = el.getAttribute('aria-labelledby');
        return el.getAttribute('role') === 'img' && by !== null ? document.getElementById(by).textContent : '';
      })()`));
      assert.ok(label.length > 5, `chart ${id} has a label`);
    }
    await page.focus('body');
    const reached: string[] = [];
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('Tab');
      reached.push(String(await page.evaluate(`document.activeElement.id || document.activeElement.tagName`)));
    }
    assert.ok(reached.includes('scope') && reached.includes('pause'), `tab order: ${reached.join(', ')}`);
    await page.focus('#pause');
    await page.keyboard.press('Enter');
    assert.equal(await page.getAttribute('#pause', 'aria-pressed'), 'true');
    await page.keyboard.press('Enter');
    assert.equal(await page.getAttribute('#pause', 'aria-pressed'), 'false');
    // One node's chart from the keyboard: the select changes what the chart draws.
    await page.focus('#scope');
    await page.keyboard.press('ArrowDown');
    const chosen = String(await page.evaluate(`document.getElementById('scope').value`));
    assert.match(chosen, /^ztunnel\//);
    assert.deepEqual(browser!.errors, []);
  });
});
