// Policy -> kernel rows for xdp-ratelimit, without a kernel (unit-testable). Every limit becomes
// a GCRA meter: interval = 1e9 / rate ns, tolerance = (burst - 1) * interval ns (ratelimit.h).
import type { Cidr } from '../../net/ip.js';
import { protocolNumber, type DdosConfig, type RatelimitConfig, type RatelimitRuleConfig } from './schema.js';
import { RL_PATH, type CookiePath } from './syncookie-path.js';
import { rl_action, rl_cookie_mode, rl_limits, rl_match, rl_scope } from '../../kernel/contract.gen.js';

export interface Limit {
  intervalNs: bigint;
  toleranceNs: bigint;
}

export const NO_LIMIT: Limit = { intervalNs: 0n, toleranceNs: 0n };

/** GCRA parameters of `rate` packets/s with bursts of `burst` packets. */
export function limitOf(rate: number, burst: number): Limit {
  if (rate <= 0) return NO_LIMIT;
  const intervalNs = BigInt(Math.max(1, Math.round(1e9 / rate)));
  return { intervalNs, toleranceNs: intervalNs * BigInt(Math.max(0, burst - 1)) };
}

export interface RuleRow {
  ruleId: string;
  ruleNum: number;
  family: 4 | 6;
  /** 16 bytes, masked */
  addr: Buffer;
  mask: Buffer;
  limit: Limit;
  proto: number | null;
  dportLo: number;
  dportHi: number;
  action: number;
  scope: number;
  match: number;
}

export interface GenHeader {
  sampleEvery: number;
  dflt: Limit;
  synAgg: Limit;
  synSrc: Limit;
  udpAgg: Limit;
  udpSrc: Limit;
  icmpAgg: Limit;
  icmpSrc: Limit;
  cookieThreshold: Limit;
  cookieMode: number;
  /** RL_PATH (syncookie-path.ts) while cookies are on, else 0 */
  cookiePath: number;
}

export interface CompiledRatelimit {
  rows: RuleRow[];
  header: GenHeader;
  housekeeping: { maxIdleNs: bigint; periodNs: bigint };
  /** SYN cookies on: the engine sets up their path (syncookie-path.ts) before the flip */
  synCookies: boolean;
}

const ANY4 = { family: 4 as const, addr: Buffer.alloc(16), prefix: 0 };
const ANY6 = { family: 6 as const, addr: Buffer.alloc(16), prefix: 0 };

function maskOf(prefix: number): Buffer {
  const m = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    m[i] = bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return m;
}

/** Rules in evaluation order: by priority, then the ones without one in list order. */
export function orderedRules(rules: readonly RatelimitRuleConfig[]): RatelimitRuleConfig[] {
  const withP = rules.filter((r) => r.priority !== undefined).sort((a, b) => a.priority! - b.priority!);
  return [...withP, ...rules.filter((r) => r.priority === undefined)];
}

/** Row rule numbers here are positions in the ordered, enabled list, from 1 (0 = no rule); the
 * kernel writer replaces them with the rules' stable numbers (RatelimitKernel.numbers). */
export function compileRatelimit(rl: RatelimitConfig, ddos: DdosConfig, cookiePath: CookiePath = 'agent'): CompiledRatelimit {
  const rows: RuleRow[] = [];
  const rlOn = rl.enabled;
  const rules = rlOn ? orderedRules(rl.rules).filter((r) => r.enabled) : [];
  rules.forEach((r, i) => {
    const ruleNum = i + 1;
    const nets: Array<Pick<Cidr, 'family' | 'addr' | 'prefix'>> = r.src_ip ?? [ANY4, ANY6];
    const proto = protocolNumber(r.protocol);
    for (const net of nets) {
      // icmp only exists in IPv4 and icmpv6 only in IPv6: such a row could never match.
      if ((proto === 1 && net.family === 6) || (proto === 58 && net.family === 4)) continue;
      rows.push({
        ruleId: r.id,
        ruleNum,
        family: net.family,
        addr: Buffer.from(net.addr),
        mask: maskOf(net.prefix),
        limit: limitOf(r.rate, r.burst ?? r.rate),
        proto,
        dportLo: r.dst_port?.lo ?? 0,
        dportHi: r.dst_port?.hi ?? 0,
        action: r.action === 'pass' ? rl_action.RL_ACT_PASS : rl_action.RL_ACT_DROP,
        scope: r.per === 'rule' ? rl_scope.RL_SCOPE_RULE : rl_scope.RL_SCOPE_SOURCE,
        match: rl_match.RL_M_SRC | (proto !== null ? rl_match.RL_M_PROTO : 0) | (r.dst_port ? rl_match.RL_M_DPORT : 0),
      });
    }
  });
  if (rows.length > rl_limits.RL_MAX_RULES) throw new Error(`ratelimit.rules: ${rows.length} kernel rows, the limit is ${rl_limits.RL_MAX_RULES}`);

  const d = ddos.enabled ? ddos : null;
  const guard = (g: DdosConfig['udp_protection'] | undefined): [Limit, Limit] =>
    g && g.enabled ? [limitOf(g.max_pps, g.max_pps), limitOf(g.per_source_pps, g.per_source_pps)] : [NO_LIMIT, NO_LIMIT];
  const [synAgg, synSrc] = guard(d?.syn_flood);
  const [udpAgg, udpSrc] = guard(d?.udp_protection);
  const [icmpAgg, icmpSrc] = guard(d?.icmp_protection);
  const syn = d?.syn_protection;
  const cookieMode = !syn?.enabled ? rl_cookie_mode.RL_COOKIE_OFF : syn.threshold_mode ? rl_cookie_mode.RL_COOKIE_THRESHOLD : rl_cookie_mode.RL_COOKIE_ALWAYS;
  // Threshold mode measures the SYN rate over a 100 ms window: a burst allowance of a tenth of
  // a second of SYNs, so cookies start within 100 ms of the rate crossing the threshold.
  const cookieThreshold = syn?.enabled && syn.threshold_mode ? limitOf(syn.threshold_pps, Math.max(1, Math.ceil(syn.threshold_pps / 10))) : NO_LIMIT;

  const dfltRate = rlOn ? rl.default_rate : 0;
  return {
    rows,
    header: {
      sampleEvery: rl.event_sample_every,
      dflt: limitOf(dfltRate, rl.default_burst ?? dfltRate),
      synAgg,
      synSrc,
      udpAgg,
      udpSrc,
      icmpAgg,
      icmpSrc,
      cookieThreshold,
      cookieMode,
      cookiePath: cookieMode === rl_cookie_mode.RL_COOKIE_OFF ? 0 : RL_PATH[cookiePath],
    },
    housekeeping: {
      maxIdleNs: BigInt(rl.bucket_idle_timeout_secs) * 1_000_000_000n,
      periodNs: BigInt(rl.housekeeping_interval_secs) * 1_000_000_000n,
    },
    synCookies: cookieMode !== rl_cookie_mode.RL_COOKIE_OFF,
  };
}
