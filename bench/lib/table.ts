// Markdown tables for bench/README.md: header, alignment row, one line per row.

export type Cell = string | number | undefined;

/** Renders cells as text: numbers with `digits` decimals, missing values as an en dash. */
export function formatCell(cell: Cell, digits = 2): string {
  if (cell === undefined) return '–';
  if (typeof cell === 'number') return Number.isFinite(cell) ? cell.toFixed(digits) : '–';
  return cell;
}

/** A GitHub-flavoured markdown table; `|` inside a cell is escaped. */
export function markdownTable(headers: readonly string[], rows: readonly (readonly Cell[])[], digits = 2): string {
  const line = (cells: readonly string[]): string => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [
    line(headers),
    `|${headers.map(() => '---').join('|')}|`,
    ...rows.map((r) => line(headers.map((_, i) => formatCell(r[i], digits)))),
  ].join('\n');
}
