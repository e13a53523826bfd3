// Feeds' indicators into one generation for the kernel: exact addresses per family (bloom filter
// + hash set), networks per family (LPM trie), each with the action its feed's thresholds give,
// and the table that turns an event's ref back into the indicator and its feed. Pure: unit-tested
// without a kernel. An address several feeds name is one entry: the strongest action wins, then
// the higher confidence, then the earlier feed; what was merged is counted.
import { ti_action } from '../../kernel/contract.gen.js';
import { layouts } from '../../kernel/layouts.gen.js';
import type { Indicator } from '../../intel/indicator.js';
import { TI_LPM4_KEY_SIZE, TI_LPM6_KEY_SIZE, TI_VALUE_SIZE, type KernelSet, type SetEntries } from './kernel.js';

export type FeedAction = 'alert' | 'drop' | 'quarantine';

export interface FeedPolicy {
  readonly id: string;
  readonly action: FeedAction;
  /** indicators below it are not enforced (counted) */
  readonly minConfidence: number;
  /** a drop or quarantine feed's indicators below it only alert */
  readonly actionMinConfidence: number;
}

export interface FeedIndicators {
  readonly policy: FeedPolicy;
  readonly indicators: readonly Indicator[];
}

/** What one feed put into the generation. */
export interface FeedCompileCounts {
  /** addresses and networks in the kernel from this feed (after merging across feeds) */
  enforced: number;
  /** the feed's actions as applied: alert, drop, quarantine */
  actions: Record<FeedAction, number>;
  belowThreshold: number;
  expired: number;
  /** named by an earlier or stronger entry of the same address */
  merged: number;
  /** kept but enforced by no kernel program here: domain names, URLs, file hashes */
  notInKernel: { domain: number; url: number; hash: number };
}

export interface IndicatorRef {
  readonly indicator: Indicator;
  /** feed number (index into `feeds`) */
  readonly feed: number;
}

export interface CompiledIntel {
  readonly set: KernelSet;
  /** refs[ref]: the indicator an event's rule_num names */
  readonly refs: readonly IndicatorRef[];
  /** feed numbers: feed ids in config order */
  readonly feeds: readonly string[];
  readonly counts: ReadonlyMap<string, FeedCompileCounts>;
}

export class IntelCompileError extends Error {
  override name = 'IntelCompileError';
}

/** 255 feeds fit the event's feed byte */
const MAX_FEEDS = 255;
const ACTION_CODE: Readonly<Record<FeedAction, number>> = { alert: ti_action.TI_ACT_ALERT, quarantine: ti_action.TI_ACT_QUARANTINE, drop: ti_action.TI_ACT_DROP };
const V = layouts.ti_value.fields;

interface Entry {
  ref: number;
  action: number;
  confidence: number;
  feed: number;
}

export function compileIntel(feeds: readonly FeedIndicators[], now: number): CompiledIntel {
  if (feeds.length > MAX_FEEDS) throw new IntelCompileError(`${feeds.length} feeds: at most ${MAX_FEEDS}`);
  const refs: IndicatorRef[] = [];
  const v4 = new Map<number, Entry>();
  const v6 = new Map<string, Entry>();
  const n4 = new Map<string, Entry>();
  const n6 = new Map<string, Entry>();
  const counts = new Map<string, FeedCompileCounts>();
  const owner: FeedCompileCounts[] = [];
  feeds.forEach(({ policy, indicators }, feed) => {
    const c: FeedCompileCounts = { enforced: 0, actions: { alert: 0, drop: 0, quarantine: 0 }, belowThreshold: 0, expired: 0, merged: 0, notInKernel: { domain: 0, url: 0, hash: 0 } };
    counts.set(policy.id, c);
    owner.push(c);
    for (const ind of indicators) {
      const v = ind.value;
      if (v.type !== 'ip') {
        c.notInKernel[v.type]++;
        continue;
      }
      if (ind.validUntil !== undefined && ind.validUntil <= now) {
        c.expired++;
        continue;
      }
      if (ind.confidence < policy.minConfidence) {
        c.belowThreshold++;
        continue;
      }
      const action = policy.action !== 'alert' && ind.confidence < policy.actionMinConfidence ? ACTION_CODE.alert : ACTION_CODE[policy.action];
      const cidr = v.cidr;
      const host = cidr.prefix === (cidr.family === 4 ? 32 : 128);
      let map: Map<number, Entry> | Map<string, Entry>;
      let key: number | string;
      if (host && cidr.family === 4) {
        map = v4;
        key = cidr.addr.readUInt32BE(0);
      } else if (host) {
        map = v6;
        key = cidr.addr.toString('latin1', 0, 16);
      } else {
        map = cidr.family === 4 ? n4 : n6;
        key = `${cidr.prefix}/${cidr.addr.toString('latin1', 0, cidr.family === 4 ? 4 : 16)}`;
      }
      const prev = (map as Map<number | string, Entry>).get(key);
      if (prev && (prev.action > action || (prev.action === action && prev.confidence >= ind.confidence))) {
        c.merged++;
        continue;
      }
      if (prev) owner[prev.feed]!.merged++;
      (map as Map<number | string, Entry>).set(key, { ref: refs.length, action, confidence: ind.confidence, feed });
      refs.push({ indicator: ind, feed });
    }
  });
  // what each feed finally holds in the kernel, and with which action
  const names = Object.keys(ACTION_CODE) as FeedAction[];
  for (const m of [v4, v6, n4, n6] as Map<unknown, Entry>[]) {
    for (const e of m.values()) {
      const c = owner[e.feed]!;
      c.enforced++;
      c.actions[names.find((a) => ACTION_CODE[a] === e.action)!]++;
    }
  }
  return {
    set: {
      v4: entries(v4, 4, (k, b, o) => b.writeUInt32BE(k, o)),
      v6: entries(v6, 16, (k, b, o) => b.write(k, o, 16, 'latin1')),
      lpm4: entries(n4, TI_LPM4_KEY_SIZE, (k, b, o) => lpmKey(k, b, o, 4)),
      lpm6: entries(n6, TI_LPM6_KEY_SIZE, (k, b, o) => lpmKey(k, b, o, 16)),
    },
    refs,
    feeds: feeds.map((f) => f.policy.id),
    counts,
  };
}

/** struct ti_lpm{4,6}_key: prefix length (host order), then the address. */
function lpmKey(k: string, b: Buffer, o: number, len: number): void {
  const slash = k.indexOf('/');
  b.writeUInt32LE(Number(k.slice(0, slash)), o);
  b.write(k.slice(slash + 1), o + 4, len, 'latin1');
}

function entries<K>(m: Map<K, Entry>, keySize: number, writeKey: (k: K, b: Buffer, o: number) => void): SetEntries {
  const keys = Buffer.alloc(m.size * keySize);
  const values = Buffer.alloc(m.size * TI_VALUE_SIZE);
  let i = 0;
  for (const [k, e] of m) {
    writeKey(k, keys, i * keySize);
    const o = i * TI_VALUE_SIZE;
    values.writeUInt32LE(e.ref, o + V.ref.offset);
    values[o + V.action.offset] = e.action;
    values[o + V.feed.offset] = e.feed;
    values[o + V.confidence.offset] = e.confidence;
    i++;
  }
  return { keys, values, count: m.size };
}
