// Tables of a Markdown document, with the heading each sits under, for the tests that hold the
// docs to the code (every config key, metric, route and flag documented, and nothing documented
// that does not exist).

export interface MdTable {
  /** the nearest heading above the table, without its #s */
  heading: string;
  /** 1-based line of the header row */
  line: number;
  header: string[];
  rows: string[][];
}

/** Cells of one table row: split on | outside backticks (a `a \| b` cell keeps its escaped bar). */
function splitRow(line: string): string[] {
  const cells: string[] = [];
  let cur = '';
  let code = false;
  const body = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '\\' && body[i + 1] === '|') {
      cur += '|';
      i++;
      continue;
    }
    if (ch === '`') code = !code;
    if (ch === '|' && !code) {
      cells.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  cells.push(cur.trim());
  return cells;
}

export function markdownTables(text: string): MdTable[] {
  const lines = text.split('\n');
  const out: MdTable[] = [];
  let heading = '';
  let fence = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^\s*```/.test(l)) fence = !fence;
    if (fence) continue;
    const h = /^#+\s+(.*)$/.exec(l);
    if (h) {
      heading = h[1]!.trim();
      continue;
    }
    if (l.startsWith('|') && /^\|[\s:|-]+\|\s*$/.test(lines[i + 1] ?? '')) {
      const t: MdTable = { heading, line: i + 1, header: splitRow(l), rows: [] };
      i += 2;
      while (i < lines.length && lines[i]!.startsWith('|')) t.rows.push(splitRow(lines[i++]!));
      i--;
      out.push(t);
    }
  }
  return out;
}

/** The `code` spans of a cell, in order. */
export function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}
