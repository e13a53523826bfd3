// Issue 3 point 6 for the rate limiter: a `ratelimit` policy reload under continuous traffic never
// exposes an empty or mixed rule set. The real agent runs on the gateway lab with xdp-ratelimit
// attached on its own (firewall disabled: only the rate limiter's generation flip is under test;
// its policy is the same whether it is tail-called or attached); its config alternates between policies A and B and is
// reloaded 100 times (API, SIGHUP and the file watch, in turn) while the client sends rounds of
// numbered UDP datagrams — BURST per port per family — and the server records every one.
//
// Each policy opens one marker port and holds the other and a guard port to 1 packet/s (burst 1),
// so a limited port delivers at most one datagram of a round (two if a flip falls inside its
// burst: one from each generation's bucket):
//   port 7100 "A"      A: open        B: limited
//   port 7101 "B"      A: limited     B: open
//   port 7102 "guard"  limited in A and in B, ahead of a broad open range (7100-7102): an empty
//                      set (no rules, no default limit) or a set holding the range but not the
//                      guard rule delivers the whole burst
// A round is A (7100 open, 7101 limited) or B (the reverse). A set holding both opens or both
// limits shows as a round with both markers open or both limited inside a phase; only the one
// round a flip lands in may look like that, and only in the direction of that flip.
//
// Every rule names its sources as a CIDR list that changes on every reload (issue 14 point 7):
// the client under another prefix each time, among decoys that move too, so each generation's
// rows differ from the last; a packet judged by a generation whose rows were being rewritten
// would miss its guard (the whole burst delivered) or its open rule.
//
// Buckets are keyed by source and the rule's stable number (src/engines/rule-numbers.ts), not by
// its position: the fillers moving a rule do not move its bucket. A and B share no rule, and a
// rule that leaves the policy gives up its number for good, so each flip meets the new policy's
// limited rules with fresh buckets. The test relies only on a limited rule admitting at most one
// datagram per bucket per round (its tolerance is 0), hence at most two in the round a flip lands
// in (LIMITED_MAX).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildGatewayLab, type GatewayLab } from '../../src/lab/gateway.js';
import { agentPrerequisites, eventually, SharedBpffs, startAgent, type RunningAgent } from './agent-support.js';
import { TRAFFIC_AGENT_YAML, collectRounds, latestCounts, movingCidrs, rcvbufErrors, RECEIVER_PY, rotateReloads, SENDER_PY, staticNeighbours, TRIGGERS } from './reload-traffic-support.js';

const skip = agentPrerequisites();

const RELOADS = 100;
const BURST = 8;
const PORT = { a: 7100, b: 7101, guard: 7102 } as const;
const PORTS = [PORT.a, PORT.b, PORT.guard];
/** most datagrams a limited port may deliver in one round (one per generation's bucket) */
const LIMITED_MAX = 2;

const HEAD = `
${TRAFFIC_AGENT_YAML}firewall:
  enabled: false
`;

/** The source list of reload i (the client under another prefix each time, and decoys). */
const sources = (i: number): string => `[${movingCidrs(i, i, 8).map((c) => `"${c}"`).join(', ')}]`;

const limited = (id: string, prio: number, port: number | string, src: string): string =>
  `    - { id: ${id}, priority: ${prio}, protocol: udp, dst_port: "${port}", src_ip: ${src}, rate: 1, burst: 1, action: drop }\n`;

// Reload i installs A or B behind i % 3 filler rules (never matching): the generation being
// written held the same policy two reloads earlier, so the fillers make its content and rule
// positions differ every time, and so do the source lists. A's open range is a monitor-only rule
// (over-limit packets pass); B's is a limit so high it never trips — both kinds of "open" are
// exercised.
function policy(which: 'A' | 'B', fillers: number, reload: number): string {
  const fill = Array.from({ length: fillers }, (_, j) => `    - { id: filler-${j}, priority: ${1 + j}, protocol: udp, dst_port: ${9900 + j}, rate: 1, burst: 1 }\n`).join('');
  const range = `${PORT.a}-${PORT.guard}`;
  const src = sources(reload);
  const rules =
    which === 'A'
      ? limited('a-guard', 10, PORT.guard, src) +
        limited('a-hold-b', 20, PORT.b, src) +
        `    - { id: a-open, priority: 30, protocol: udp, dst_port: "${range}", src_ip: ${src}, rate: 1, burst: 1, action: pass }\n`
      : limited('b-hold-a', 12, PORT.a, src) +
        limited('b-guard', 14, PORT.guard, src) +
        `    - { id: b-open, priority: 24, protocol: udp, dst_port: "${range}", src_ip: ${src}, rate: 1000000, burst: 100000000 }\n`;
  return `${HEAD}ratelimit:\n  enabled: true\n  event_sample_every: 1000000\n  rules:\n${fill}${rules}`;
}


