// What the traffic tests on the gateway lab share (atomic reloads, fail-static): the agent
// settings they start from, static neighbours, a UDP receiver that records which round of the
// sender each datagram belongs to, per family and port, and the counters that prove no datagram
// was lost outside the policy under test.
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { GatewayLab } from '../../src/lab/gateway.js';
import type { LabProcess } from '../../src/lab/process.js';
import { eventually, type RunningAgent } from './agent-support.js';

/** The agent section of their configs (@IFACE@, @PIN@, @PORT@ as startAgent fills them): the
 * API open on the lab's port without a rate limit, counters read every 200 ms. */
export const TRAFFIC_AGENT_YAML = `agent:
  interfaces: [@IFACE@]
  pin_root: @PIN@
  http_port: @PORT@
  allow_unauthenticated_api: true
  metrics_interval_ms: 200
  api_rate_limit: { enabled: false }
`;

/** Static neighbours on the client → gateway → server path: no ARP/ND exchange can delay or
 * lose a datagram, so a missing one was judged by the programs. */
export async function staticNeighbours(g: GatewayLab): Promise<void> {
  await g.lab.ip('client', 'neigh', 'replace', g.client.gateway4, 'lladdr', g.gw.outside.mac, 'dev', g.client.ifname, 'nud', 'permanent');
  await g.lab.ip('client', 'neigh', 'replace', g.client.gateway6, 'lladdr', g.gw.outside.mac, 'dev', g.client.ifname, 'nud', 'permanent');
  await g.lab.ip('gw', 'neigh', 'replace', g.server.ipv4, 'lladdr', g.server.mac, 'dev', g.gw.inside.ifname, 'nud', 'permanent');
  await g.lab.ip('gw', 'neigh', 'replace', g.server.ipv6, 'lladdr', g.server.mac, 'dev', g.gw.inside.ifname, 'nud', 'permanent');
}

// Sends rounds until SIGTERM: `burst` datagrams per port and family (payload = round number),
// then sleeps `pause` seconds; a round is always sent whole, and the count of rounds is printed
// last. Arguments: dst4 dst6 ports(comma-separated) burst pause.
export const SENDER_PY = `
import signal, socket, sys, time
dst4, dst6, ports, burst, pause = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3].split(',')], int(sys.argv[4]), float(sys.argv[5])
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
print('sending', flush=True)
r = 0
while not stop:
    b = str(r).encode()
    for p in ports:
        for _ in range(burst):
            s4.sendto(b, (dst4, p))
            s6.sendto(b, (dst6, p))
    r += 1
    time.sleep(pause)
print('rounds %d' % r, flush=True)
`;

// Records the round number of every datagram per family/port; prints running counts so the
// test can follow the live policy, and on SIGTERM writes every round received as JSON.
export const RECEIVER_PY = `
import json, select, signal, socket, sys, time
out, ports = sys.argv[1], [int(p) for p in sys.argv[2].split(',')]
socks, got = {}, {}
for fam in (4, 6):
    for p in ports:
        s = socket.socket(socket.AF_INET if fam == 4 else socket.AF_INET6, socket.SOCK_DGRAM)
        if fam == 6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE: no loss in our own socket
        s.bind(('0.0.0.0' if fam == 4 else '::', p))
        s.setblocking(False)
        key = '%d/%d' % (fam, p)
        socks[s.fileno()] = (s, key)
        got[key] = []
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
def drain(fds):
    for fd in fds:
        s, key = socks[fd]
        while True:
            try:
                d = s.recv(64)
            except BlockingIOError:
                break
            got[key].append(int(d))
print('receiving', flush=True)
last = 0.0
while not stop:
    r, _, _ = select.select(list(socks), [], [], 0.02)
    drain(r)
    now = time.monotonic()
    if now - last >= 0.02:
        print('counts ' + ' '.join('%s=%d' % (k, len(v)) for k, v in got.items()), flush=True)
        last = now
drain(list(socks))
with open(out, 'w') as f:
    json.dump(got, f)
print('written', flush=True)
`;

/** UDP receive-buffer errors of a namespace (IPv4 and IPv6): a datagram lost there is not the
 * firewall's doing, so the test insists there are none. */
