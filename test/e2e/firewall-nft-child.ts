// Runs inside the differential test's namespace (`ip netns exec NS node firewall-nft-child.js
// JOB`): attaching XDP by ifindex only works in the caller's own namespace. Two veth pairs carry
// the same frames: on the first, xdp-firewall judges them as they arrive at b1 (the product's
// path: config schema → compileFirewall → GenerationWriter.apply, one generation flip per
// policy); on the second, nftables judges them as they leave a2 (a netdev egress chain written
// by test/support/nft-firewall.ts from the same config, loaded through libnftables, the library
// the nft command is built on). A python pump, pinned to one CPU so
// each veth keeps the frames in order, sends every frame of a batch through both pairs and
// reports which arrived at b1 and b2 (AF_PACKET sockets, after the filter on both paths); a
// non-IP end marker, which both pass, closes each batch; a send the veth refuses for a full ring
// is retried, never skipped. Prints one JSON report; the test
// makes every assertion on it.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { compileFirewall, FirewallCompileError, matchPacket, type PacketFacts } from '../../src/engines/firewall/compile.js';
import { FirewallKernel } from '../../src/engines/firewall/kernel.js';
import { firewallSchema } from '../../src/engines/firewall/schema.js';
import { attachXdp, type Link } from '../../src/kernel/link.js';
import { buildFrame } from '../support/frames.js';
import { factsText, frameSpecOfFacts, largePolicy, prng, Rand, randomFacts, randomPolicy } from '../support/firewall-random.js';
import { firewallToNft } from '../support/nft-firewall.js';

export interface ChildJob {
  objectPath: string;
  a1: string;
  b1: string;
  a2: string;
  b2: string;
  srcMac: string;
  dstMac: string;
  seed: number;
  /** groups of policies: how many, of how many rules (drawn in [min, max], log-uniformly when
   * `log`), `random` (randomPolicy: small overlapping networks) or `large` (largePolicy: mostly
   * disjoint networks over the test ranges, then `dense` random rules), frames per policy */
  plan: { policies: number; kind: 'random' | 'large'; min: number; max: number; log?: boolean; dense?: number; frames: number }[];
}

export interface Disagreement {
  policy: number;
  frame: string;
  xdp: 'pass' | 'drop';
  nft: 'pass' | 'drop';
  /** the firewall's linear reference matcher (diagnosis only: which side misreads the rule) */
  reference: string;
  section?: Record<string, unknown>;
}

export interface ChildReport {
  policies: number;
  redrawn: number;
  rulesMax: number;
  /** policies of more than 100 rules */
  rulesBig: number;
  frames: number;
  outcomes: Record<'pass' | 'drop' | 'v4' | 'v6' | 'fragment' | 'tcp' | 'udp' | 'icmp' | 'other' | 'alert', number>;
  /** per policy where a count is off: frames the nft chain counted, frames xdp-firewall counted
   * (seen), frames sent; frames xdp-firewall passed (its counter) and frames that arrived at b1 */
  unseen: { policy: number; nft: number; xdp: number; sent: number; xdpPassed: number; arrivedB1: number }[];
  /** frames whose nft verdict on the sending socket (refused or not) differs from what arrived
   * at b2: lost or duplicated on the way, not judged */
  nftLost: number;
  captureDrops: number;
  disagreements: Disagreement[];
  disagreementCount: number;
  xdpMode: string;
  ms: { total: number; nftLoad: number; fwApply: number; pump: number };
}

