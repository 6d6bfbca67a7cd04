// kubectl's `-o` for every command that shows something: `table` (the default), `wide` (more
// columns), `json` and `yaml` (the same data, whole, for scripts). A command hands over its data
// and how to draw it as a table; the rest is here.
import { Option } from 'commander';
import { stringify } from 'yaml';

export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** `-o, --output`, as kubectl spells it. */
export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table');
}

export interface Printable {
  /** What json and yaml print: plain JSON-able data. */
  data: unknown;
  /** The table, with the extra columns when `wide`. */
  table(wide: boolean): string;
}

export function render(format: OutputFormat, p: Printable): string {
  switch (format) {
    case 'json': return `${JSON.stringify(p.data, null, 2)}\n`;
    case 'yaml': return stringify(p.data, { lineWidth: 0, aliasDuplicateObjects: false });
    case 'wide': return p.table(true);
    case 'table': return p.table(false);
  }
}
