// A replay's clock: an event the kernel stamped while frame i was being run carries frame i's
// capture time. The runner notes CLOCK_BOOTTIME (the clock of bpf_ktime_get_boot_ns) before each
// frame, so the frame of an event is the last one that started at or before its stamp. Outside
// a batch (nothing replayed yet) it is the agent's clock.
import { BootClock, type EventClock } from '../kernel/boot-clock.js';

export class ReplayClock implements EventClock {
  private readonly live = new BootClock();
  private starts: BigUint64Array = new BigUint64Array(0);
  private sec: Float64Array = new Float64Array(0);
  private nsec: Uint32Array = new Uint32Array(0);
  private count = 0;
  /** capture time of the last frame of the batch, ms (dedup and throttle windows) */
  private lastMs = 0;

  bootNowNs(): bigint {
    return this.live.bootNowNs();
  }

  /** The batch whose events are about to be read: start stamps and capture times per frame. */
  setBatch(starts: BigUint64Array, sec: Float64Array, nsec: Uint32Array, count: number): void {
    this.starts = starts;
    this.sec = sec;
    this.nsec = nsec;
    this.count = count;
    if (count > 0) this.lastMs = sec[count - 1]! * 1000 + Math.floor(nsec[count - 1]! / 1e6);
  }

  /** The frame an event stamped `bootNs` came from (-1 before the batch's first frame). */
  frameOf(bootNs: bigint): number {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid]! <= bootNs) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  toWallNs(bootNs: bigint): bigint {
    if (this.count === 0) return this.live.toWallNs(bootNs);
    const i = Math.max(0, this.frameOf(bootNs));
    return BigInt(this.sec[i]!) * 1_000_000_000n + BigInt(this.nsec[i]!);
  }

  /** Wall time in ms as the capture has it: the pipeline's dedup/throttle windows run on it. */
  nowMs(): number {
    return this.count === 0 ? Date.now() : this.lastMs;
  }
}