const PUMP_PY = `
import socket, sys, json, struct, time, select, errno, ctypes, re
a1, a2, b1, b2 = sys.argv[1:5]
ETH_P_ALL = 3
SOL_PACKET, PACKET_STATISTICS, SO_RCVBUFFORCE = 263, 6, 33
END = 0xffffffff
# nftables through libnftables, the library the nft command is built on: a ruleset loads in
# milliseconds instead of an nft process start per policy
nft = ctypes.CDLL('libnftables.so.1')
nft.nft_ctx_new.restype = ctypes.c_void_p
nft.nft_ctx_new.argtypes = [ctypes.c_uint32]
for f in ('nft_ctx_buffer_output', 'nft_ctx_buffer_error'):
    getattr(nft, f).argtypes = [ctypes.c_void_p]
nft.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
for f in ('nft_ctx_get_output_buffer', 'nft_ctx_get_error_buffer'):
    getattr(nft, f).restype = ctypes.c_char_p
    getattr(nft, f).argtypes = [ctypes.c_void_p]
ctx = nft.nft_ctx_new(0)
nft.nft_ctx_buffer_output(ctx)
nft.nft_ctx_buffer_error(ctx)
def nft_run(text):
    rc = nft.nft_run_cmd_from_buffer(ctx, text.encode())
    out = (nft.nft_ctx_get_output_buffer(ctx) or b'').decode()
    err = (nft.nft_ctx_get_error_buffer(ctx) or b'').decode()
    if rc != 0:
        raise SystemExit('nft failed: ' + err[:4000])
    return out
def tx(dev):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((dev, 0))
    return s
def rx(dev):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
    s.bind((dev, ETH_P_ALL))
    s.setblocking(False)
    return s
def drain(s, got):
    while True:
        try:
            d, addr = s.recvfrom(65535)
        except BlockingIOError:
            return
        if addr[2] != socket.PACKET_OUTGOING and len(d) >= 8 and d[-8:-4] == b'ESNF':
            got.add(struct.unpack('>I', d[-4:])[0])
def send(s, f, g1, g2):
    # a veth whose peer runs XDP may stop its queue while the peer's ring is full (ENOBUFS: the
    # frame was not sent): let the receivers catch up and send it again
    while True:
        try:
            s.send(f)
            return
        except OSError as e:
            if e.errno != errno.ENOBUFS:
                raise
            drain(r1, g1)
            drain(r2, g2)
            time.sleep(0.0002)
def send_filtered(s, f):
    # the nft egress chain runs inside this send: its drop comes back as ENOBUFS
    try:
        s.send(f)
        return True
    except OSError as e:
        if e.errno != errno.ENOBUFS:
            raise
        return False
def drops(s):
    return struct.unpack('II', s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))[1]
t1, t2, r1, r2 = tx(a1), tx(a2), rx(b1), rx(b2)
drops(r1); drops(r2)
print('ready', flush=True)
while True:
    line = sys.stdin.readline()
    if not line:
        break
    cmd, n = line.split()
    if cmd == 'load':
        nft_run(sys.stdin.read(int(n)))
        print(json.dumps({'loaded': True}), flush=True)
        continue
    frames = [bytes.fromhex(sys.stdin.readline()) for _ in range(int(n))]
    g1, g2, refused = set(), set(), []
    for i, f in enumerate(frames):
        send(t1, f, g1, g2)
        if not send_filtered(t2, f):
            refused.append(i)
        if i % 32 == 31:
            drain(r1, g1)
            drain(r2, g2)
    deadline = time.time() + 5
    while (END not in g1 or END not in g2) and time.time() < deadline:
        select.select([r1, r2], [], [], 0.05)
        drain(r1, g1)
        drain(r2, g2)
    time.sleep(0.002)
    drain(r1, g1)
    drain(r2, g2)
    counted = int(re.search(r'packets (\\d+)', nft_run('list counter netdev esnfw frames')).group(1))
    print(json.dumps({'b1': sorted(g1), 'b2': sorted(g2), 'refused': refused, 'drops': drops(r1) + drops(r2), 'counted': counted}), flush=True)
`;

const END_TAG = 0xffffffff;

/** What the pump saw of one batch: tags that arrived at b1 and b2, indices whose send on a2 the
 * nft chain refused, frames the receiving sockets lost. */
interface PumpResult {
  b1: number[];
  b2: number[];
  refused: number[];
  drops: number;
  /** frames the nft chain's `frames` counter saw */
  counted: number;
}

function tagged(frame: Buffer, tag: number): Buffer {
  const t = Buffer.alloc(8);
  t.write('ESNF', 0, 'latin1');
  t.writeUInt32BE(tag, 4);
  return Buffer.concat([frame, t]);
}

class Pump {
  private readonly lines: string[] = [];
  private waiter: (() => void) | null = null;
  private readonly proc;
  private exited = false;

