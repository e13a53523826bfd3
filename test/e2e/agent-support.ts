// Shared pieces of the agent e2e tests: the real agent started in a lab's gateway namespace
// with a test policy, its API reached through the host forwarder, EVE lines read back, a
// Community ID computed independently of the product's own code, and a bpffs mounted where the
// test can see the agent's pins (an `ip netns exec` command otherwise pins into a private /sys).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AgentProcess } from '../../src/demo/agent-process.js';
import { ApiClient } from '../../src/demo/api-client.js';
import { startApiForwarder, type ApiForwarder } from '../../src/demo/forwarder.js';
import type { MetricsSnapshot } from '../../src/demo/prom.js';
import type { GatewayLab } from '../../src/lab/gateway.js';
import { REPO_ROOT } from '../../src/version.js';
import { labPrerequisites } from '../support/env.js';

export const AGENT_PORT = 8080;

/** Root, the lab tools and the built agent; under CI=true a missing piece throws (fails). */
export function agentPrerequisites(): string | undefined {
  const why = labPrerequisites(['ip', 'ethtool', 'sysctl', 'ping', 'socat', 'tcpdump', 'python3', 'mount', 'umount']);
  if (why) return why;
  for (const f of ['build/bpf/xdp_firewall.bpf.o', 'native/build/Release/sentinel.node']) {
    if (!existsSync(path.join(REPO_ROOT, f))) {
      const reason = `${f} is not built (make build)`;
      if (process.env.CI === 'true') throw new Error(`CI=true and this test cannot run: ${reason}`);
      return reason;
    }
  }
  return undefined;
}

export async function eventually<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) assert.fail(`${what} did not happen within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A bpffs instance mounted in the root mount namespace under a fresh temp dir. */
export class SharedBpffs {
  private constructor(readonly dir: string) {}

  static mount(): SharedBpffs {
    const base = mkdtempSync(path.join(tmpdir(), 'esn-e2e-bpffs-'));
    const dir = path.join(base, 'bpf');
    mkdirSync(dir);
    execFileSync('mount', ['-t', 'bpf', 'bpf', dir]);
    return new SharedBpffs(dir);
  }

  /** Every file under p, relative, sorted (pins are files, directories are listed with a /). */
  list(p: string): string[] {
    const out: string[] = [];
    const walk = (d: string, rel: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          out.push(`${r}/`);
          walk(path.join(d, e.name), r);
        } else out.push(r);
      }
    };
    if (existsSync(p)) walk(p, '');
    return out.sort();
  }

  unmount(): void {
    try {
      execFileSync('umount', [this.dir]);
    } catch {
      execFileSync('umount', ['-l', this.dir]);
    }
    rmSync(path.dirname(this.dir), { recursive: true, force: true });
  }
}

export interface RunningAgent {
  agent: AgentProcess;
  api: ApiClient;
  forwarder: ApiForwarder;
  dir: string;
  configPath: string;
  /** the agent's API socket (root-only) */
  socketPath: string;
  evePath: string;
  pinRoot: string;
  /** SIGTERM and wait; returns the exit info. Stops the forwarder too. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Writes `yaml` (with @IFACE@, @PIN@, @EVE@ and @PORT@ substituted) to a temp dir and starts
 * the real agent on it inside the lab's gateway namespace; resolves once /readyz answers.
 */
/** Where an agent runs: the namespace and the interface @IFACE@ stands for (the gateway lab is one;
 * the router lab gives { gw: { ns: router ns, outside: { ifname: its WAN } } }). */
export interface AgentPlace {
  gw: { ns: string; outside: { ifname: string } };
}

export async function startAgent(g: AgentPlace, yaml: string, opts: { pinRoot: string; name?: string; extraArgs?: readonly string[] }): Promise<RunningAgent> {
  const dir = mkdtempSync(path.join(tmpdir(), `esn-e2e-${opts.name ?? 'agent'}-`));
  const configPath = path.join(dir, 'agent.yaml');
  const evePath = path.join(dir, 'eve.json');
  writeAgentConfig(g, yaml, { dir, configPath, evePath, pinRoot: opts.pinRoot });
  // The API socket lives with the run too (never /run/ebpfsentinel/api.sock, which a real agent
  // may hold); given on the command line, so it holds across the reloads of a file the test
  // rewrites.
  const socketPath = path.join(dir, 'api.sock');
  const agent = AgentProcess.start({ ns: g.gw.ns, configPath, logFile: path.join(dir, 'agent.log'), extraArgs: ['--api-socket', socketPath, ...(opts.extraArgs ?? [])] });
  let forwarder: ApiForwarder | null = null;
  try {
    forwarder = await startApiForwarder({ ns: g.gw.ns, targetPort: AGENT_PORT });
    const fwd = forwarder;
    const api = new ApiClient(fwd.url);
    await api.waitReady(30_000, agent.process);
    // --api-socket took effect: this run's socket, owner-only
    const sock = statSync(socketPath);
    assert.ok(sock.isSocket() && (sock.mode & 0o777) === 0o600, `${socketPath} is the agent's socket, mode 0600`);
    return {
      agent,
      api,
      forwarder: fwd,
      dir,
      configPath,
      socketPath,
      evePath,
      pinRoot: opts.pinRoot,
      stop: async () => {
        const r = await agent.stop();
        await fwd.stop();
        return r;
      },
    };
  } catch (e) {
    // Nothing of a failed start may outlive it (a live forwarder would also keep the test
    // process from exiting).
    await agent.stop(3000);
    await forwarder?.stop();
    throw e;
  }
}

