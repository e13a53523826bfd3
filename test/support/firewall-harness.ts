// Drives the real xdp-firewall object through BPF_PROG_TEST_RUN exactly as the agent does:
// config text -> parseConfigText -> compileFirewall -> GenerationWriter.apply -> test-run, then
// reads verdicts, per-interface counters, per-rule hits and ring-buffer events back. One loaded
// object per test file (counters start at zero in each file); everything is released in after().
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { parseConfigText, type Config } from '../../src/catalog.js';
import { compileFirewall, type CompiledFirewall } from '../../src/engines/firewall/compile.js';
import { decodeFirewallEvent, emptyFirewallEvent, type FirewallEventRecord } from '../../src/engines/firewall/events.js';
import { COUNTER_SLOTS, EXT_COUNTER_SLOTS, FirewallKernel, type CounterSlot, type CounterSnapshot } from '../../src/engines/firewall/kernel.js';
import { layouts } from '../../src/kernel/layouts.gen.js';
import { loadNative, type NativeBridge } from '../../src/kernel/native.js';
import { formatAddress } from '../../src/net/ip.js';
import { IN_CI } from './env.js';
import { valuesByName } from '../../src/kernel/contract-names.js';
import { fw_action, fw_reason } from '../../src/kernel/contract.gen.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/test/support -> repository root */
export const REPO_ROOT = path.resolve(here, '..', '..', '..');
/** SN_FIREWALL_OBJECT points the tests at another build (e.g. a deliberately broken one, to
 * check that the tests notice). */
export const FIREWALL_OBJECT = process.env.SN_FIREWALL_OBJECT ?? path.join(REPO_ROOT, 'build', 'bpf', 'xdp_firewall.bpf.o');

export const XDP_DROP = 1;
export const XDP_PASS = 2;
/** test-run without a ctx runs on the loopback device of the caller's netns */
export const TEST_RUN_IFINDEX = 1;

/**
 * Why the kernel tests cannot run here, or false when they can. Under CI=true it is always
 * false: the tests then run and fail on whatever is missing instead of skipping.
 */
export function firewallSkipReason(): string | false {
  if (IN_CI) return false;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'kernel tests need root (BPF_PROG_TEST_RUN)';
  if (!existsSync(FIREWALL_OBJECT)) return `${FIREWALL_OBJECT} is not built (make bpf)`;
  try {
    loadNative();
  } catch (e) {
    return `native addon not built (make native): ${(e as Error).message}`;
  }
  return false;
}

/** A firewall event as plain values, so assertions can deepEqual it. */
export type FwEvent = Omit<FirewallEventRecord, 'bootNs' | 'cpu' | 'src' | 'dst' | 'addrs'> & { src: string; dst: string };

export type CounterDelta = Partial<Record<CounterSlot, number>>;

export interface Judgement {
  verdict: number;
  /** counters of the test-run interface that moved, and by how much */
  delta: CounterDelta;
  events: FwEvent[];
}

/** A ring record decodeFirewallEvent refused, read straight from the fw_event offsets. */
export interface RefusedRecord {
  len: number;
  family: number;
  reason: number;
  action: number;
  ruleNum: number;
  pktLen: number;
}

export interface Installed {
  config: Config;
  compiled: CompiledFirewall;
}

/** The firewall section as YAML text (un-indented, as under `firewall:`) or as an object. */
export type FirewallSection = string | Record<string, unknown>;

export const FW_ACT = valuesByName('FW_ACT_', fw_action);
export const FW_REASON = valuesByName('FW_REASON_', fw_reason);

export class FirewallHarness {
  readonly native: NativeBridge;
  readonly kernel: FirewallKernel;
  readonly dir: string;
  private readonly ring: number;
  private pending: FwEvent[] = [];
  /** records decodeFirewallEvent refused, described from the raw bytes */
  private refused: RefusedRecord[] = [];
  private readonly scratch: FirewallEventRecord = emptyFirewallEvent();
  private closed = false;

  /** mapPinDir: where maps shared by name (ct_table, the block list's) are found or pinned, as
   * the agent's <pin_root>/maps; default a private directory of this harness */
  constructor(opts: { mapPinDir?: string } = {}) {
    this.native = loadNative();
    this.kernel = FirewallKernel.load({ objectPath: FIREWALL_OBJECT, ...(opts.mapPinDir ? { mapPinDir: opts.mapPinDir } : {}) });
    this.dir = mkdtempSync(path.join(tmpdir(), 'sn-fwk-'));
    try {
      this.ring = this.native.ringOpen([this.kernel.eventsFd], (batch, _count, length, lost) => this.onBatch(batch, length, lost));
    } catch (e) {
      this.kernel.close();
      throw e;
    }
  }

