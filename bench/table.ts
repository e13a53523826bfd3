// Plain-text tables for the bench's terminal output: columns padded to their widest cell,
// numbers right-aligned so decimal points line up.

export type Align = 'left' | 'right';

export interface Column {
  title: string;
  align?: Align;
}

export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  for (const [i, r] of rows.entries()) {
    if (r.length !== columns.length) throw new RangeError(`row ${i} has ${r.length} cells for ${columns.length} columns`);
  }
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => r[i]!.length)));
  const cell = (text: string, i: number): string =>
    columns[i]!.align === 'right' ? text.padStart(widths[i]!) : text.padEnd(widths[i]!);
  const line = (cells: readonly string[]): string => cells.map(cell).join('  ').trimEnd();
  return [line(columns.map((c) => c.title)), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Fixed decimals, with an explicit sign for changes. */
export function fmt(n: number, decimals: number, signed = false): string {
  const s = n.toFixed(decimals);
  return signed && n >= 0 ? `+${s}` : s;
}
