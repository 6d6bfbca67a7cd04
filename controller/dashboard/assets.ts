// The dashboard page's files, served from the package itself: the HTML and CSS as written,
// the page's TypeScript with its types stripped (the same erasable-syntax rule as the rest of
// weft, so no build step), and uPlot's ES module and stylesheet from node_modules. Read once,
// on first request, and kept in memory.
import { readFile } from 'node:fs/promises';
import { createRequire, stripTypeScriptTypes } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface Asset {
  type: string;
  body: string;
}

const PAGE = (name: string): string => fileURLToPath(new URL(`./page/${name}`, import.meta.url));

/** Node's type stripping warns that it is experimental on every first use; that is known here. */
function stripQuietly(source: string): string {
  // Kept as is, to be put back unchanged: never called unbound.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const emit = process.emitWarning;
  const quiet = (warning: string | Error, ...rest: unknown[]): void => {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (text.includes('stripTypeScriptTypes')) return;
    Reflect.apply(emit, process, [warning, ...rest]);
  };
  process.emitWarning = quiet;
  try {
    return stripTypeScriptTypes(source, { mode: 'strip' });
  } finally {
    process.emitWarning = emit;
  }
}

async function load(): Promise<Map<string, Asset>> {
  const require = createRequire(import.meta.url);
  const uplotDir = fileURLToPath(new URL('.', `file://${require.resolve('uplot/package.json')}`));
  const [html, css, app, uplot, uplotCss] = await Promise.all([
    readFile(PAGE('index.html'), 'utf8'),
    readFile(PAGE('style.css'), 'utf8'),
    readFile(PAGE('app.ts'), 'utf8'),
    readFile(`${uplotDir}dist/uPlot.esm.js`, 'utf8'),
    readFile(`${uplotDir}dist/uPlot.min.css`, 'utf8'),
  ]);
  const js = 'text/javascript; charset=utf-8';
  return new Map<string, Asset>([
    ['/dashboard', { type: 'text/html; charset=utf-8', body: html }],
    ['/dashboard/', { type: 'text/html; charset=utf-8', body: html }],
    ['/dashboard/style.css', { type: 'text/css; charset=utf-8', body: css }],
    ['/dashboard/app.js', { type: js, body: stripQuietly(app) }],
    ['/dashboard/uplot.js', { type: js, body: uplot }],
    ['/dashboard/uplot.css', { type: 'text/css; charset=utf-8', body: uplotCss }],
  ]);
}

let assets: Promise<Map<string, Asset>> | undefined;

/** The asset served at `path`, or undefined when there is none. */
export async function dashboardAsset(path: string): Promise<Asset | undefined> {
  assets ??= load().catch((err: unknown) => {
    assets = undefined;
    throw err;
  });
  return (await assets).get(path);
}
