// xdp-firewall conntrack fast path: a packet of an established flow whose direction was already
// passed under the current policy skips the rules. Beside it, the very same packet of a flow the
// table does not hold (NEW), which walks the 10-rule base policy (plus a state rule, last) to its allow rule. IPv4 and IPv6.
// The ct_table entry is written the way tc-conntrack leaves an established flow (key normalised,
// reply seen), and the firewall itself marks the direction passed on a first, untimed run, so
// the bench relies on the program's own fast-path bookkeeping rather than on a forged policy id.
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { parseConfigText } from '../src/catalog.js';
import { compileFirewall } from '../src/engines/firewall/compile.js';
import { FirewallKernel, type CounterSnapshot } from '../src/engines/firewall/kernel.js';
import { layouts } from '../src/kernel/layouts.gen.js';
import { bytesCodec } from '../src/kernel/map.js';
import type { NativeBridge } from '../src/kernel/native.js';
import { parseAddress, type IpFamily } from '../src/net/ip.js';
import { tcpFrame } from '../test/support/frames.js';
import { WrongPathError, XDP_PASS, type Subject } from './harness.js';
import { CLIENT, HIT_PORT, HIT_RULE, SERVER, policyYaml } from './policy.js';
import { ct_flag } from '../src/kernel/contract.gen.js';

const PROTO_TCP = 6;
const K = layouts.ct_key.fields;
const E = layouts.ct_entry.fields;
/** ct_state value of an established TCP flow (ct.h CT_S_ESTABLISHED) */
const CT_S_ESTABLISHED = 4;
/** Client ports: the established flow, and a flow the table never holds. */
export const CT_EST_PORT = 41000;
export const CT_NEW_PORT = 41001;

export interface CtKey {
  key: Buffer;
  /** direction of the packet relative to the key: 0 = a->b, 1 = b->a (ct.h ct_key_fill) */
  dir: 0 | 1;
}

/** The direction-normalised key of a flow, byte for byte as ct.h's ct_key_fill builds it:
 * endpoint a is the lower one (address bytes in network order, then the port); addresses in
 * network order with IPv4 in the first word, ports in host order. */
export function ctKeyFor(family: IpFamily, proto: number, src: string, sport: number, dst: string, dport: number): CtKey {
  const s = parseAddress(src);
  const d = parseAddress(dst);
  if (s.family !== family || d.family !== family) throw new Error(`ctKeyFor: ${src} and ${dst} are not both IPv${family}`);
  const cmp = Buffer.compare(s.addr, d.addr) || Math.sign(sport - dport);
  const dir: 0 | 1 = cmp <= 0 ? 0 : 1;
  const [a, pa, b, pb] = dir === 0 ? [s.addr, sport, d.addr, dport] : [d.addr, dport, s.addr, sport];
  const key = Buffer.alloc(layouts.ct_key.size);
  a.copy(key, K.addr_a.offset);
  b.copy(key, K.addr_b.offset);
  key.writeUInt16LE(pa, K.port_a.offset);
  key.writeUInt16LE(pb, K.port_b.offset);
  key[K.family.offset] = family;
  key[K.proto.offset] = proto;
  return { key, dir };
}

/** An ESTABLISHED entry whose initiator sent the packet of direction `initDir` w.r.t. the key,
 * that has seen a reply, and never expires while the bench runs (the firewall only reads the
 * deadline; no sweep runs on this private table). Neither direction is marked passed yet. */
export function establishedEntry(initDir: 0 | 1): Buffer {
  const v = Buffer.alloc(layouts.ct_entry.size);
  v.writeBigUInt64LE(0xffff_ffff_ffff_ffffn, E.expires_ns.offset);
  v[E.state.offset] = CT_S_ESTABLISHED;
  v[E.flags.offset] = ct_flag.CT_F_SEEN_REPLY | ct_flag.CT_F_ASSURED | (initDir === 0 ? ct_flag.CT_F_INIT_IS_A : 0);
  return v;
}

export interface ConntrackBench {
  subjects: Subject[];
  close(): void;
}

function sum(kernel: FirewallKernel): CounterSnapshot {
  let total: CounterSnapshot | null = null;
  for (const snap of kernel.readCounters().values()) {
    if (!total) total = { ...snap };
    else for (const k of Object.keys(snap) as (keyof CounterSnapshot)[]) total[k] += snap[k];
  }
  if (!total) throw new Error('xdp-firewall: no counters after a run');
  return total;
}