type PortFate = 'open' | 'limited' | 'partial';
/** The fate of one port in one round, from how many of its BURST datagrams arrived. */
const fate = (n: number): PortFate => (n === BURST ? 'open' : n <= LIMITED_MAX ? 'limited' : 'partial');

/**
 * Classifies every round of one family. Clean rounds are A or B; a flip lands in one round,
 * which may then show the markers of both (A→B: the A port is sent first, so it may still be open
 * when the B port already is) or of neither (B→A). Returns the phases seen and every round no
 * single flip explains.
 */
function classifyRounds(rounds: number, count: (port: number, round: number) => number): { phases: Array<'A' | 'B'>; bad: string[]; first: string } {
  const cls: string[] = [];
  const bad: string[] = [];
  for (let r = 0; r < rounds; r++) {
    const a = fate(count(PORT.a, r));
    const b = fate(count(PORT.b, r));
    const gcount = count(PORT.guard, r);
    if (gcount > LIMITED_MAX) bad.push(`round ${r}: guard port delivered ${gcount} of ${BURST} (empty or partial set)`);
    cls.push(a === 'open' && b === 'limited' ? 'A' : a === 'limited' && b === 'open' ? 'B' : `${a}/${b}`);
  }
  const phases: Array<'A' | 'B'> = [];
  let pending: { r: number; c: string } | null = null;
  for (let r = 0; r < rounds; r++) {
    const c = cls[r]!;
    if (c === 'A' || c === 'B') {
      const prev = phases[phases.length - 1];
      if (pending) {
        const [pa, pb] = pending.c.split('/') as [PortFate, PortFate];
        // Ports are sent A, B, guard: a flip inside the round leaves the A and B ports open or
        // partial (A→B), or limited or partial (B→A); never both partial.
        const aToB = prev === 'A' && c === 'B' && pa !== 'limited' && pb !== 'limited' && !(pa === 'partial' && pb === 'partial');
        const bToA = prev === 'B' && c === 'A' && pa !== 'open' && pb !== 'open' && !(pa === 'partial' && pb === 'partial');
        if (!aToB && !bToA) bad.push(`round ${pending.r}: ${pending.c} between ${prev ?? 'start'} and ${c}`);
        pending = null;
      }
      if (c !== prev) phases.push(c);
    } else if (pending) {
      bad.push(`round ${r}: ${c} right after another unexplained round ${pending.r} (${pending.c})`);
    } else {
      pending = { r, c };
    }
  }
  if (pending) bad.push(`round ${pending.r}: ${pending.c} at the end`);
  return { phases, bad, first: cls[0] ?? 'none' };
}

