// A clock tests move by hand (the block list's ExpiryClock): advance() runs what fell due, in
// time order, so expiry is tested without waiting.
import type { ExpiryClock } from '../../src/blocklist/expiry.js';

export class ManualClock implements ExpiryClock {
  private timers: { atMs: number; fn: () => void; live: boolean }[] = [];

  constructor(private ms = Date.UTC(2025, 0, 1)) {}

  now(): number {
    return this.ms;
  }

  at(atMs: number, fn: () => void): () => void {
    const t = { atMs, fn, live: true };
    this.timers.push(t);
    return () => {
      t.live = false;
    };
  }

  /** timers armed and not yet run or cancelled */
  get pending(): number {
    return this.timers.filter((t) => t.live).length;
  }

  advance(ms: number): void {
    const until = this.ms + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.live && t.atMs <= until).sort((a, b) => a.atMs - b.atMs)[0];
      if (!due) break;
      due.live = false;
      this.ms = Math.max(this.ms, due.atMs);
      due.fn();
    }
    this.timers = this.timers.filter((t) => t.live);
    this.ms = until;
  }
}
