// `ebpfsentinel demo`: builds the gateway lab, runs the real agent on the shipped demo policy
// inside the gateway, sends allowed and denied traffic in both address families, and prints what
// happened as the agent counted it. It doubles as a smoke test: the exit code is non-zero when
// the agent fails or when traffic did not meet the policy's expectations.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../config/index.js';
import { ApiClient } from '../demo/api-client.js';
import { AgentProcess } from '../demo/agent-process.js';
import { DEMO_POLICY, writeDemoConfig } from '../demo/config.js';
import { startApiForwarder, type ApiForwarder } from '../demo/forwarder.js';
import { countersTable, eventsLine, renderAlerts, ruleTable, stepRow, whereTable } from '../demo/report.js';
import { demoSteps, runStep, serverPorts, Servers, type StepResult } from '../demo/scenario.js';
import { runSynFloodStep } from '../demo/synflood.js';
import { buildGatewayLab, type GatewayLab } from '../lab/gateway.js';
import { missingTools } from '../lab/run.js';
import { REPO_ROOT } from '../version.js';

export interface DemoOptions {
  keep: boolean;
}

/** The agent's port inside the gateway namespace (always free there: the namespace is new). */
const AGENT_PORT = 8080;
const ALERT_LINES_SHOWN = 60;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

const say = (s = ''): void => {
  process.stdout.write(`${s}\n`);
};

function prerequisites(): string[] {
  const problems: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0) problems.push('the demo creates network namespaces and loads eBPF programs: run it as root');
  const missing = missingTools(['ip', 'socat', 'ping']);
  if (missing.length) problems.push(`missing tools: ${missing.join(', ')} (make demo installs them)`);
  for (const f of [path.join(REPO_ROOT, 'build', 'bpf', 'xdp_firewall.bpf.o'), path.join(REPO_ROOT, 'native', 'build', 'Release', 'sentinel.node')]) {
    if (!existsSync(f)) problems.push(`${path.relative(REPO_ROOT, f)} is not built: run make build (or make demo)`);
  }
  return problems;
}

/** Waits until every event the kernel submitted has been read and written out as an alert, so
 * the alert list printed is complete; gives up quietly after timeoutMs (the counts shown then
 * say what is missing). */