/** `yaml` with @IFACE@, @PIN@, @EVE@ and @PORT@ substituted, written owner-only (a config
 * holding API keys is refused otherwise) to the agent's config path. */
function writeAgentConfig(g: AgentPlace, yaml: string, a: Pick<RunningAgent, 'dir' | 'configPath' | 'evePath' | 'pinRoot'>): void {
  let text = yaml.replaceAll('@IFACE@', g.gw.outside.ifname).replaceAll('@PIN@', a.pinRoot).replaceAll('@EVE@', a.evePath).replaceAll('@PORT@', String(AGENT_PORT));
  // A test's store lives with its run, never in the host's default /var/lib/ebpfsentinel.
  if (!/^storage:/m.test(text)) text += `storage:\n  path: ${path.join(a.dir, 'sentinel.db')}\n`;
  writeFileSync(a.configPath, text, { mode: 0o600 });
}

/** Rewrites the running agent's config (same substitutions as startAgent) and reloads it
 * through the API; fails unless the reload is accepted. */
export async function reloadAgent(g: AgentPlace, a: RunningAgent, yaml: string): Promise<void> {
  writeAgentConfig(g, yaml, a);
  const res = await fetch(`${a.api.baseUrl}/api/v1/config/reload`, { method: 'POST', signal: AbortSignal.timeout(30_000) });
  const body = (await res.json()) as { ok?: boolean };
  assert.equal(res.status, 200, `reload: ${JSON.stringify(body)}`);
  assert.equal(body.ok, true);
}

export interface EveRecord {
  timestamp: string;
  in_iface?: string;
  event_type: string;
  vlan?: number[];
  src_ip: string;
  src_port?: number;
  dest_ip: string;
  dest_port?: number;
  proto: string;
  icmp_type?: number;
  icmp_code?: number;
  community_id: string;
  alert: { action: string; signature: string; signature_id: number; severity: number; category: string };
  ebpfsentinel: { engine: string; program: string; rule_id: string; reason: string; packet_length?: number };
}

/** Every line of the EVE file, each checked to be a JSON object (a bad line fails the test). */
export function readEve(file: string): EveRecord[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  if (text !== '') assert.ok(text.endsWith('\n'), 'EVE file ends with a complete line');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l, i) => {
      let v: unknown;
      try {
        v = JSON.parse(l);
      } catch (e) {
        assert.fail(`EVE line ${i + 1} is not JSON (${(e as Error).message}): ${l.slice(0, 200)}`);
      }
      assert.equal(typeof v, 'object', `EVE line ${i + 1} is an object`);
      return v as EveRecord;
    });
}

