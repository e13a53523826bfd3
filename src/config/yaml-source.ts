// Positions of YAML nodes, so an error found on the parsed data can point back at the text.
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

export interface Position {
  line: number;
  column: number;
}

export class YamlSource {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  at(offset: number): Position {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  /**
   * Where the value at `path` is written. For a map entry that is its key (where people look);
   * for a list item, the item. A path that goes past what exists (a missing key) stops at the
   * deepest existing node: the map that lacks the key.
   */
  positionOf(path: readonly PropertyKey[]): Position {
    let node: unknown = this.doc.contents;
    let best: Position = { line: 1, column: 1 };
    const place = (n: unknown): void => {
      const r = (n as Node | null)?.range;
      if (r) best = this.at(r[0]);
    };
    place(node);
    for (const seg of path) {
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        place(pair.key);
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (item === undefined) break;
        place(item);
        node = item;
      } else {
        break;
      }
    }
    return best;
  }
}
