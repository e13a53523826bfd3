// The TC pipeline of the specification, in one table: every TC program's place (rank) at each
// hook it attaches to, lower running first. A program declares its place by its line here and
// attaches with Attachments.addTc; src/kernel/tc-order.ts keeps the kernel's order equal to
// the ranks however programs come and go (TCX anchors, clsact priorities 20000 + rank).
// Programs not written yet are listed so their places are settled before they land; ranks are
// spaced so a newcomer fits between two without renumbering.
import type { TcDirection } from '../kernel/tc-order.js';

export const TC_PIPELINE = {
  ingress: {
    'tc-conntrack': 10,
    // sees the ACK that completes an agent SYN cookie before anything rewrites it
    'tc-syncookie': 15,
    'tc-scrub': 20,
    'tc-nat-ingress': 30,
    'tc-ids': 40,
    'tc-threatintel': 50,
    'tc-dns': 60,
  },
  egress: {
    // the same program's egress entry: conntrack sees both directions
    'tc-conntrack': 10,
    'tc-nat-egress': 20,
  },
} as const satisfies Record<TcDirection, Record<string, number>>;

/** The rank of `program` at its `direction` hook; throws when the table gives it no place there. */
export function tcRank(program: string, direction: TcDirection): number {
  const table: Readonly<Record<string, number>> = TC_PIPELINE[direction];
  const r = table[program];
  if (r === undefined) {
    throw new Error(`${program} has no place at TC ${direction} in the TC pipeline (src/engines/tc-pipeline.ts has: ${Object.keys(table).join(', ')})`);
  }
  return r;
}

/** The programs of one hook in pipeline order. */
export function tcOrder(direction: TcDirection): string[] {
  return Object.entries(TC_PIPELINE[direction])
    .sort((a, b) => a[1] - b[1])
    .map(([p]) => p);
}
