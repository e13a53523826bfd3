// Keeping our TC programs in rank order at each hook, whatever order they are attached and
// detached in, without moving anything that is not ours.
//
// TCX (Linux 6.6+) runs a hook's programs in a list the kernel keeps; a new link is inserted
// relative to one already there. A rank says where a program belongs (lower runs first). To
// attach rank r we ask the kernel for the hook's list and anchor the new link right BEFORE the
// nearest of our links with a higher rank, or else right AFTER the nearest of ours with a lower
// (or equal) rank, or else append it. Whatever ours were attached in between, this keeps ours
// sorted by induction: each insertion lands between its rank neighbours. The hook's revision
// from the same query goes with the request, so a change made meanwhile (by anyone) fails it
// with ESTALE instead of landing it in a stale place; the caller queries and plans again.
//
// "Ours" is the links this process created with a rank (registered below, removed when
// destroyed): programs attached by anyone else, or by us without a rank, are never anchors and
// never moved; they keep their place and keep running.
//
// The clsact fallback (kernels before 6.6) has no anchors: there a filter's priority orders the
// chain (lower first), so rank r gets priority TC_CLSACT_PRIORITY_BASE + r.

export type TcDirection = 'ingress' | 'egress';

/** One program at a TCX hook, as BPF_PROG_QUERY reports it. */
export interface TcHookEntry {
  progId: number;
  /** the link holding it; 0 when it was attached without one (BPF_PROG_ATTACH) */
  linkId: number;
}

/** Where a new link goes relative to the hook's current list. */
export type TcAnchor =
  | { where: 'before' | 'after'; linkId: number; rank: number }
  | { where: 'append' };

/** Ranks are small positive integers; the priority range they map to stays clear of the one
 * tc(8) hands out by itself (from 0xC000 down) and of hand-picked low ones. */
const TC_RANK_MAX = 999;
const TC_CLSACT_PRIORITY_BASE = 20000;

export function checkTcRank(rank: number): void {
  if (!Number.isInteger(rank) || rank < 1 || rank > TC_RANK_MAX) throw new RangeError(`a TC rank is an integer from 1 to ${TC_RANK_MAX}, got ${rank}`);
}

/** clsact filter priority of a rank (lower runs first, as ranks do). */
export function clsactPriority(rank: number): number {
  checkTcRank(rank);
  return TC_CLSACT_PRIORITY_BASE + rank;
}

/** Pure: where rank `rank` goes given the hook's list in kernel order and the ranks of our
 * links in it (`rankOf` answers undefined for anything not ours). */
export function planTcAnchor(entries: readonly TcHookEntry[], rankOf: (linkId: number) => number | undefined, rank: number): TcAnchor {
  let above: { linkId: number; rank: number } | undefined; // lowest rank > rank, first in list order
  let below: { linkId: number; rank: number } | undefined; // highest rank <= rank, last in list order
  for (const e of entries) {
    if (e.linkId === 0) continue;
    const r = rankOf(e.linkId);
    if (r === undefined) continue;
    if (r > rank) {
      if (!above || r < above.rank) above = { linkId: e.linkId, rank: r };
    } else if (!below || r >= below.rank) {
      below = { linkId: e.linkId, rank: r };
    }
  }
  if (above) return { where: 'before', ...above };
  if (below) return { where: 'after', ...below };
  return { where: 'append' };
}

/** Our ranked TCX links by kernel link id (ids are unique while the link exists). */
export interface OwnedTcLink {
  rank: number;
  /** for messages: what the link runs */
  label: string;
}

const owned = new Map<number, OwnedTcLink>();

export const ownedTcLinks = {
  add(linkId: number, l: OwnedTcLink): void {
    owned.set(linkId, l);
  },
  remove(linkId: number): void {
    owned.delete(linkId);
  },
  get(linkId: number): OwnedTcLink | undefined {
    return owned.get(linkId);
  },
  rankOf(linkId: number): number | undefined {
    return owned.get(linkId)?.rank;
  },
};

export function describeAnchor(a: TcAnchor): string {
  if (a.where === 'append') return 'appended (no ranked program of ours at the hook)';
  const o = ownedTcLinks.get(a.linkId);
  return `${a.where} link ${a.linkId}${o ? ` (${o.label}, rank ${a.rank})` : ''}`;
}
