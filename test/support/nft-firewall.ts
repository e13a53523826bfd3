// A firewall section, as a user writes it in the config (the YAML shape documented in
// docs/configuration.md, "firewall"), translated to an nftables netdev chain: the independent
// side of the differential test against xdp-firewall (test/e2e/firewall-nft-differential).
//
// It is written from the documentation, reading the config values itself, and shares nothing
// with the firewall's own compiler (src/engines/firewall/compile.ts, classifier.ts, encode.ts),
// its schema or its address parsing: a misreading of the documented semantics in either shows
// as a disagreement between the two.
//
// What it covers: stateless rules (protocol, CIDRs, ports, ICMP type/code), priorities, enabled,
// actions allow/deny/log, mode block/alert, default policy. What it refuses (throws): aliases,
// vlan_id, state, reject — a policy with them cannot be compared here.
import { isIPv4, isIPv6 } from 'node:net';

type Family = 4 | 6;
type Verdict = 'accept' | 'drop';

const PASS = new Set(['allow', 'pass', 'accept', 'log']);
const DROP = new Set(['deny', 'drop', 'block']);
const ALERT_MODES = new Set(['alert', 'monitor', 'observe']);
const PROTOCOLS: Record<string, number | null> = { any: null, '*': null, tcp: 6, udp: 17, icmp: 1, icmpv6: 58 };

class NftTranslateError extends Error {}

function fail(where: string, what: string): never {
  throw new NftTranslateError(`${where}: ${what}`);
}

/** "198.18.0.7/24", "2001:db8::1" or "2001:db8::/64" → family and nft text (nft masks host bits
 * itself). */
function cidr(where: string, v: unknown): { family: Family; text: string } {
  if (typeof v !== 'string') fail(where, `expected an address or CIDR, got ${JSON.stringify(v)}`);
  const [addr, len, extra] = v.trim().split('/');
  if (extra !== undefined || !addr) fail(where, `bad CIDR ${v}`);
  const family: Family | null = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : null;
  if (family === null) fail(where, `bad address ${addr}`);
  const max = family === 4 ? 32 : 128;
  const bits = len === undefined ? max : Number(len);
  if (!Number.isInteger(bits) || bits < 0 || bits > max) fail(where, `bad prefix length in ${v}`);
  return { family, text: `${addr}/${bits}` };
}

function cidrs(where: string, v: unknown): { family: Family; text: string }[] | null {
  if (v === undefined) return null;
  const list = Array.isArray(v) ? v : [v];
  return list.map((x, i) => cidr(`${where}[${i}]`, x));
}

/** 443, "443", "1024-65535" or {start, end} → nft text */
function ports(where: string, v: unknown): string | null {
  if (v === undefined) return null;
  let lo: number;
  let hi: number;
  if (typeof v === 'number') lo = hi = v;
  else if (typeof v === 'string') {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(v);
    if (!m) fail(where, `bad port range ${v}`);
    lo = Number(m[1]);
    hi = m[2] === undefined ? lo : Number(m[2]);
  } else if (v && typeof v === 'object' && 'start' in v && 'end' in v) {
    lo = Number((v as { start: unknown }).start);
    hi = Number((v as { end: unknown }).end);
  } else fail(where, `bad port range ${JSON.stringify(v)}`);
  if (!(lo >= 0 && hi <= 65535 && lo <= hi)) fail(where, `bad port range ${JSON.stringify(v)}`);
  return lo === hi ? String(lo) : `${lo}-${hi}`;
}

function protocolOf(where: string, v: unknown): number | null {
  if (v === undefined) return null;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255) return v;
  if (typeof v === 'string' && Object.hasOwn(PROTOCOLS, v.trim().toLowerCase())) return PROTOCOLS[v.trim().toLowerCase()]!;
  fail(where, `bad protocol ${JSON.stringify(v)}`);
}

/** The nft statements of one config rule: one line per address family (and per source ×
 * destination network, so no anonymous set ever holds overlapping intervals); none when the
 * rule can match nothing. */