  constructor(job: ChildJob) {
    this.proc = spawn('taskset', ['-c', '0', 'python3', '-c', PUMP_PY, job.a1, job.a2, job.b1, job.b2], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.proc.stdout }).on('line', (l) => {
      this.lines.push(l);
      this.waiter?.();
    });
    this.proc.on('exit', () => {
      this.exited = true;
      this.waiter?.();
    });
  }

  async line(): Promise<string> {
    while (this.lines.length === 0) {
      if (this.exited) throw new Error('the frame pump exited');
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = null;
    }
    return this.lines.shift()!;
  }

  async batch(frames: Buffer[]): Promise<PumpResult> {
    this.proc.stdin.write(`batch ${frames.length}\n${frames.map((f) => f.toString('hex')).join('\n')}\n`);
    return JSON.parse(await this.line()) as PumpResult;
  }

  /** Replaces the nft table (one atomic nft transaction). */
  async load(ruleset: string): Promise<void> {
    const b = Buffer.from(ruleset, 'utf8');
    if (b.length !== ruleset.length) throw new Error('nft ruleset must be ASCII');
    this.proc.stdin.write(`load ${b.length}\n${ruleset}`);
    await this.line();
  }

  close(): void {
    this.proc.stdin.end();
    this.proc.kill();
  }
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as ChildJob;
  const t0 = performance.now();
  const kernel = FirewallKernel.load({ objectPath: job.objectPath });
  let link: Link | null = null;
  const pump = new Pump(job);
  const report: ChildReport = {
    policies: 0,
    redrawn: 0,
    rulesMax: 0,
    rulesBig: 0,
    frames: 0,
    outcomes: { pass: 0, drop: 0, v4: 0, v6: 0, fragment: 0, tcp: 0, udp: 0, icmp: 0, other: 0, alert: 0 },
    unseen: [],
    nftLost: 0,
    captureDrops: 0,
    disagreements: [],
    disagreementCount: 0,
    xdpMode: '',
    ms: { total: 0, nftLoad: 0, fwApply: 0, pump: 0 },
  };
  try {
    link = attachXdp(kernel.progFd, job.b1, 'native');
    report.xdpMode = link.mode ?? "unknown";
    const b1Index = Number(readFileSync(`/sys/class/net/${job.b1}/ifindex`, 'utf8').trim());
    if ((await pump.line()) !== 'ready') throw new Error('the frame pump did not start');
    const r = new Rand(prng(job.seed));
    const TABLE = 'esnfw';
    for (const group of job.plan) {
      for (let n = 0; n < group.policies; n++) {
        const p = report.policies++;
        const rules = group.log ? Math.round(Math.exp(Math.log(group.min) + r.next() * (Math.log(group.max) - Math.log(group.min)))) : r.int(group.min, group.max);
        let section: Record<string, unknown>;
        let compiled;
        for (;;) {
          section = group.kind === 'large' ? largePolicy(r, rules, group.dense ?? 0) : randomPolicy(r, rules, { reject: false, stateless: true });
          try {
            compiled = compileFirewall(firewallSchema.parse(section), new Map());
            break;
          } catch (e) {
            if (!(e instanceof FirewallCompileError)) throw e;
            report.redrawn++;
          }
        }
        report.rulesMax = Math.max(report.rulesMax, rules);
        if (rules > 100) report.rulesBig++;
        if (section.mode === 'alert') report.outcomes.alert++;
        let t = performance.now();
        await pump.load(`table netdev ${TABLE}\ndelete table netdev ${TABLE}\n${firewallToNft(section, { table: TABLE, device: job.a2, hook: 'egress' })}`);
        report.ms.nftLoad += performance.now() - t;
        t = performance.now();
        kernel.writer.apply(compiled);
        report.ms.fwApply += performance.now() - t;

        const facts: PacketFacts[] = [];
        const frames: Buffer[] = [];
        for (let i = 0; i < group.frames; i++) {
          const f = randomFacts(r, section);
          delete f.vlanId;
          delete f.vlanDepth;
          delete f.ctState;
          const spec = frameSpecOfFacts(r, f);
          spec.eth = { src: job.srcMac, dst: job.dstMac };
          facts.push(f);
          frames.push(tagged(buildFrame(spec), i));
        }
        frames.push(tagged(buildFrame({ eth: { src: job.srcMac, dst: job.dstMac, type: 0x88b5 } }), END_TAG));
        const c0 = kernel.readCounters().get(b1Index);
        t = performance.now();
        const got = await pump.batch(frames);
        report.ms.pump += performance.now() - t;
        const c1 = kernel.readCounters().get(b1Index);
        const seen = Number((c1?.seen ?? 0n) - (c0?.seen ?? 0n));
        const xdpPassed = Number((c1?.passed ?? 0n) - (c0?.passed ?? 0n));
        const counted = got.counted;
        if (counted !== frames.length || seen !== frames.length || xdpPassed !== got.b1.length) {
          report.unseen.push({ policy: p, nft: counted, xdp: seen, sent: frames.length, xdpPassed, arrivedB1: got.b1.length });
        }
        report.captureDrops += got.drops;
        const pass1 = new Set(got.b1);
        const pass2 = new Set(got.b2);
        const refused = new Set(got.refused);
        for (let i = 0; i < frames.length; i++) if (refused.has(i) === pass2.has(i === frames.length - 1 ? END_TAG : i)) report.nftLost++;
        for (const set of [pass1, pass2]) if (!set.has(END_TAG)) throw new Error(`policy ${p}: the end marker did not arrive`);
        for (let i = 0; i < facts.length; i++) {
          const f = facts[i]!;
          const xdp = pass1.has(i) ? 'pass' : 'drop';
          const nft = pass2.has(i) ? 'pass' : 'drop';
          report.frames++;
          report.outcomes[nft]++;
          report.outcomes[f.family === 4 ? 'v4' : 'v6']++;
          if (f.laterFragment) report.outcomes.fragment++;
          report.outcomes[f.proto === 6 ? 'tcp' : f.proto === 17 ? 'udp' : f.proto === 1 || f.proto === 58 ? 'icmp' : 'other']++;
          if (xdp !== nft) {
            report.disagreementCount++;
            if (report.disagreements.length < 20) {
              const ref = matchPacket(compiled, f);
              const d: Disagreement = { policy: p, frame: factsText(f), xdp, nft, reference: `${ref.action} by ${ref.ruleId ?? 'default'}` };
              if (report.disagreements.length < 3) d.section = section;
              report.disagreements.push(d);
            }
          }
        }
      }
    }
  } finally {
    report.ms.total = performance.now() - t0;
    pump.close();
    link?.destroy();
    kernel.close();
  }
  for (const k of Object.keys(report.ms) as (keyof ChildReport['ms'])[]) report.ms[k] = Math.round(report.ms[k]);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