  private onBatch(batch: Buffer | null, length: number, lost: number): void {
    if (lost) throw new Error(`the ring reader lost ${lost} records`);
    let off = 0;
    while (batch && off + 4 <= length) {
      const len = batch.readUInt32LE(off);
      off += 4;
      if (off + len > length) throw new Error(`ring batch: record of ${len} bytes at ${off} overruns the ${length}-byte batch`);
      if (decodeFirewallEvent(batch, off, len, this.scratch)) {
        const e = this.scratch;
        this.pending.push({
          ruleNum: e.ruleNum,
          ifindex: e.ifindex,
          family: e.family,
          proto: e.proto,
          src: e.family === 0 ? '' : formatAddress(e.family, e.src),
          dst: e.family === 0 ? '' : formatAddress(e.family, e.dst),
          srcPort: e.srcPort,
          dstPort: e.dstPort,
          vlanId: e.vlanId,
          vlanDepth: e.vlanDepth,
          pktLen: e.pktLen,
          action: e.action,
          reason: e.reason,
          icmpType: e.icmpType,
          icmpCode: e.icmpCode,
          tcpFlags: e.tcpFlags,
        });
      } else {
        this.refused.push(describeRaw(batch, off, len));
      }
      off += len;
    }
    if (off !== length) throw new Error(`ring batch: ${length - off} trailing bytes`);
  }

  /** Writes a file next to the config (alias lists); returns its absolute path. */
  writeFile(name: string, text: string): string {
    const p = path.join(this.dir, name);
    writeFileSync(p, text);
    return p;
  }

  /** Parses a config made of `agent.interfaces: [lo]` and the given firewall section. */
  parse(section: FirewallSection): Config {
    let text: string;
    if (typeof section === 'string') {
      const body = section
        .split('\n')
        .map((l) => (l.trim() === '' ? '' : `  ${l}`))
        .join('\n');
      text = `agent:\n  interfaces: [lo]\nfirewall:\n${body}\n`;
    } else {
      text = stringify({ agent: { interfaces: ['lo'] }, firewall: section });
    }
    return parseConfigText(text, path.join(this.dir, 'config.yaml'));
  }

  /** Validates, compiles and applies a policy as the agent does (one generation flip, then the
   * old generation's set entries go once no packet can read them). Leftover events are
   * discarded so the next assertions see only their own. */
  install(section: FirewallSection): Installed {
    const config = this.parse(section);
    const compiled = compileFirewall(config.firewall, config.resolved.firewall.aliases);
    this.kernel.writer.apply(compiled);
    this.kernel.writer.settleSync();
    this.drainEvents();
    return { config, compiled };
  }

  /** XDP ctx with an explicit ingress ifindex (data_end must equal the frame length). */
  static ctxFor(frame: Buffer, ifindex: number): Buffer {
    const ctx = Buffer.alloc(24);
    ctx.writeUInt32LE(0, 0); // data
    ctx.writeUInt32LE(frame.length, 4); // data_end
    ctx.writeUInt32LE(0, 8); // data_meta
    ctx.writeUInt32LE(ifindex, 12); // ingress_ifindex
    ctx.writeUInt32LE(0, 16); // rx_queue_index
    ctx.writeUInt32LE(0, 20); // egress_ifindex
    return ctx;
  }

  /** The raw XDP return code for one frame. */
  verdict(frame: Buffer, opts: { ifindex?: number } = {}): number {
    const run = this.native.testRun(this.kernel.progFd, {
      data: frame,
      ...(opts.ifindex !== undefined ? { ctx: FirewallHarness.ctxFor(frame, opts.ifindex) } : {}),
    });
    return run.retval;
  }

  /** Verdict, counter movement and events of exactly one frame. */
  judge(frame: Buffer): Judgement {
    const { verdict, delta, events, refused } = this.judgeRaw(frame);
    assert.deepEqual(refused, [], 'every ring record the kernel wrote decodes with decodeFirewallEvent');
    return { verdict, delta, events };
  }

  /** Like judge(), but records the decoder refuses are returned rather than failing. */
  judgeRaw(frame: Buffer): Judgement & { refused: RefusedRecord[] } {
    this.drainEvents();
    const before = this.counters();
    const verdict = this.verdict(frame);
    const delta = counterDelta(before, this.counters());
    return { verdict, delta, ...this.drainAll() };
  }

  /** Every event delivered since the last drain (polls the ring synchronously first); a record
   * that decodeFirewallEvent refuses fails the test. */
  drainEvents(): FwEvent[] {
    const { events, refused } = this.drainAll();
    assert.deepEqual(refused, [], 'every ring record the kernel wrote decodes with decodeFirewallEvent');
    return events;
  }

  drainAll(): { events: FwEvent[]; refused: RefusedRecord[] } {
    this.native.ringConsume(this.ring);
    const out = { events: this.pending, refused: this.refused };
    this.pending = [];
    this.refused = [];
    return out;
  }

  /** Kernel rule number of a config rule id in the active generation. */
  ruleNum(ruleId: string): number {
    const n = this.kernel.writer.numbers.numOf(ruleId);
    assert.ok(n !== undefined, `rule "${ruleId}" has a number`);
    return n;
  }

  /** Hit counter of a rule (summed over CPUs). */
  hits(ruleId: string): { packets: number; bytes: number } {
    const [h] = this.kernel.readRuleHits([this.ruleNum(ruleId)]);
    assert.ok(h, `hit counter of rule "${ruleId}" is readable`);
    return { packets: Number(h.packets), bytes: Number(h.bytes) };
  }

