// Reads a Prometheus text exposition page (version 0.0.4), as the proxies' :15020/metrics
// serve it, into plain samples for the dashboard. Comments, HELP and TYPE lines are skipped;
// a malformed line is skipped too (one bad series must not blank a node's card), and counted.

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ParsedPage {
  samples: Sample[];
  /** Lines that were neither comments nor readable samples. */
  skipped: number;
}

function parseValue(text: string): number | undefined {
  switch (text) {
    case '+Inf': return Infinity;
    case '-Inf': return -Infinity;
    case 'NaN': case 'Nan': return NaN;
    default: {
      const n = Number(text);
      return text === '' || Number.isNaN(n) ? undefined : n;
    }
  }
}

/** Reads `{a="x",b="y\"z"}` from `line` at `start` (the `{`); returns labels and the index after `}`. */
function parseLabels(line: string, start: number): { labels: Record<string, string>; end: number } | undefined {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    while (line[i] === ' ' || line[i] === ',') i++;
    if (line[i] === '}') return { labels, end: i + 1 };
    const eq = line.indexOf('=', i);
    if (eq < 0 || line[eq + 1] !== '"') return undefined;
    const name = line.slice(i, eq).trim();
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) return undefined;
    let value = '';
    let j = eq + 2;
    for (; j < line.length; j++) {
      const c = line[j];
      if (c === '\\') {
        const next = line[j + 1];
        value += next === 'n' ? '\n' : (next ?? '');
        j++;
      } else if (c === '"') {
        break;
      } else {
        value += c;
      }
    }
    if (j >= line.length) return undefined;
    labels[name] = value;
    i = j + 1;
  }
}

export function parseExposition(text: string): ParsedPage {
  const samples: Sample[] = [];
  let skipped = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    let name: string;
    let labels: Record<string, string> = {};
    let rest: string;
    if (brace >= 0 && (space < 0 || brace < space)) {
      name = line.slice(0, brace);
      const parsed = parseLabels(line, brace);
      if (parsed === undefined) {
        skipped++;
        continue;
      }
      labels = parsed.labels;
      rest = line.slice(parsed.end).trim();
    } else {
      if (space < 0) {
        skipped++;
        continue;
      }
      name = line.slice(0, space);
      rest = line.slice(space + 1).trim();
    }
    // A timestamp may follow the value; the dashboard uses its own scrape time.
    const value = parseValue(rest.split(/\s+/)[0] ?? '');
    if (value === undefined || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) {
      skipped++;
      continue;
    }
    samples.push({ name, labels, value });
  }
  return { samples, skipped };
}
