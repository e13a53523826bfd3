// The `nat` section → the kernel's rules (pure: no kernel, unit-tested). Each config rule becomes
// one kernel rule per family, protocol and interface it covers (a masquerade without addresses
// covers both families; a port rule with protocol any covers TCP and UDP; one_to_one is a SNAT
// and a DNAT); the hairpin becomes a SNAT that matches only packets the NAT has just DNATed.
// Rules are ordered by priority (lower first; equal priorities keep the file's order): the
// kernel takes the first match at its hook. A rule's id is hashed into the u32 the kernel stores
// with each translation, so metrics and the API name translations by rule across reloads.
import { prefixMask, type IpFamily } from '../../net/ip.js';
import { nat_limits } from '../../kernel/contract.gen.js';
import type { InterfaceRef } from '../engine.js';
import type { KernelNatRule, NatHook, NatKindName } from './kernel.js';
import type { NatConfig, NatPool, NatRuleConfig } from './schema.js';

export class NatCompileError extends Error {
  override name = 'NatCompileError';
}

export interface CompiledNat {
  rules: KernelNatRule[];
  /** kernel rule id → the config's rule id */
  ruleNames: Map<number, string>;
  /** interfaces whose addresses masquerade reads (names) */
  masquerade: string[];
}

const PROTO: Record<string, number> = { any: 0, tcp: 6, udp: 17, icmp: 1, icmpv6: 58 };
const ZERO = Buffer.alloc(16);