  /** Counters of one interface (zeros when the program never ran there). */
  counters(ifindex = TEST_RUN_IFINDEX): CounterSnapshot {
    const c = this.kernel.readCounters().get(ifindex);
    if (c) return c;
    const zero = {} as CounterSnapshot;
    for (const s of [...COUNTER_SLOTS, ...EXT_COUNTER_SLOTS]) zero[s] = 0n;
    return zero;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.native.ringClose(this.ring);
    } finally {
      this.kernel.close();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

const EV = layouts.fw_event.fields;

/** What a refused record holds, read at the fw_event offsets (-1: the record is too short). */
function describeRaw(buf: Buffer, off: number, len: number): RefusedRecord {
  const f = (name: keyof typeof EV): number => (EV[name].offset + EV[name].size <= len ? buf.readUIntLE(off + EV[name].offset, EV[name].size) : -1);
  return { len, family: f('family'), reason: f('reason'), action: f('action'), ruleNum: f('rule_num'), pktLen: f('pkt_len') };
}

/** The slots that moved between two snapshots, as numbers. */
function counterDelta(before: CounterSnapshot, after: CounterSnapshot): CounterDelta {
  const d: CounterDelta = {};
  for (const s of [...COUNTER_SLOTS, ...EXT_COUNTER_SLOTS]) {
    const n = after[s] - before[s];
    if (n !== 0n) d[s] = Number(n);
  }
  return d;
}

/**
 * Registers before/after hooks that load one firewall for the calling test file and returns an
 * accessor. Call at module top level, next to a describe() with `{ skip: firewallSkipReason() }`.
 */
export function useFirewall(): () => FirewallHarness {
  let h: FirewallHarness | null = null;
  before(() => {
    h = new FirewallHarness();
  });
  after(() => {
    h?.close();
    h = null;
  });
  return () => {
    assert.ok(h, 'the firewall harness is loaded (before() ran)');
    return h;
  };
}

/** The counter movement of one frame that passed/dropped through a rule or the default. */
export function expectedDelta(o: {
  bytes: number;
  verdict: 'pass' | 'drop';
  by: 'rule' | 'default' | 'malformed' | 'non_ip';
  events?: number;
  fragment?: boolean;
}): CounterDelta {
  const d: CounterDelta = { seen: 1, bytes_seen: o.bytes };
  if (o.verdict === 'pass') {
    d.passed = 1;
    // A pass continues down the XDP chain; with no next program the tail call misses.
    d.tailcall_miss = 1;
  } else d.dropped = 1;
  if (o.by === 'rule') d.rule_hit = 1;
  if (o.by === 'default') d.default_policy = 1;
  if (o.by === 'malformed') d.malformed = 1;
  if (o.by === 'non_ip') d.non_ip = 1;
  if (o.events) d.events = o.events;
  if (o.fragment) d.fragment = 1;
  return d;
}

/** A frame with a name for failure messages. */
export interface Labeled {
  label: string;
  frame: Buffer;
}

export const lf = (label: string, frame: Buffer): Labeled => ({ label, frame });

/**
 * Installs `rule` (given an id "r", priority 1, action deny) alone under default pass and checks
 * that every `hit` frame is dropped by exactly that rule (one event naming it, rule counters
 * moved) and every `miss` frame falls through to the default pass (no event). Hit counters must
 * grow by exactly the hits' packets and bytes.
 */
export function assertDenyRule(h: FirewallHarness, rule: Record<string, unknown>, hit: Labeled[], miss: Labeled[], extra: Record<string, unknown> = {}): Installed {
  const inst = h.install({ default_policy: 'pass', ...extra, rules: [{ id: 'r', priority: 1, action: 'deny', ...rule }] });
  const num = h.ruleNum('r');
  const before = h.hits('r');
  let bytes = 0;
  const what = JSON.stringify(rule);
  for (const { label, frame } of hit) {
    const j = h.judge(frame);
    assert.equal(j.verdict, XDP_DROP, `${what}: ${label} must be dropped by the rule`);
    assert.equal(j.events.length, 1, `${what}: ${label} gives one event`);
    assert.equal(j.events[0]!.ruleNum, num, `${what}: ${label}: the event names the rule`);
    assert.equal(j.events[0]!.reason, FW_REASON.rule, `${what}: ${label}: reason rule`);
    assert.deepEqual(j.delta, expectedDelta({ bytes: frame.length, verdict: 'drop', by: 'rule', events: 1 }), `${what}: ${label}: counters`);
    bytes += frame.length;
  }
  for (const { label, frame } of miss) {
    const j = h.judge(frame);
    assert.equal(j.verdict, XDP_PASS, `${what}: ${label} must not match (default pass)`);
    assert.deepEqual(j.events, [], `${what}: ${label}: no event`);
    assert.deepEqual(j.delta, expectedDelta({ bytes: frame.length, verdict: 'pass', by: 'default' }), `${what}: ${label}: counters`);
  }
  const after = h.hits('r');
  assert.deepEqual({ packets: after.packets - before.packets, bytes: after.bytes - before.bytes }, { packets: hit.length, bytes }, `${what}: hit counter`);
  return inst;
}
