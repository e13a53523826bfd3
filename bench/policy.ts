// The policies and packets the firewall cases measure. The base policy is what a small server
// might run: ten rules of the kinds people write (ports, ICMP types, admin networks, a service
// address), default pass. The block-list policies put one rule over 100,000 CIDRs per family in
// front of it, the way block lists are used.
import type { IpFamily } from '../src/net/ip.js';

export type PolicyName = 'base' | 'many-rules' | 'blocklist-deny' | 'blocklist-allow';

/** Bench hosts (documentation/benchmark ranges; the block list never overlaps them). */
export const SERVER: Readonly<Record<IpFamily, string>> = { 4: '198.18.0.10', 6: '2001:db8::10' };
export const CLIENT: Readonly<Record<IpFamily, string>> = { 4: '198.19.0.7', 6: '2001:db8:1::7' };

export const BLOCKLIST_RULE = 'blocklist';
/** The rule the "rule hit" packets match: fifth of ten. */
export const HIT_RULE = 'allow-https';
export const HIT_PORT = 443;
/** A port no rule of the base policy names: the "rule miss" packets match no rule (the
 * classifier walk reaches a leaf whose candidates all fail) and the default decides. */
export const MISS_PORT = 8080;
export const CLIENT_PORT = 40000;

const BASE_RULES = `
    - { id: deny-telnet, priority: 10, action: deny, protocol: tcp, dst_port: 23 }
    - { id: allow-ping, priority: 20, action: allow, protocol: icmp, icmp_type: 8 }
    - { id: allow-ping6, priority: 30, action: allow, protocol: icmpv6, icmp_type: 128 }
    - { id: allow-ssh-admin, priority: 40, action: allow, protocol: tcp, dst_port: 22, src_ip: [198.19.200.0/24, "2001:db8:200::/48"] }
    - { id: ${HIT_RULE}, priority: 50, action: allow, protocol: tcp, dst_port: ${HIT_PORT}, dst_ip: [${SERVER[4]}, "${SERVER[6]}"] }
    - { id: allow-http, priority: 60, action: allow, protocol: tcp, dst_port: 80, dst_ip: [${SERVER[4]}, "${SERVER[6]}"] }
    - { id: allow-dns, priority: 70, action: allow, protocol: udp, dst_port: 53 }
    - { id: allow-ntp, priority: 80, action: allow, protocol: udp, dst_port: 123 }
    - { id: deny-smb, priority: 90, action: deny, protocol: tcp, dst_port: "135-139" }
    - { id: log-rdp, priority: 100, action: log, protocol: tcp, dst_port: 3389 }`;

/** Rules in the many-rules policy: the design wants the firewall's cost flat in rule count, and
 * this case shows whether it is. */
export const MANY_RULES = 1000;
/** First port of the many-rules policy's per-service rules (none of them is MISS_PORT). */
const MANY_RULES_FIRST_PORT = 20000;

/** Config text of a policy. `blocklistFile` is the alias file (relative to the config). */
export function policyYaml(name: PolicyName, blocklistFile: string): string {
  const head = `agent:\n  interfaces: [bench0]\nfirewall:\n  default_policy: pass\n`;
  if (name === 'base') return `${head}  rules:${BASE_RULES}\n`;
  if (name === 'many-rules') {
    const extra = Array.from(
      { length: MANY_RULES - 10 },
      (_, i) => `\n    - { id: svc-${i}, priority: ${1000 + i}, action: allow, protocol: tcp, dst_port: ${MANY_RULES_FIRST_PORT + i} }`,
    );
    return `${head}  rules:${BASE_RULES}${extra.join('')}\n`;
  }
  const action = name === 'blocklist-deny' ? 'deny' : 'allow';
  return (
    head +
    `  aliases:\n    ${BLOCKLIST_RULE}: { file: ${JSON.stringify(blocklistFile)} }\n` +
    `  rules:\n    - { id: ${BLOCKLIST_RULE}, priority: 1, action: ${action}, src_alias: ${BLOCKLIST_RULE} }${BASE_RULES}\n`
  );
}

