// Packets in flight across a generation flip. xdp-firewall and xdp-ratelimit keep two generations
// of policy and flip one index (firewall.h, ratelimit.h); a packet reads the index once and then
// reads its generation's entries for as long as it is being judged. So the generation a flip
// switched away from is still being read until every program run that began before the flip has
// returned, and may be rewritten or have entries removed only after that: after one RCU grace
// period (every XDP and TC program runs inside an RCU read-side section), which the bridge waits
// for (native/src/readers.c).
import { toBpfError, nativeCall } from './errors.js';
import { loadNative } from './native.js';

/** Settles once every BPF program running when it was called has returned. */
async function programsFinished(): Promise<void> {
  try {
    await loadNative().waitForPrograms();
  } catch (e) {
    throw toBpfError(e, 'waiting for packets in flight');
  }
}

/** programsFinished() on the calling thread (blocks it for one grace period). */
function programsFinishedSync(): void {
  nativeCall(() => loadNative().waitForProgramsSync(), 'waiting for packets in flight');
}

/**
 * Whether packets may still be reading the inactive generation of one double-buffered policy.
 * The writer calls flipped() after each flip, and before it rewrites the inactive generation or
 * removes its entries, waits (sync or async) until no packet can still read it. A new tracker
 * starts unsettled: maps it did not fill (pinned by an earlier agent, or written by an earlier
 * writer) may have been flipped a moment ago.
 */
export class InactiveGeneration {
  private flips = 1;
  private settledAt = 0;

  /** the active index was just flipped */
  flipped(): void {
    this.flips++;
  }

  /** no packet can be reading the inactive generation */
  get free(): boolean {
    return this.settledAt === this.flips;
  }

  /** Blocks until the inactive generation is free (returns at once when it already is). */
  settleSync(): void {
    if (this.free) return;
    const at = this.flips;
    programsFinishedSync();
    this.settledAt = at;
  }

  /** Resolves true once the inactive generation is free, false when another flip happened while
   * waiting (the generation that is inactive now was live until then: wait again). */
  async settle(): Promise<boolean> {
    if (this.free) return true;
    const at = this.flips;
    await programsFinished();
    if (at > this.settledAt) this.settledAt = at;
    return this.free;
  }
}