export async function rcvbufErrors(g: GatewayLab, host: string): Promise<number> {
  const snmp = (await g.lab.exec(host, 'cat', ['/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const names = snmp[0]!.split(/\s+/);
  const vals = snmp[1]!.split(/\s+/);
  const v4 = Number(vals[names.indexOf('RcvbufErrors')]);
  const snmp6 = (await g.lab.exec(host, 'cat', ['/proc/net/snmp6'])).stdout;
  const v6 = Number(/Udp6RcvbufErrors\s+(\d+)/.exec(snmp6)?.[1] ?? 'NaN');
  return v4 + v6;
}

export function latestCounts(rx: LabProcess): Map<string, number> {
  const out = rx.stdout;
  const i = out.lastIndexOf('counts ');
  const m = new Map<string, number>();
  if (i < 0) return m;
  const line = out.slice(i + 7, out.indexOf('\n', i) < 0 ? undefined : out.indexOf('\n', i));
  for (const kv of line.trim().split(' ')) {
    const [k, v] = kv.split('=');
    if (k && v !== undefined) m.set(k, Number(v));
  }
  return m;
}

/** The gateway lab's client (198.18.0.10, 2001:db8::10) under four prefixes, IPv4 and IPv6. */
const CLIENT_FORMS = [
  ['198.18.0.10/32', '2001:db8::10/128'],
  ['198.18.0.8/29', '2001:db8::10/124'],
  ['198.18.0.0/24', '2001:db8::/64'],
  ['198.18.0.0/16', '2001:db8::/48'],
] as const;

/** CIDRs that move with `seed`: `n` × 3 decoys (a /24 and a host in 198.19.0.0/16, a /64 in
 * 2001:db8:ff00::/40), none of them a lab host's. */
export function decoyCidrs(seed: number, n: number): string[] {
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    const m = (seed * 41 + k) % 250;
    out.push(`198.19.${m}.0/24`, `198.19.${(m + 3) % 256}.${k % 256}/32`, `2001:db8:ff${(m % 100).toString().padStart(2, '0')}:${k.toString(16)}::/64`);
  }
  return out;
}

/** A CIDR list that differs with `seed`: the client under prefix form `form` (of four) among
 * decoyCidrs(seed, decoys). Block lists and source lists of the reload tests are made of it, so
 * every reload writes set entries or rule rows of its own. */
export function movingCidrs(seed: number, form: number, decoys: number): string[] {
  return [...CLIENT_FORMS[form % CLIENT_FORMS.length]!, ...decoyCidrs(seed, decoys)];
}

export const TRIGGERS = ['api', 'signal', 'file'] as const;
export type ReloadTrigger = (typeof TRIGGERS)[number];
export type Policy = 'A' | 'B';

/** Writes a file aside and renames it into place: a reader never sees half of it. */
export function writeWhole(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/**
 * Reloads the running agent `count` times, alternating B, A, B, ... (`configText(policy, i % 3,
 * i)` written aside and renamed into place, so the file watcher never reads half a file), through
 * the API, SIGHUP and the file watch in turn. `sideFiles(policy, i)` (alias lists, named
 * relative to the config's folder, or absolute) are written the same way just before the config. Each reload
 * is followed through the agent's own counter (ebpfsentinel_config_reloads_total), must be
 * accepted, and is confirmed by `confirm(policy)` seeing the new policy in the traffic. Returns
 * the reloads per trigger.
 */
export async function rotateReloads(
  a: RunningAgent,
  count: number,
  configText: (policy: Policy, fillers: number, reload: number) => string,
  confirm: (policy: Policy, what: string) => Promise<void>,
  sideFiles: (policy: Policy, reload: number) => Record<string, string> = () => ({}),
): Promise<Record<ReloadTrigger, number>> {
  const reloads = async (): Promise<{ ok: number; failed: number }> => {
    const m = await a.api.metrics();
    const sum = (outcome: string): number => TRIGGERS.reduce((n, trigger) => n + m.value('ebpfsentinel_config_reloads_total', { trigger, outcome }), 0);
    return { ok: sum('success'), failed: sum('failure') };
  };
  let seen = await reloads();
  const triggers = { api: 0, signal: 0, file: 0 };
  for (let i = 1; i <= count; i++) {
    const next: Policy = i % 2 === 1 ? 'B' : 'A';
    for (const [name, text] of Object.entries(sideFiles(next, i))) writeWhole(path.resolve(path.dirname(a.configPath), name), text);
    writeWhole(a.configPath, configText(next, i % 3, i));
    const prev = seen;
    const how = TRIGGERS[(i - 1) % TRIGGERS.length]!;
    triggers[how]++;
    if (how === 'api') {
      const res = await fetch(`${a.api.baseUrl}/api/v1/config/reload`, { method: 'POST', signal: AbortSignal.timeout(30_000) });
      const body = (await res.json()) as { ok?: boolean };
      assert.equal(res.status, 200, `reload ${i} through the API: ${JSON.stringify(body)}`);
      assert.equal(body.ok, true);
    } else if (how === 'signal') {
      process.kill(a.agent.pid, 'SIGHUP');
    } // 'file': the rename alone; the agent's config watcher reloads
    const done = await eventually(async () => {
      const now = await reloads();
      return now.ok + now.failed > prev.ok + prev.failed ? now : undefined;
    }, 20_000, `reload ${i} (${how})`);
    assert.equal(done.failed, prev.failed, `reload ${i} was rejected: ${a.agent.process.stderr.slice(-1500)}`);
    await confirm(next, `reload ${i} (to ${next})`);
    // A watcher event for the same write may land after the reload above; the next reload is
    // told apart from it by counting from here.
    seen = await reloads();
  }
  return triggers;
}

/** Stops the sender and then the receiver, and returns what the receiver recorded: every round
 * received per "family/port", and how many rounds were sent. No datagram may have been lost in
 * a receive buffer since `rcvbufErrorsBefore`. */
export async function collectRounds(
  g: GatewayLab,
  tx: LabProcess,
  rx: LabProcess,
  jsonOut: string,
  rcvbufErrorsBefore: number,
): Promise<{ rounds: number; got: Record<string, number[]> }> {
  await tx.stop('SIGTERM', 5000);
  const rounds = Number(/rounds (\d+)/.exec(tx.stdout)?.[1]);
  assert.ok(Number.isInteger(rounds) && rounds > 0, `the sender reported its rounds: ${tx.stdout.slice(-200)} ${tx.stderr.slice(-500)}`);
  await new Promise((r) => setTimeout(r, 500)); // the last datagrams cross the gateway
  await rx.stop('SIGTERM', 5000);
  assert.match(rx.stdout, /written/, `receiver wrote its record: ${rx.stderr.slice(-500)}`);
  const got = JSON.parse(readFileSync(jsonOut, 'utf8')) as Record<string, number[]>;
  assert.equal(await rcvbufErrors(g, 'server'), rcvbufErrorsBefore, 'no datagram was lost in a receive buffer');
  return { rounds, got };
}