/** FNV-1a over the id: the same id gives the same number in every run and reload. */
export function natRuleId(id: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(id, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h === 0 ? 1 : h;
}

/** keys each type reads (besides id, enabled, priority, type, match_*, interfaces) */
const TYPE_KEYS: Record<NatRuleConfig['type'], readonly (keyof NatRuleConfig)[]> = {
  masquerade: ['interface', 'port_range', 'random_ports'],
  snat: ['translated_addr', 'port_range', 'random_ports'],
  dnat: ['translated_addr', 'translated_port'],
  port_forward: ['ext_port', 'int_port', 'internal_addr'],
  one_to_one: ['external_addr', 'internal_addr'],
};
const OWN_KEYS = new Set(Object.values(TYPE_KEYS).flat());

const LIST_TYPES: Record<'snat_rules' | 'dnat_rules', readonly NatRuleConfig['type'][]> = {
  snat_rules: ['masquerade', 'snat', 'one_to_one'],
  dnat_rules: ['dnat', 'port_forward', 'one_to_one'],
};

interface Ctx {
  where: string;
  ifindex: Map<string, number>;
}

function fail(where: string, msg: string): never {
  throw new NatCompileError(`${where}: ${msg}`);
}

function familiesOf(r: NatRuleConfig, where: string): IpFamily[] {
  const fams = new Set<IpFamily>();
  const note = (f: IpFamily | undefined): void => void (f && fams.add(f));
  note(r.match_src?.family);
  note(r.match_dst?.family);
  note(r.translated_addr?.first.family);
  note(r.internal_addr?.family);
  note(r.external_addr?.family);
  if (fams.size > 1) fail(where, 'mixes IPv4 and IPv6 addresses: a rule is of one family (write one rule per family)');
  if (r.match_protocol === 'icmp' && fams.has(6)) fail(where, 'match_protocol icmp is IPv4; IPv6 uses icmpv6');
  if (r.match_protocol === 'icmpv6' && fams.has(4)) fail(where, 'match_protocol icmpv6 is IPv6; IPv4 uses icmp');
  if (fams.size === 1) return [...fams];
  if (r.match_protocol === 'icmp') return [4];
  if (r.match_protocol === 'icmpv6') return [6];
  return [4, 6];
}

function protocols(r: NatRuleConfig, portsUsed: boolean, where: string): number[] {
  const p = PROTO[r.match_protocol]!;
  if (!portsUsed) return [p];
  if (p === 0) return [6, 17];
  if (p !== 6 && p !== 17) fail(where, `ports apply to tcp and udp only, not ${r.match_protocol}`);
  return [p];
}

function ifindexes(names: readonly string[] | undefined, c: Ctx, key: string): number[] {
  if (!names) return [0];
  return names.map((n) => {
    const i = c.ifindex.get(n);
    if (i === undefined) fail(`${c.where}.${key}`, `interface "${n}" is not one the agent is attached to (agent.interfaces: ${[...c.ifindex.keys()].join(', ') || 'none'})`);
    return i;
  });
}

function hostMask(f: IpFamily): Buffer {
  return prefixMask(f === 4 ? 32 : 128);
}

function base(id: number, kind: NatKindName, hook: NatHook, family: IpFamily, proto: number, ifindex: number): KernelNatRule {
  return { ruleId: id, kind, hook, family, proto, ifindex, src: ZERO, srcMask: ZERO, dst: ZERO, dstMask: ZERO, dports: [0, 0], toAddr: ZERO, poolSize: 0, toPorts: [0, 0], hairpinOnly: false, randomPorts: false, prefixLen: 0 };
}

function need<T>(v: T | undefined, where: string, key: string, type: string): T {
  if (v === undefined) fail(`${where}`, `type ${type} needs ${key}`);
  return v;
}

function poolOf(p: NatPool, family: IpFamily, where: string): { addr: Buffer; size: number } {
  if (p.first.family !== family) fail(where, 'translated_addr is of another family than the rule');
  return { addr: p.first.addr, size: p.size };
}

/** One config rule → its kernel rules. */
function compileRule(r: NatRuleConfig, list: 'snat_rules' | 'dnat_rules', c: Ctx): KernelNatRule[] {
  const where = c.where;
  if (!LIST_TYPES[list].includes(r.type)) fail(`${where}.type`, `${r.type} belongs in ${list === 'snat_rules' ? 'dnat_rules' : 'snat_rules'}`);
  for (const k of OWN_KEYS) if (r[k] !== undefined && !TYPE_KEYS[r.type].includes(k) && !(k === 'random_ports' && r[k] === false)) fail(`${where}.${k}`, `does not apply to type ${r.type}`);
  const id = natRuleId(r.id);
  const out: KernelNatRule[] = [];
  const matchOn = (k: KernelNatRule): KernelNatRule => {
    if (r.match_src) {
      k.src = r.match_src.addr;
      k.srcMask = r.match_src.mask();
    }
    if (r.match_dst) {
      k.dst = r.match_dst.addr;
      k.dstMask = r.match_dst.mask();
    }
    if (r.match_dst_port) k.dports = [r.match_dst_port.lo, r.match_dst_port.hi];
    return k;
  };
  const allocRange = (): readonly [number, number] => {
    const pr = r.port_range;
    if (!pr) return [0, 0];
    if (pr.lo < 1) fail(`${where}.port_range`, 'ports to allocate start at 1');
    return [pr.lo, pr.hi];
  };
  for (const family of familiesOf(r, where)) {
    switch (r.type) {
      case 'masquerade': {
        const iface = need(r.interface, where, 'interface (the interface whose address the source becomes)', r.type);
        if (r.interfaces) fail(`${where}.interfaces`, 'a masquerade applies on its interface; drop interfaces');
        const [ifx] = ifindexes([iface], c, 'interface');
        for (const proto of protocols(r, r.match_dst_port !== undefined, where)) {
          const k = matchOn(base(id, 'masquerade', 'egress', family, proto, ifx!));
          k.toPorts = allocRange();
          k.randomPorts = r.random_ports;
          out.push(k);
        }
        break;
      }
      case 'snat': {
        const p = poolOf(need(r.translated_addr, where, 'translated_addr', r.type), family, `${where}.translated_addr`);
        for (const ifx of ifindexes(r.interfaces, c, 'interfaces'))
          for (const proto of protocols(r, r.match_dst_port !== undefined, where)) {
            const k = matchOn(base(id, 'snat', 'egress', family, proto, ifx));
            k.toAddr = p.addr;
            k.poolSize = p.size;
            k.toPorts = allocRange();
            k.randomPorts = r.random_ports;
            out.push(k);
          }
        break;
      }
      case 'dnat': {
        const p = poolOf(need(r.translated_addr, where, 'translated_addr', r.type), family, `${where}.translated_addr`);
        if (r.translated_port !== undefined && !r.match_dst_port) fail(`${where}.translated_port`, 'needs match_dst_port (the ports it translates)');
        for (const ifx of ifindexes(r.interfaces, c, 'interfaces'))
          for (const proto of protocols(r, r.match_dst_port !== undefined, where)) {
            const k = matchOn(base(id, 'dnat', 'ingress', family, proto, ifx));
            k.toAddr = p.addr;
            k.poolSize = p.size;
            if (r.translated_port !== undefined) {
              const span = k.dports[1] - k.dports[0];
              if (r.translated_port + span > 65535) fail(`${where}.translated_port`, `${r.translated_port} + the ${span + 1} ports of match_dst_port runs past 65535`);
              k.toPorts = [r.translated_port, r.translated_port + span];
            }
            out.push(k);
          }
        break;
      }
      case 'port_forward': {
        const ext = need(r.ext_port, where, 'ext_port', r.type);
        if (ext.lo < 1) fail(`${where}.ext_port`, 'port 0 cannot be forwarded');
        const to = need(r.internal_addr, where, 'internal_addr', r.type);
        if (r.match_dst_port) fail(`${where}.match_dst_port`, 'a port_forward matches ext_port');
        const intPort = r.int_port ?? ext.lo;
        if (intPort + (ext.hi - ext.lo) > 65535) fail(`${where}.int_port`, `${intPort} + the ${ext.hi - ext.lo + 1} ports of ext_port runs past 65535`);
        for (const ifx of ifindexes(r.interfaces, c, 'interfaces'))
          for (const proto of protocols(r, true, where)) {
            const k = matchOn(base(id, 'dnat', 'ingress', family, proto, ifx));
            k.dports = [ext.lo, ext.hi];
            k.toAddr = to.addr;
            k.poolSize = 1;
            k.toPorts = [intPort, intPort + (ext.hi - ext.lo)];
            out.push(k);
          }
        break;
      }
      case 'one_to_one': {
        const ext = need(r.external_addr, where, 'external_addr', r.type);
        const int = need(r.internal_addr, where, 'internal_addr', r.type);
        if (ext.family !== int.family) fail(where, 'external_addr and internal_addr are of different families');
        if (r.match_dst_port) fail(`${where}.match_dst_port`, 'a one_to_one maps every port');
        for (const ifx of ifindexes(r.interfaces, c, 'interfaces'))
          for (const proto of protocols(r, false, where)) {
            const s = base(id, 'snat', 'egress', family, proto, ifx);
            s.src = int.addr;
            s.srcMask = hostMask(family);
            if (r.match_dst) {
              s.dst = r.match_dst.addr;
              s.dstMask = r.match_dst.mask();
            }
            s.toAddr = ext.addr;
            s.poolSize = 1;
            s.toPorts = [1, 65535]; // every source port is kept while free
            const d = base(id, 'dnat', 'ingress', family, proto, ifx);
            d.dst = ext.addr;
            d.dstMask = hostMask(family);
            if (r.match_src) {
              d.src = r.match_src.addr;
              d.srcMask = r.match_src.mask();
            }
            d.toAddr = int.addr;
            d.poolSize = 1;
            out.push(s, d);
          }
        break;
      }
    }
  }
  return out;
}

export const HAIRPIN_RULE = 'hairpin';

/** The section → kernel rules, in the order the kernel tries them. Throws NatCompileError naming
 * the key when the policy cannot be enforced. */
export function compileNat(cfg: NatConfig, interfaces: readonly InterfaceRef[]): CompiledNat {
  const ifindex = new Map(interfaces.map((i) => [i.ifname, i.ifindex]));
  const ruleNames = new Map<number, string>();
  const masquerade = new Set<string>();
  const ordered: { prio: number; seq: number; rules: KernelNatRule[] }[] = [];
  let seq = 0;
  const seen = new Set<string>();
  for (const list of ['snat_rules', 'dnat_rules'] as const) {
    cfg[list].forEach((r, i) => {
      const where = `nat.${list}[${i}]`;
      if (seen.has(r.id)) fail(`${where}.id`, `"${r.id}" is used by another NAT rule`);
      seen.add(r.id);
      if (!r.enabled) return;
      const id = natRuleId(r.id);
      const other = ruleNames.get(id);
      if (other !== undefined) fail(`${where}.id`, `"${r.id}" hashes like "${other}"; rename one of them`);
      ruleNames.set(id, r.id);
      if (r.type === 'masquerade' && r.interface) masquerade.add(r.interface);
      ordered.push({ prio: r.priority, seq: seq++, rules: compileRule(r, list, { where, ifindex }) });
    });
  }
  const h = cfg.hairpin;
  if (h.enabled) {
    const subnet = h.internal_subnet ?? fail('nat.hairpin.internal_subnet', 'hairpin needs the LAN it serves');
    const ip = h.hairpin_snat_ip ?? fail('nat.hairpin.hairpin_snat_ip', 'hairpin needs the address hairpinned connections come from');
    if (subnet.family !== ip.family) fail('nat.hairpin', 'internal_subnet and hairpin_snat_ip are of different families');
    const id = natRuleId(HAIRPIN_RULE);
    if (ruleNames.has(id)) fail('nat.hairpin', `a rule is already named "${HAIRPIN_RULE}"`);
    ruleNames.set(id, HAIRPIN_RULE);
    const k = base(id, 'snat', 'egress', subnet.family, 0, 0);
    k.src = subnet.addr;
    k.srcMask = subnet.mask();
    k.dst = subnet.addr;
    k.dstMask = subnet.mask();
    k.toAddr = ip.addr;
    k.poolSize = 1;
    k.hairpinOnly = true;
    // before every other rule: a hairpinned packet must come back through the router
    ordered.push({ prio: -1, seq: -1, rules: [k] });
  }
  ordered.sort((a, b) => a.prio - b.prio || a.seq - b.seq);
  const rules = ordered.flatMap((o) => o.rules);
  if (rules.length > nat_limits.NAT_MAX_RULES) {
    throw new NatCompileError(`nat: the rules expand to ${rules.length} kernel rules (per family, protocol and interface); the kernel holds at most ${nat_limits.NAT_MAX_RULES}`);
  }
  return { rules, ruleNames, masquerade: [...masquerade] };
}
