// When holds expire: a binary min-heap of (time, hold) and the clock that wakes the service at the
// earliest one. Updating a hold's expiry pushes a new item and leaves the old one in place; an item
// that no longer matches its hold is skipped when it comes up (lazy deletion), and the heap is
// rebuilt from the live holds when stale items outnumber them.

/** Time for the service, injectable so tests can move it. */
export interface ExpiryClock {
  /** Unix epoch milliseconds */
  now(): number;
  /** calls fn once at (or soon after) atMs; returns a function that cancels it */
  at(atMs: number, fn: () => void): () => void;
}

/** setTimeout takes at most 2^31-1 ms and fires at once beyond that: longer waits are chained. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export const systemClock: ExpiryClock = {
  now: () => Date.now(),
  at(atMs, fn) {
    let t: NodeJS.Timeout | undefined;
    const arm = (): void => {
      const wait = atMs - Date.now();
      t = wait > MAX_TIMEOUT_MS ? setTimeout(arm, MAX_TIMEOUT_MS) : setTimeout(fn, Math.max(0, wait));
      t.unref();
    };
    arm();
    return () => clearTimeout(t);
  },
};

export interface ExpiryItem {
  atMs: number;
  /** the hold it belongs to */
  key: string;
}

export class ExpiryHeap {
  private items: ExpiryItem[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): ExpiryItem | undefined {
    return this.items[0];
  }

  push(item: ExpiryItem): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (a[up]!.atMs <= item.atMs) break;
      a[i] = a[up]!;
      i = up;
    }
    a[i] = item;
  }

  pop(): ExpiryItem | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const c = l + 1 < a.length && a[l + 1]!.atMs < a[l]!.atMs ? l + 1 : l;
        if (a[c]!.atMs >= last.atMs) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }

  /** Replaces the content (a rebuild without stale items). */
  reset(items: ExpiryItem[]): void {
    this.items = [];
    for (const it of items) this.push(it);
  }
}
