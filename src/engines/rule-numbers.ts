// Stable rule numbers: the kernel indexes state and tags events with an integer per rule. A rule
// keeps its number across reloads, wherever it moves in priority order, so what the kernel keeps
// under it survives (xdp-firewall's hit counters, xdp-ratelimit's buckets). A removed rule's
// number is forgotten only after two more generation flips, when neither generation can still hold
// it (a late event or in-flight packet may still carry it until then); then it is recycled, or
// with `recycle` off never handed out again (for state the agent cannot reset when a number is
// reused: buckets simply idle out).
export interface RuleNumberOptions {
  /** numbers 1 .. capacity-1 exist (0 means "no rule") */
  capacity: number;
  /** names the program in the out-of-numbers error */
  owner: string;
  recycle: boolean;
}

export class RuleNumbers {
  private readonly byId = new Map<string, number>();
  private readonly idByNum = new Map<number, string>();
  private readonly free: number[] = [];
  private next = 1; // 0 means "no rule" (default policy) in events
  /** numbers released at flip k, reusable after flip k+2 */
  private readonly retiring: { flip: number; nums: number[] }[] = [];
  private flips = 0;

  constructor(private readonly opts: RuleNumberOptions) {}

  /** Numbers for the ids of the next generation. Returns the map and the numbers newly handed
   * out (their counters must be zeroed before the generation goes live). */
  assign(ids: Iterable<string>): { nums: Map<string, number>; fresh: number[] } {
    const nums = new Map<string, number>();
    const fresh: number[] = [];
    for (const id of ids) {
      if (nums.has(id)) continue;
      let n = this.byId.get(id);
      if (n === undefined) {
        n = this.allocate(id);
        fresh.push(n);
      }
      nums.set(id, n);
    }
    return { nums, fresh };
  }

  /** Called once the generation using `live` ids is active: ids not in it start retiring. */
  committed(live: ReadonlySet<string>): void {
    this.flips++;
    const released: number[] = [];
    for (const [id, n] of this.byId) {
      if (!live.has(id)) released.push(n);
    }
    for (const n of released) {
      const id = this.idByNum.get(n);
      if (id !== undefined) this.byId.delete(id);
    }
    if (released.length) this.retiring.push({ flip: this.flips, nums: released });
    while (this.retiring.length && this.retiring[0]!.flip + 2 <= this.flips) {
      for (const n of this.retiring.shift()!.nums) {
        this.idByNum.delete(n);
        if (this.opts.recycle) this.free.push(n);
      }
    }
  }

  /** The rule id an event's rule number refers to (also for retiring numbers). */
  idOf(num: number): string | undefined {
    return this.idByNum.get(num);
  }

  /** numbers assigned or still retiring */
  get inUse(): number {
    return this.idByNum.size;
  }

  numOf(id: string): number | undefined {
    return this.byId.get(id);
  }

  private allocate(id: string): number {
    const n = this.free.pop() ?? this.next++;
    if (n >= this.opts.capacity) {
      throw new Error(`${this.opts.owner}: out of rule numbers (${this.opts.capacity - 1} rules at once)`);
    }
    this.byId.set(id, n);
    this.idByNum.set(n, id);
    return n;
  }
}