export type FwCaseKind = 'rule_miss' | 'rule_hit' | 'rule_miss_many' | 'lpm_hit_deny' | 'lpm_hit_allow' | 'lpm_miss';

export interface FirewallCase {
  id: string;
  kind: FwCaseKind;
  family: IpFamily;
  policy: PolicyName;
  description: string;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** what must decide: a rule id, or null for the default policy */
  expectRule: string | null;
  expectAction: 'pass' | 'drop';
}

/** Every firewall case for one family. `listedSource` is a host in that family's block list. */
export function firewallCases(family: IpFamily, listedSource: string, listSize: number): FirewallCase[] {
  const v = `v${family}`;
  const n = listSize.toLocaleString('en-US');
  const base = { family, dst: SERVER[family], sport: CLIENT_PORT };
  return [
    {
      ...base, id: `xdp-firewall.${v}.syn.rule_miss`, kind: 'rule_miss', policy: 'base', src: CLIENT[family], dport: MISS_PORT,
      description: `IPv${family} TCP SYN matching none of 10 rules; default pass`, expectRule: null, expectAction: 'pass',
    },
    {
      ...base, id: `xdp-firewall.${v}.syn.rule_hit`, kind: 'rule_hit', policy: 'base', src: CLIENT[family], dport: HIT_PORT,
      description: `IPv${family} TCP SYN matching rule 5 of 10 (allow)`, expectRule: HIT_RULE, expectAction: 'pass',
    },
    {
      ...base, id: `xdp-firewall.${v}.syn.rule_miss_${MANY_RULES}`, kind: 'rule_miss_many', policy: 'many-rules', src: CLIENT[family], dport: MISS_PORT,
      description: `IPv${family} TCP SYN matching none of ${MANY_RULES.toLocaleString('en-US')} rules; default pass`, expectRule: null, expectAction: 'pass',
    },
    {
      ...base, id: `xdp-firewall.${v}.syn.lpm_hit_deny`, kind: 'lpm_hit_deny', policy: 'blocklist-deny', src: listedSource, dport: HIT_PORT,
      description: `IPv${family} TCP SYN from a listed host: ${n}-CIDR block list, deny (drop + event)`, expectRule: BLOCKLIST_RULE, expectAction: 'drop',
    },
    {
      ...base, id: `xdp-firewall.${v}.syn.lpm_hit_allow`, kind: 'lpm_hit_allow', policy: 'blocklist-allow', src: listedSource, dport: HIT_PORT,
      description: `IPv${family} TCP SYN from a listed host: ${n}-CIDR list, allow (no event)`, expectRule: BLOCKLIST_RULE, expectAction: 'pass',
    },
    {
      ...base, id: `xdp-firewall.${v}.syn.lpm_miss`, kind: 'lpm_miss', policy: 'blocklist-deny', src: CLIENT[family], dport: MISS_PORT,
      description: `IPv${family} TCP SYN not in the ${n}-CIDR block list, then 10 rules; default pass`, expectRule: null, expectAction: 'pass',
    },
  ];
}

/** Rules of the base policy (what the ring bench's records cycle over). */
export const BASE_RULE_COUNT = 10;

/** The ring bench's config: the base policy with the agent's ring of `ringSize` bytes, and
 * alerts to an EVE file at `evePath` only (rotation at the default size; enough rotated files
 * kept that the bench can read every line back). */
export function ringBenchYaml(ringSize: number, evePath: string): string {
  return (
    policyYaml('base', '').replace('agent:\n', `agent:\n  ring_buffer_size: ${ringSize}\n`) +
    `alerting:\n  eve: { enabled: true, path: ${JSON.stringify(evePath)}, keep: 1000 }\n  stdout: { enabled: false }\n`
  );
}
