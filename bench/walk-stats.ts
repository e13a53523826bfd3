// What the classifier walk of a set of frames took, counted by the kernel walk itself: the
// bench-only build of xdp-firewall (xdp_firewall.bpf.c built with FW_WALK_STATS, see the Makefile)
// keeps per-CPU histograms of each lookup's depth (reads along the deepest of the packet's
// trees: a wide root one, each inner node one), the leaf entries it examined over all trees,
// and the rules it read and matched (entries past the quick-reject filter). Each frame is run
// once through that build with the policy the timed build holds; only this build counts, the
// timed one is the product's.
import type { CompiledFirewall } from '../src/engines/firewall/compile.js';
import { FirewallKernel } from '../src/engines/firewall/kernel.js';
import { bytesCodec, sumU64Slots, u32Codec } from '../src/kernel/map.js';
import type { NativeBridge } from '../src/kernel/native.js';
import { fw_walk_stats_slot } from '../src/kernel/contract.gen.js';

const { FW_WS_PACKETS, FW_WS_DEPTH, FW_WS_CANDS, FW_WS_RULES, FW_WS_SLOTS, FW_WS_DEPTH_BUCKETS, FW_WS_COUNT_BUCKETS } = fw_walk_stats_slot;

export interface Histogram {
  /** value -> frames (the last bucket holds that value or more) */
  counts: number[];
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

export interface WalkStats {
  frames: number;
  /** reads along the deepest tree of each lookup */
  depth: Histogram;
  /** leaf entries examined over all trees */
  candidates: Histogram;
  /** rules read and matched (past the quick-reject filter) */
  rules_checked: Histogram;
}

/** Summary of a histogram (value i has counts[i] frames). */
export function histogram(counts: readonly number[]): Histogram {
  const n = counts.reduce((a, b) => a + b, 0);
  if (n === 0) throw new RangeError('histogram of no frames');
  const at = (q: number): number => {
    const rank = Math.ceil(q * n);
    let acc = 0;
    for (let i = 0; i < counts.length; i++) {
      acc += counts[i]!;
      if (acc >= rank) return i;
    }
    return counts.length - 1;
  };
  let sum = 0;
  let max = 0;
  counts.forEach((c, i) => {
    sum += c * i;
    if (c > 0) max = i;
  });
  // trailing zero buckets say nothing
  const last = counts.reduce((m, c, i) => (c > 0 ? i : m), 0);
  return { counts: counts.slice(0, last + 1), mean: Math.round((sum / n) * 100) / 100, p50: at(0.5), p99: at(0.99), max };
}

/** Runs every frame once through the walk-stats build holding `compiled`. */
export function walkStats(native: NativeBridge, objectPath: string, compiled: CompiledFirewall, frames: readonly Buffer[]): WalkStats {
  const k = FirewallKernel.load({ objectPath, ringSize: 1 << 16 });
  try {
    k.writer.apply(compiled);
    const m = k.obj.map('fw_walk_stats', u32Codec, bytesCodec(8 * FW_WS_SLOTS));
    for (const data of frames) native.testRun(k.progFd, { data, repeat: 1 });
    const perCpu = m.lookupPerCpu(0);
    if (!perCpu) throw new Error('walk stats: fw_walk_stats has no entry');
    const slots = sumU64Slots(perCpu, FW_WS_SLOTS).map(Number);
    const frames_ = slots[FW_WS_PACKETS]!;
    if (frames_ !== frames.length) {
      throw new Error(`walk stats: ${frames_} classifier lookups for ${frames.length} frames (a frame skipped the rules, e.g. malformed or conntrack fast path)`);
    }
    return {
      frames: frames_,
      depth: histogram(slots.slice(FW_WS_DEPTH, FW_WS_DEPTH + FW_WS_DEPTH_BUCKETS)),
      candidates: histogram(slots.slice(FW_WS_CANDS, FW_WS_CANDS + FW_WS_COUNT_BUCKETS)),
      rules_checked: histogram(slots.slice(FW_WS_RULES, FW_WS_RULES + FW_WS_COUNT_BUCKETS)),
    };
  } finally {
    k.close();
  }
}
