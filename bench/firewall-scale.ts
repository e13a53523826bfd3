// The policies of the rule-scaling sweep (bench/scaling.ts): one seeded generator of mixed rules
// (IPv4 and IPv6 CIDRs of varied lengths, single ports and port ranges, TCP/UDP/ICMP/any, allow
// and deny), cut at 10, 1,000 and 10,000 rules, so the three policies differ in size only. The
// generator knows nothing of the classifier: prefix lengths, ports and protocols are drawn the
// way rule sets look (many host and /24 rules, some wide nets, service ports and ranges), not to
// suit it. The packets aimed at the rules come from bench/aim.ts.
import type { IpFamily } from '../src/net/ip.js';
import { prng } from '../test/support/firewall-random.js';

export const MIXED_SIZES = [10, 1000, 10000] as const;
export type MixedSize = (typeof MIXED_SIZES)[number];

export interface MixedRule {
  id: string;
  priority: number;
  action: 'allow' | 'deny';
  protocol?: 'tcp' | 'udp' | 'icmp' | 'icmpv6';
  src_ip?: string;
  dst_ip?: string;
  src_port?: string;
  dst_port?: string;
  icmp_type?: number;
}

/** `n` mixed rules; the first k of any call with the same seed are the same k rules. */
export function mixedRules(n: number, seed: number): MixedRule[] {
  const rnd = prng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  // IPv4 rules live in 198.18.0.0/15 (benchmark range), so a /20 there is already a wide net.
  const v4 = (narrow = false): string => {
    const len = narrow ? pick([24, 28, 32, 32]) : pick([20, 22, 24, 24, 24, 26, 28, 30, 32, 32, 32, 32]);
    return `198.${int(18, 19)}.${int(0, 255)}.${int(0, 255)}/${len}`;
  };
  const v6 = (narrow = false): string => {
    const len = narrow ? pick([64, 112, 128, 128]) : pick([48, 48, 56, 64, 64, 64, 96, 112, 120, 128, 128, 128]);
    const g = (): string => int(0, 0xffff).toString(16);
    return `2001:db8:${g()}:${g()}:${g()}::${g()}/${len}`;
  };
  const ports = [22, 25, 53, 80, 110, 123, 143, 443, 465, 587, 993, 995, 1433, 3306, 3389, 5432, 6379, 8080, 8443, 9200];
  const out: MixedRule[] = [];
  for (let i = 0; i < n; i++) {
    const fam: IpFamily = rnd() < 0.6 ? 4 : 6;
    const addr = fam === 4 ? v4 : v6;
    const r: MixedRule = { id: `m${i}`, priority: 100 + i, action: rnd() < 0.5 ? 'allow' : 'deny' };
    const p = rnd();
    if (p < 0.5) r.protocol = 'tcp';
    else if (p < 0.8) r.protocol = 'udp';
    else if (p < 0.9) r.protocol = fam === 4 ? 'icmp' : 'icmpv6';
    // Rules for every protocol name hosts or small nets ("block this host"); wide nets come
    // with a protocol and usually a port ("allow 443 to the DMZ").
    const narrow = r.protocol === undefined;
    if (rnd() < 0.75) r.dst_ip = addr(narrow);
    if (rnd() < 0.25) r.src_ip = addr(narrow);
    // A rule naming neither address nor protocol would be "everything": nobody writes 10,000 of those.
    if (!r.dst_ip && !r.src_ip) r.dst_ip = addr(narrow);
    if (r.protocol === 'tcp' || r.protocol === 'udp') {
      const q = rnd();
      if (q < 0.5) r.dst_port = String(pick(ports));
      else if (q < 0.7) r.dst_port = String(int(1024, 65535));
      else if (q < 0.85) {
        const lo = int(1024, 60000);
        r.dst_port = `${lo}-${lo + int(1, 1000)}`;
      }
      if (rnd() < 0.1) {
        const lo = int(1024, 60000);
        r.src_port = `${lo}-${lo + int(10, 5000)}`;
      }
    }
    if ((r.protocol === 'icmp' || r.protocol === 'icmpv6') && rnd() < 0.5) r.icmp_type = r.protocol === 'icmp' ? pick([0, 3, 8, 11]) : pick([1, 128, 129, 135]);
    out.push(r);
  }
  return out;
}

/** The firewall section's YAML lines (under `rules:`). */
export function mixedRulesYaml(rules: readonly MixedRule[]): string {
  return rules.map((r) => `\n    - ${JSON.stringify(r)}`).join('');
}
