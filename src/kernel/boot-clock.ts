// Kernel event timestamps are CLOCK_BOOTTIME (bpf_ktime_get_boot_ns); alerts need wall time.
// Node exposes CLOCK_MONOTONIC (process.hrtime) and the wall clock; BOOTTIME = MONOTONIC + time
// spent suspended, which /proc/uptime (BOOTTIME, 10 ms resolution) reveals. The offset is
// re-measured periodically so a wall-clock step (NTP) is picked up.
import { readFileSync } from 'node:fs';

const REMEASURE_MS = 60_000;

/** Kernel event time to wall time: the agent's BootClock, or a replay's capture times. */
export interface EventClock {
  /** CLOCK_BOOTTIME now, in ns */
  bootNowNs(): bigint;
  /** the wall time (ns since the epoch) an event stamped `bootNs` stands for */
  toWallNs(bootNs: bigint): bigint;
}

export class BootClock implements EventClock {
  private wallMinusBoot = 0n;
  /** Date.now() of the last measurement: the per-event check is one cheap clock read and no
   * BigInt; a wall clock stepped back re-measures too */
  private measuredAt = -Infinity;

  constructor(private readonly uptimePath = '/proc/uptime') {
    this.measure();
  }

  /** CLOCK_BOOTTIME now, in ns (monotonic plus the suspended time seen in /proc/uptime). */
  bootNowNs(): bigint {
    return process.hrtime.bigint() + this.suspendedNs();
  }

  toWallNs(bootNs: bigint): bigint {
    const since = Date.now() - this.measuredAt;
    if (since > REMEASURE_MS || since < 0) this.measure();
    return bootNs + this.wallMinusBoot;
  }

  private measure(): void {
    const mono = process.hrtime.bigint();
    const wall = BigInt(Date.now()) * 1_000_000n;
    this.wallMinusBoot = wall - (mono + this.suspendedNs());
    this.measuredAt = Number(wall / 1_000_000n);
  }

  /** /proc/uptime minus monotonic time; below 50 ms it is rounding, not suspension. */
  private suspendedNs(): bigint {
    try {
      const up = readFileSync(this.uptimePath, 'utf8').split(' ')[0] ?? '0';
      const upNs = BigInt(Math.round(Number.parseFloat(up) * 1000)) * 1_000_000n;
      const diff = upNs - process.hrtime.bigint();
      return diff > 50_000_000n ? diff : 0n;
    } catch {
      return 0n;
    }
  }
}
