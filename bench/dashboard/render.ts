// How long the node dashboard takes to draw a large mesh in headless Chromium: 100 nodes,
// 1,000 workloads and 10 waypoints (the synthetic registries of test/dashboard/synthetic.ts,
// read by the real collector), served by the controller's admin handler. Each round navigates
// the page afresh and reads the page's own `weft-first-render` mark (navigation start → first full
// render). Prints one JSON line with the rounds, their median and maximum, and the load
// average. Run: node bench/dashboard/render.ts [--rounds 7]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { openBrowser } from '../../test/dashboard/browser.ts';
import { serveSyntheticDashboard } from '../../test/dashboard/synthetic.ts';
import { percentile } from '../lib/percentiles.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' } } });
const rounds = Number(values.rounds);

const { server, url } = await serveSyntheticDashboard({ nodes: 100, workloads: 1000, waypoints: 10 });
const browser = await openBrowser();
const ms: number[] = [];
try {
  for (let i = 0; i < rounds; i++) {
    const page = browser.page;
    await page.goto(`${url}/dashboard`);
    await page.waitForFunction(`document.querySelectorAll('#nodes tbody tr[data-node]').length === 100
      && document.querySelectorAll('#c-opened canvas').length > 0
      && performance.getEntriesByName('weft-first-render').length > 0`);
    ms.push(Number(await page.evaluate(`performance.getEntriesByName('weft-first-render')[0].startTime`)));
  }
} finally {
  await browser.close();
  await new Promise<void>((r) => server.close(() => r()));
}
const sorted = [...ms].sort((a, b) => a - b);
process.stdout.write(`${JSON.stringify({
  scenario: 'dashboard first render, 100 nodes / 1,000 workloads / 10 waypoints',
  roundsMs: ms.map((x) => Math.round(x)), p50Ms: Math.round(percentile(sorted, 50)), maxMs: Math.round(sorted.at(-1) ?? NaN),
  loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
})}\n`);