describe('atomic rate-limit reloads under traffic (gateway lab, real agent)', { skip: skip ?? false }, () => { // process.env.CI: agentPrerequisites() throws instead of skipping
  let g: GatewayLab;
  let bpffs: SharedBpffs;
  let a: RunningAgent;

  before(async () => {
    bpffs = SharedBpffs.mount();
    g = await buildGatewayLab();
    a = await startAgent(g, policy('A', 0, 0), { pinRoot: `${bpffs.dir}/esn-rl-reload`, name: 'rl-reload' });
    await staticNeighbours(g);
  });

  after(async () => {
    if (a) await a.stop();
    await g?.destroy();
    bpffs?.unmount();
  });

  test(`${RELOADS} ratelimit reloads A⇄B while traffic flows: every round judged by A or B in full (IPv4, IPv6)`, { timeout: 600_000 }, async (t) => {
    const configText = (p: 'A' | 'B', fillers: number, reload = 0): string =>
      policy(p, fillers, reload).replaceAll('@IFACE@', g.gw.outside.ifname).replaceAll('@PIN@', a.pinRoot).replaceAll('@PORT@', String(8080));
    assert.equal(readFileSync(a.configPath, 'utf8').startsWith(configText('A', 0)), true, 'the agent started on policy A');
    const status = await a.api.status();
    assert.ok(status.programs.some((p) => p.name === 'xdp-ratelimit' && p.loaded), 'xdp-ratelimit is loaded');

    const rbErr0 = await rcvbufErrors(g, 'server');
    const jsonOut = path.join(g.lab.tmpDir, 'rl-reload-received.json');
    const rx = g.lab.spawn('server', 'python3', ['-c', RECEIVER_PY, jsonOut, PORTS.join(','), String(BURST), '0.004']);
    await rx.waitFor(/receiving/, 5000);
    const tx = g.lab.spawn('client', 'python3', ['-c', SENDER_PY, g.server.ipv4, g.server.ipv6, PORTS.join(','), String(BURST), '0.004']);
    await tx.waitFor(/sending/, 5000);

    // A reload is done once the new policy's open port has delivered more than its limit could
    // ever let through in the wait (1 per second), in both families.
    const confirm = async (live: 'A' | 'B', what: string): Promise<void> => {
      const port = live === 'A' ? PORT.a : PORT.b;
      const base = latestCounts(rx);
      await eventually(() => {
        const now = latestCounts(rx);
        return [4, 6].every((f) => (now.get(`${f}/${port}`) ?? 0) - (base.get(`${f}/${port}`) ?? 0) >= 5 * BURST);
      }, 20_000, `${what}: port ${port} (open only in policy ${live}) delivering whole bursts in IPv4 and IPv6`);
    };

    await confirm('A', 'start');
    const triggers = await rotateReloads(a, RELOADS, configText, confirm);
    const { rounds, got } = await collectRounds(g, tx, rx, jsonOut, rbErr0);

    const summary: string[] = [];
    for (const fam of [4, 6] as const) {
      const perRound = new Map<number, Uint16Array>();
      for (const p of PORTS) {
        const c = new Uint16Array(rounds);
        for (const r of got[`${fam}/${p}`] ?? []) {
          assert.ok(r >= 0 && r < rounds, `IPv${fam} port ${p}: round ${r} was sent`);
          c[r]!++;
        }
        perRound.set(p, c);
      }
      const { phases, bad, first } = classifyRounds(rounds, (p, r) => perRound.get(p)![r]!);
      assert.deepEqual(bad.slice(0, 10), [], `IPv${fam}: ${bad.length} rounds judged by neither A nor B in full`);
      assert.equal(first, 'A', `IPv${fam}: the first round was judged by A`);
      assert.equal(phases.length, RELOADS + 1, `IPv${fam}: policy phases seen in the traffic`);
      const nA = phases.filter((p) => p === 'A').length;
      const nB = phases.length - nA;
      assert.ok(nA >= 40 && nB >= 40, `IPv${fam}: both phases observed at least 40 times (A ${nA}, B ${nB})`);
      const limitedPassed = PORTS.map((p) => `${p}:${(got[`${fam}/${p}`] ?? []).length}`).join(' ');
      summary.push(`IPv${fam}: ${phases.length} phases (A ${nA}, B ${nB}), delivered per port ${limitedPassed}`);
    }
    assert.deepEqual(triggers, { api: 34, signal: 33, file: 33 });
    const m = await a.api.metrics();
    const dropRule = m.value('ebpfsentinel_program_reasons_total', { program: 'xdp-ratelimit', interface: g.gw.outside.ifname, counter: 'drop_rule' });
    assert.ok(dropRule > 0, 'the limited ports were dropped by rule (counted)');
    for (const trigger of TRIGGERS) assert.equal(m.value('ebpfsentinel_config_reloads_total', { trigger, outcome: 'failure' }), 0, `no ${trigger} reload was rejected`);
    // Packets let through after a meter's CAS retries ran out are exported and in status.
    const casMetric = m.get('ebpfsentinel_ratelimit_stats_total', { stat: 'cas_exhausted' });
    assert.equal(typeof casMetric, 'number', 'ebpfsentinel_ratelimit_stats_total{stat="cas_exhausted"} is exported');
    const rlStats = (await a.api.status()).programs.find((p) => p.name === 'xdp-ratelimit')?.stats;
    assert.equal(typeof rlStats?.cas_exhausted, 'number', 'status shows xdp-ratelimit\'s cas_exhausted');
    assert.ok(rlStats!.cas_exhausted! >= casMetric!, 'status (read after the scrape) counts at least what the metric did');
    t.diagnostic(`${RELOADS} reloads (${JSON.stringify(triggers)}), ${rounds} rounds × ${PORTS.length} ports × ${BURST} × 2 families; ${summary.join('; ')}; drop_rule ${dropRule}; cas_exhausted ${casMetric}`);
  });
});