async function settleEvents(api: ApiClient, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = await api.metrics();
    const submitted = m.sum('ebpfsentinel_events_total');
    const received = m.sum('ebpfsentinel_events_received_total');
    const written = m.sum('ebpfsentinel_alerts_written_total', { sink: 'eve-file' });
    const lostInAgent = m.sum('ebpfsentinel_events_lost_total', { reason: 'queue_full' }) + m.sum('ebpfsentinel_events_lost_total', { reason: 'sink_error' }) + m.sum('ebpfsentinel_events_lost_total', { reason: 'decode_error' });
    if (received >= submitted && written + lostInAgent >= received) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function tail(text: string, lines = 20): string {
  return text
    .trim()
    .split('\n')
    .slice(-lines)
    .map((l) => `    ${l}`)
    .join('\n');
}

export async function demoCommand(opts: DemoOptions): Promise<number> {
  const problems = prerequisites();
  if (problems.length) {
    for (const p of problems) process.stderr.write(`ebpfsentinel demo: ${p}\n`);
    return 1;
  }

  // Another policy in place of config/demo.yaml: how the demo's own tests show that it fails
  // when traffic does not meet its expectations.
  const policy = path.resolve(process.env.EBPFSENTINEL_DEMO_POLICY ?? DEMO_POLICY);
  const runDir = await mkdtemp(path.join(tmpdir(), 'ebpfsentinel-demo-'));
  const files = {
    config: path.join(runDir, 'demo.yaml'),
    eve: path.join(runDir, 'eve.json'),
    agentLog: path.join(runDir, 'agent.log'),
  };
  const failures: string[] = [];
  let g: GatewayLab | null = null;
  let agent: AgentProcess | null = null;
  let fwd: ApiForwarder | null = null;
  let servers: Servers | null = null;
  let interrupted: NodeJS.Signals | null = null;
  let wakeKeep: (() => void) | null = null;

  // Runs before the lab's own signal handler (which deletes the namespaces at once): the agent
  // gets its SIGTERM first and detaches while its interface still exists.
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = sig;
    say(`\n${sig}: stopping the agent and tearing the lab down`);
    agent?.stopSync();
    wakeKeep?.();
  };
  for (const s of SIGNALS) process.prependListener(s, onSignal);

  try {
    say('ebpfsentinel demo');
    say(`  run directory   ${runDir}`);
    g = await buildGatewayLab();
    say(`  lab             ${g.prefix}: client ${g.client.ipv4} ${g.client.ipv6}, attacker ${g.attacker.ipv4} ${g.attacker.ipv6}`);
    say(`                  server ${g.server.ipv4} ${g.server.ipv6} behind gateway ${g.gw.ns}`);
    // The block list drops the attacker's neighbour solicitations too, so without this its IPv6
    // packets would stall in neighbour discovery and never reach the firewall as what they are.
    await g.lab.ip('attacker', 'neigh', 'replace', g.attacker.gateway6, 'lladdr', g.gw.outside.mac, 'dev', g.attacker.ifname, 'nud', 'permanent');
    say(`                  (the attacker has a static neighbour entry for ${g.attacker.gateway6}, so its IPv6 packets reach the firewall)`);

    let cfg;
    try {
      cfg = await writeDemoConfig({
        ...(policy !== DEMO_POLICY ? { template: policy } : {}),
        outPath: files.config,
        iface: g.gw.outside.ifname,
        pinRoot: `/sys/fs/bpf/ebpfsentinel-demo-${g.prefix}`,
        evePath: files.eve,
        dbPath: path.join(runDir, 'sentinel.db'),
        apiSocket: path.join(runDir, 'api.sock'),
        httpPort: AGENT_PORT,
      });
    } catch (e) {
      if (e instanceof ConfigError) throw new Error(`the demo policy does not load:\n${e.message}`);
      throw e;
    }
    const fw = cfg.config.firewall;
    say(`  policy          ${path.relative(process.cwd(), policy) || policy}: ${fw.rules.length} rules, default ${fw.default_policy}, mode ${fw.mode} -> ${files.config}`);

    agent = AgentProcess.start({ ns: g.gw.ns, configPath: files.config, logFile: files.agentLog });
    fwd = await startApiForwarder({ ns: g.gw.ns, targetPort: AGENT_PORT, preferredPort: AGENT_PORT });
    const api = new ApiClient(fwd.url);
    await api.waitReady(30_000, agent.process);
    const status = await api.status();
    const attach = status.programs.flatMap((p) => p.attachments.map((a) => `${p.name} on ${a.interface} (${a.hook} ${a.mode}${a.attached ? '' : ', NOT attached'})`));
    say(`  agent           pid ${agent.pid} in ${g.gw.ns}: ${attach.join('; ') || 'nothing attached'}`);
    say(`  API             ${fwd.url} (forwarded to 127.0.0.1:${AGENT_PORT} inside ${g.gw.ns})`);
    if (fwd.port !== AGENT_PORT) say(`                  (port ${AGENT_PORT} is taken on this host; using ${fwd.port})`);

    const steps = demoSteps();
    servers = await Servers.start(g, serverPorts(steps));
    say(`\nTraffic (servers on ${g.server.ipv4} and ${g.server.ipv6}: ${serverPorts(steps).map((p) => `${p.proto}/${p.port}`).join(' ')})`);
    const results: StepResult[] = [];
    for (const step of steps) {
      if (interrupted) break;
      const r = await runStep(g, servers, api, step);
      results.push(r);
      const row = stepRow(r);
      const mark = r.ok ? (r.ruleOk ? 'ok ' : 'ok?') : 'BAD';
      say(`  ${mark} ${row[0]!.padEnd(8)} ${row[1]} ${row[2]!.padEnd(20)} ${row[3]!.padEnd(34)} sender: ${row[4]}; server: ${row[5]} => ${row[6]}; ${row[7]}`);
      if (!r.ok) failures.push(`${step.from} ${step.kind}${step.port ? ` ${step.port}` : ''} IPv${step.family} was ${r.outcome}, expected ${step.expect}`);
    }
    if (interrupted) throw new Error(`interrupted by ${interrupted}`);

    await settleEvents(api, 3000);
    const m = await api.metrics();
    say('\nFirewall rules (counted by the agent since it started)');
    say(ruleTable(fw.rules, fw.default_policy, m));
    say('\nPackets');
    say(countersTable(m));
    say(eventsLine(m));

    const eveText = existsSync(files.eve) ? await readFile(files.eve, 'utf8') : '';
    const alerts = renderAlerts(eveText, ALERT_LINES_SHOWN);
    say(`\nAlerts (${alerts.count} EVE lines in ${files.eve})`);
    say(alerts.text);

    // SYN cookies protect the host the agent runs on, so this step brings its own small lab.
    const syn = await runSynFloodStep({ runDir, say });
    if (syn.served < syn.connections || syn.halfOpen > 0 || syn.cookiesSent === 0 || syn.kernelCookies > syn.cookiesSent / 100) {
      failures.push(`SYN flood: ${syn.served}/${syn.connections} connections served, ${syn.halfOpen} half-open sockets, ${syn.cookiesSent} cookies sent from XDP, ${syn.kernelCookies} by the kernel`);
    }

    const delivered = results.filter((r) => r.outcome === 'delivered').length;
    const blocked = results.filter((r) => r.outcome === 'blocked').length;
    const unexpectedRule = results.filter((r) => r.ok && !r.ruleOk);
    say(`\nSummary: ${results.length} attempts, ${delivered} delivered, ${blocked} blocked, ${results.filter((r) => !r.ok).length} not as the policy says`);
    if (unexpectedRule.length) {
      say(`  note: for ${unexpectedRule.length} attempt(s) the agent did not count the rule the demo expected (marked ok?)`);
    }
    say('\nWhere to look');
    say(whereTable({ apiUrl: fwd.url, eve: files.eve, agentLog: files.agentLog, config: files.config }));
    if (!opts.keep) say(`  the API (${fwd.url}) goes away with the demo; run \`ebpfsentinel demo --keep\` (or DEMO_KEEP=1 make demo) to explore it`);

    if (opts.keep && !interrupted) {
      say(`\nKept running (--keep / DEMO_KEEP=1). From this host:`);
      say(`  curl ${fwd.url}/api/v1/status`);
      say(`  curl ${fwd.url}/metrics`);
      say(`  tail -f ${files.eve}`);
      say(`  ip netns exec ${g.client.ns} ping ${g.server.ipv4}        # traffic from the client`);
      say(`  ip netns exec ${g.attacker.ns} ping ${g.server.ipv4}     # from the attacker (blocked)`);
      say('Press Ctrl-C to stop the agent and tear the lab down.');
      await new Promise<void>((resolve) => {
        wakeKeep = resolve;
        if (interrupted) resolve();
        if (agent) void agent.exited.then(() => resolve());
      });
      if (agent && !interrupted) failures.push('the agent exited on its own while the demo was kept running');
    }
  } catch (e) {
    // After a signal the lab is gone under our feet: what failed next is a consequence.
    failures.push(interrupted ? `interrupted by ${interrupted}` : (e as Error).message);
  } finally {
    say('\nTeardown');
    if (servers) await servers.stop().catch(() => undefined);
    if (agent) {
      const exit = await agent.stop();
      // The agent's own last word on it, rather than ours.
      const last = agent.output.trim().split('\n').filter((l) => /stopped/.test(l)).pop();
      if (exit.code === 0) say(`  agent exited 0${last ? `: ${last.trim()}` : ''}`);
      else {
        failures.push(`the agent exited with ${exit.code ?? exit.signal}`);
        say(`  agent exited with ${exit.code ?? exit.signal}; its last lines:\n${tail(agent.output)}`);
      }
    }
    if (fwd) await fwd.stop();
    if (g) {
      const rep = await g.destroy();
      if (rep.errors.length) failures.push(`lab teardown: ${rep.errors.join('; ')}`);
      else say(`  lab ${g.prefix} removed`);
    }
    for (const s of SIGNALS) process.removeListener(s, onSignal);
  }

  if (failures.length) {
    say(`\nDEMO FAILED`);
    for (const f of failures) say(`  - ${f}`);
    say(`  agent log: ${files.agentLog}`);
    return interrupted && failures.every((f) => f.startsWith('interrupted')) ? 130 : 1;
  }
  say(`\nDemo OK: the agent enforced the policy. Files kept in ${runDir}`);
  return 0;
}
