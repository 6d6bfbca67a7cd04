// Headless Chromium (the Debian `chromium` package) driven by playwright-core for the
// dashboard tests: a 1280×800 page that records every console error and uncaught page
// error, so a test can assert the page ran clean.
import { access } from 'node:fs/promises';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env['WEFT_CHROMIUM'] ?? '/usr/bin/chromium';

export async function chromiumMissing(): Promise<string | false> {
  return access(CHROMIUM).then(() => false, () => `needs ${CHROMIUM} (Debian package chromium; scripts/bootstrap.sh installs it)`);
}

export interface TestBrowser {
  page: Page;
  /** Console errors and uncaught exceptions seen so far. */
  errors: string[];
  close(): Promise<void>;
}

export async function openBrowser(): Promise<TestBrowser> {
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    return { page, errors, close: () => browser.close() };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