/** Waits until the EVE file holds at least `n` records matching `pred`; returns them. */
export async function waitForEve(file: string, pred: (r: EveRecord) => boolean, n: number, timeoutMs = 5000): Promise<EveRecord[]> {
  return eventually(
    () => {
      const got = readEve(file).filter(pred);
      return got.length >= n ? got : undefined;
    },
    timeoutMs,
    `${n} matching EVE line(s) in ${file}`,
  );
}

function addrBytes(ip: string): Buffer {
  const fam = isIP(ip);
  if (fam === 4) return Buffer.from(ip.split('.').map(Number));
  assert.equal(fam, 6, `${ip} is an IP address`);
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(Number.parseInt(g, 16), i * 2));
  return b;
}

// Echo request/reply pairs (and ND) are two-way in the Community ID spec: the "destination port"
// of the request is the type of its answer.
const ICMP_COUNTERPART: Record<number, Record<number, number>> = {
  1: { 8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17, 10: 9, 9: 10 },
  58: { 128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 131: 130 },
};

/**
 * Community ID v1 (https://github.com/corelight/community-id-spec), written from the spec for
 * the tests so that the agent's own implementation is checked, not reused.
 */
export function communityIdV1(srcIp: string, dstIp: string, proto: number, sport: number, dport: number, seed = 0): string {
  let s = addrBytes(srcIp);
  let d = addrBytes(dstIp);
  let sp = sport;
  let dp = dport;
  let oneWay = false;
  if (proto === 1 || proto === 58) {
    const cp = ICMP_COUNTERPART[proto]![sport];
    if (cp === undefined) oneWay = true;
    else dp = cp;
  }
  const cmp = Buffer.compare(s, d);
  if (!oneWay && (cmp > 0 || (cmp === 0 && sp > dp))) {
    [s, d] = [d, s];
    [sp, dp] = [dp, sp];
  }
  const h = createHash('sha1');
  const u16 = (v: number): Buffer => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return b;
  };
  h.update(u16(seed));
  h.update(s);
  h.update(d);
  h.update(Buffer.from([proto, 0]));
  h.update(u16(sp));
  h.update(u16(dp));
  return `1:${h.digest('base64')}`;
}

/** What `ip -d link show` in the namespace reports about XDP on the device. */
export async function xdpState(g: GatewayLab, host: string, ifname: string): Promise<{ flag: 'xdp' | 'xdpgeneric' | 'xdpdrv' | null; progLine: string | null }> {
  const r = await g.lab.ip(host, '-d', 'link', 'show', ifname);
  const flag = /\s(xdpgeneric|xdpdrv|xdpoffload|xdp)\s/.exec(r.stdout.split('\n')[0] ?? '')?.[1] ?? null;
  const progLine = r.stdout.split('\n').find((l) => /prog\/xdp/.test(l))?.trim() ?? null;
  return { flag: flag as 'xdp' | 'xdpgeneric' | 'xdpdrv' | null, progLine };
}

/** Per-interface packet counters of xdp-firewall. */
export function fwCounters(m: MetricsSnapshot, ifname: string): { seen: number; passed: number; dropped: number } {
  const l = { program: 'xdp-firewall', interface: ifname };
  return {
    seen: m.value('ebpfsentinel_packets_seen_total', l),
    passed: m.value('ebpfsentinel_packets_passed_total', l),
    dropped: m.value('ebpfsentinel_packets_dropped_total', l),
  };
}

export function ruleHits(m: MetricsSnapshot, id: string): number {
  return m.value('ebpfsentinel_firewall_rule_hits_total', { rule_id: id });
}

export function defaultPolicyHits(m: MetricsSnapshot, ifname: string): number {
  return m.value('ebpfsentinel_program_reasons_total', { program: 'xdp-firewall', interface: ifname, counter: 'default_policy' });
}
