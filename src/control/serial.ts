// One change at a time: reloads, API rule edits and program toggles all go through one queue,
// so no two of them interleave their prepare and commit. Reload requests that arrive while
// another waits join it (a burst of file events or SIGHUPs costs one more reload, not one each).

export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after everything queued before it; its result or error is the caller's. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn);
    this.tail = p.catch(() => undefined);
    return p;
  }
}

/** Coalesces calls: while one run of `fn` is queued but not started, further calls share it. */
export class Coalescer<A, T> {
  private waiting: { promise: Promise<T>; joined: A[] } | null = null;

  constructor(
    private readonly queue: SerialQueue,
    /** `joined`: the arguments of every call this run serves, in arrival order */
    private readonly fn: (joined: A[]) => Promise<T>,
  ) {}

  call(arg: A): Promise<T> {
    if (this.waiting) {
      this.waiting.joined.push(arg);
      return this.waiting.promise;
    }
    const joined = [arg];
    const promise = this.queue.run(async () => {
      // From here on a new call must wait for a later run: this one may already have read the file.
      this.waiting = null;
      return this.fn(joined);
    });
    this.waiting = { promise, joined };
    return promise;
  }
}