export function setupConntrack(o: { native: NativeBridge; objectPath: string; dir: string; log: (line: string) => void }): ConntrackBench {
  const file = path.join(o.dir, 'conntrack-base.yaml');
  // The base policy and, last, a state rule: a stateful policy, where the lookup comes before
  // the rules (under a policy without state rules the rules run first, so the established ACK
  // would walk them before its lookup). Being last, it decides none of these packets: the
  // first, untimed ACK is still passed by allow-https.
  const text = `${policyYaml('base', path.join(o.dir, 'unused-list.txt'))}    - { id: allow-established, priority: 110, action: allow, state: [established, related] }\n`;
  writeFileSync(file, text);
  const cfg = parseConfigText(text, file);
  const compiled = compileFirewall(cfg.firewall, cfg.resolved.firewall.aliases);
  // A private pin directory: the bench's ct_table is its own, never the agent's.
  const kernel = FirewallKernel.load({ objectPath: o.objectPath });
  try {
    const applied = kernel.writer.apply(compiled);
    const ruleNum = applied.ruleNums.get(HIT_RULE);
    if (ruleNum === undefined) throw new Error(`conntrack bench: rule ${HIT_RULE} has no rule number`);
    const table = kernel.obj.map('ct_table', bytesCodec(layouts.ct_key.size), bytesCodec(layouts.ct_entry.size));
    const hits = (): bigint => kernel.readRuleHits([ruleNum])[0]?.packets ?? 0n;
    const subjects: Subject[] = [];

    for (const family of [4, 6] as const) {
      const est = ctKeyFor(family, PROTO_TCP, CLIENT[family], CT_EST_PORT, SERVER[family], HIT_PORT);
      table.update(est.key, establishedEntry(est.dir));
      const absent = ctKeyFor(family, PROTO_TCP, CLIENT[family], CT_NEW_PORT, SERVER[family], HIT_PORT);
      if (table.lookup(absent.key)) throw new Error('conntrack bench: the NEW flow is already in the table');

      // A mid-flow segment from the client: ACK with data-free PSH would do as well; plain ACK is
      // what most packets of a bulk transfer are.
      const frame = (sport: number): Buffer =>
        tcpFrame({ src: CLIENT[family], dst: SERVER[family], sport, dport: HIT_PORT, seq: 1001, ack: 5001, flags: ['ack'] });
      const estFrame = frame(CT_EST_PORT);

      // First run, untimed: the rules decide (allow-https) and the firewall marks the client's
      // direction passed under the current policy id. Every later run must take the fast path.
      const r = o.native.testRun(kernel.progFd, { data: estFrame });
      if (r.retval !== XDP_PASS) throw new WrongPathError(`conntrack bench IPv${family}: the first packet of the established flow was not passed`);
      const ent = table.lookup(est.key);
      if (!ent || ent.readUInt32LE(E.fw_pass_gen.offset + 4 * 0) === 0) {
        throw new WrongPathError(`conntrack bench IPv${family}: the firewall did not mark the initiator's direction passed`);
      }

      const v = `v${family}`;
      for (const kind of ['ct_established', 'ct_new'] as const) {
        const fast = kind === 'ct_established';
        const id = `xdp-firewall.${v}.ack.${kind}`;
        subjects.push({
          id,
          program: 'xdp-firewall',
          description: fast
            ? `IPv${family} TCP ACK of an established flow already passed under this policy: conntrack fast path, no rule walk (10-rule policy and a state rule)`
            : `IPv${family} TCP ACK of a flow not in ct_table (NEW): the rules decide, rule 5 of 11 allows`,
          family,
          progFd: kernel.progFd,
          frame: fast ? estFrame : frame(CT_NEW_PORT),
          retval: XDP_PASS,
          maxRepeatPerCall: 0xffffffff,
          beginSample() {
            const c0 = sum(kernel);
            const h0 = hits();
            return (repeats) => {
              const c1 = sum(kernel);
              const n = BigInt(repeats);
              const problems: string[] = [];
              const want = (what: string, got: bigint, exp: bigint): void => {
                if (got !== exp) problems.push(`${what} moved by ${got}, expected ${exp}`);
              };
              want('seen', c1.seen - c0.seen, n);
              want('passed', c1.passed - c0.passed, n);
              want('ct_fastpath', c1.ct_fastpath - c0.ct_fastpath, fast ? n : 0n);
              want('rule_hit', c1.rule_hit - c0.rule_hit, fast ? 0n : n);
              want(`hits of rule ${HIT_RULE}`, hits() - h0, fast ? 0n : n);
              want('default_policy', c1.default_policy - c0.default_policy, 0n);
              if (!fast && table.lookup(absent.key)) problems.push('the NEW flow appeared in ct_table');
              if (problems.length) throw new WrongPathError(`${id}: after ${repeats} runs: ${problems.join('; ')}`);
            };
          },
        });
      }
    }
    o.log(`conntrack: 10-rule base policy plus a state rule, one established flow per family in a private ct_table, ${subjects.length} cases`);
    return { subjects, close: () => kernel.close() };
  } catch (e) {
    kernel.close();
    throw e;
  }
}