function ruleToNft(rule: Record<string, unknown>, alert: boolean, where = 'rule'): string[] {
  for (const k of ['src_alias', 'dst_alias', 'vlan_id', 'state']) if (rule[k] !== undefined) fail(where, `${k} is not translated`);
  const action = String(rule.action ?? '').toLowerCase();
  let verdict: Verdict;
  if (PASS.has(action)) verdict = 'accept';
  else if (DROP.has(action)) verdict = alert ? 'accept' : 'drop';
  else fail(where, `action ${action} is not translated`);

  const proto = protocolOf(`${where}.protocol`, rule.protocol);
  const src = cidrs(`${where}.src_ip`, rule.src_ip);
  const dst = cidrs(`${where}.dst_ip`, rule.dst_ip);
  const sport = ports(`${where}.src_port`, rule.src_port);
  const dport = ports(`${where}.dst_port`, rule.dst_port);
  if ((sport !== null || dport !== null) && proto !== 6 && proto !== 17) fail(where, 'ports need tcp or udp');
  const icmpType = rule.icmp_type as number | undefined;
  const icmpCode = rule.icmp_code as number | undefined;
  if ((icmpType !== undefined || icmpCode !== undefined) && proto !== 1 && proto !== 58) fail(where, 'icmp_type/code need icmp or icmpv6');

  // ICMP is IPv4's, ICMPv6 IPv6's; addresses restrict the rule to their family.
  let families: (Family | null)[] = proto === 1 ? [4] : proto === 58 ? [6] : [null];
  for (const side of [src, dst]) {
    if (side === null) continue;
    const have = new Set(side.map((c) => c.family));
    families = families.flatMap((f) => (f === null ? [...have].sort() : have.has(f) ? [f] : []));
  }

  // "A non-first IP fragment carries no ports or ICMP header: rules with port or ICMP criteria do
  // not match it" (docs/configuration.md). nftables' netdev chains do not hold to that (measured
  // on 6.18: `tcp dport 80` matches a non-first IPv4 fragment whose payload begins with port 80's
  // bytes, port ranges match non-first IPv6 fragments whatever their payload), so the condition
  // is spelled out: IPv4 offset 0; IPv6 no fragment header, or one with offset 0.
  const l4Fields = sport !== null || dport !== null || icmpType !== undefined || icmpCode !== undefined;
  if (l4Fields) families = families.flatMap((f) => (f === null ? [4, 6] : [f]));

  const l4: string[] = [];
  if (proto !== null) l4.push(`meta l4proto ${proto}`);
  const pname = proto === 6 ? 'tcp' : 'udp';
  if (sport !== null) l4.push(`${pname} sport ${sport}`);
  if (dport !== null) l4.push(`${pname} dport ${dport}`);
  const iname = proto === 1 ? 'icmp' : 'icmpv6';
  if (icmpType !== undefined) l4.push(`${iname} type ${icmpType}`);
  if (icmpCode !== undefined) l4.push(`${iname} code ${icmpCode}`);

  const out: string[] = [];
  for (const f of families) {
    const l3 = f === null ? 'meta protocol { ip, ip6 }' : f === 4 ? 'meta protocol ip' : 'meta protocol ip6';
    const ip = f === 4 ? 'ip' : 'ip6';
    const srcs = src === null ? [null] : src.filter((c) => c.family === f);
    const dsts = dst === null ? [null] : dst.filter((c) => c.family === f);
    for (const s of srcs) {
      for (const d of dsts) {
        const firstFragment = !l4Fields ? [[]] : f === 4 ? [['ip frag-off & 0x1fff == 0']] : [['exthdr frag missing'], ['frag frag-off 0']];
        for (const frag of firstFragment) {
          const parts = [l3, ...frag];
          if (s) parts.push(`${ip} saddr ${s.text}`);
          if (d) parts.push(`${ip} daddr ${d.text}`);
          out.push([...parts, ...l4, verdict].join(' '));
        }
      }
    }
  }
  return out;
}

export interface NftChainOpts {
  table: string;
  device: string;
  hook: 'ingress' | 'egress';
}

/** The whole firewall section as one netdev table. A named counter `frames` counts every frame
 * the chain saw, so a test can check that nothing bypassed it. Frames that are not IPv4 or IPv6
 * always pass, as the firewall's documentation says. */
export function firewallToNft(section: Record<string, unknown>, o: NftChainOpts): string {
  const alert = ALERT_MODES.has(String(section.mode ?? 'block').toLowerCase());
  const def = String(section.default_policy ?? 'pass').toLowerCase();
  let defVerdict: Verdict;
  if (['pass', 'accept', 'allow'].includes(def)) defVerdict = 'accept';
  else if (['drop', 'deny', 'block'].includes(def)) defVerdict = alert ? 'accept' : 'drop';
  else fail('default_policy', `bad value ${def}`);
  if (section.enabled === false) fail('firewall', 'a disabled firewall is not translated');
  if (section.aliases !== undefined && Object.keys(section.aliases as object).length) fail('firewall.aliases', 'aliases are not translated');
  const rules = (section.rules ?? []) as Record<string, unknown>[];
  const ordered = rules
    .map((r, i) => ({ r, i }))
    .filter(({ r }) => r.enabled !== false)
    .sort((a, b) => Number(a.r.priority) - Number(b.r.priority));
  const lines: string[] = [];
  for (const { r, i } of ordered) lines.push(...ruleToNft(r, alert, `rules[${i}] (${String(r.id)})`));
  return [
    `table netdev ${o.table} {`,
    `  counter frames { }`,
    `  chain filter {`,
    `    type filter hook ${o.hook} device "${o.device}" priority 0; policy accept;`,
    `    counter name "frames"`,
    ...lines.map((l) => `    ${l}`),
    `    meta protocol { ip, ip6 } ${defVerdict}`,
    `  }`,
    `}`,
    '',
  ].join('\n');
}
