// Runs inside the namespace bench/syncookie.ts makes for the run (`ip netns exec NS node
// syncookie-child.js SPEC`): xdp-ratelimit answers a SYN with a cookie only when a listener owns
// the destination, and BPF_PROG_TEST_RUN looks sockets up in the caller's namespace, so the
// listeners, the program and the timed runs share that namespace. Measures its own floor beside
// the cases (the ratio is taken against it); progress goes to stderr, the result is the last
// stdout line (JSON).
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { loadNative } from '../src/kernel/native.js';
import { compileRatelimit } from '../src/engines/ratelimit/compile.js';
import { RatelimitKernel, type RlCounters } from '../src/engines/ratelimit/kernel.js';
import { ddosSchema, ratelimitSchema } from '../src/engines/ratelimit/schema.js';
import { tcpFrame, tcpOptions } from '../test/support/frames.js';
import { parseFrame, verifyIpv4Checksum, verifyL4Checksum } from '../test/support/frame-parse.js';
import { TestRunClock, WrongPathError, XDP_PASS, type Subject } from './harness.js';
import { measure, type Measured } from './measure.js';
import { summarize } from './stats.js';
import { listenTcp } from '../test/support/listen.js';
import { sc_allow } from '../src/kernel/contract.gen.js';

export const XDP_TX = 3;

export interface SyncookieChildSpec {
  ratelimitObj: string;
  restoreObj: string;
  floorObj: string;
  samples: number;
  sampleMs: number;
}

export interface SyncookieChildResult {
  floorNs: number;
  cases: Omit<Measured, 'floorNs'>[];
}

export const SYN_CLIENT = { 4: '198.18.0.10', 6: '2001:db8::10' } as const;
export const SYN_SERVER = { 4: '198.18.1.1', 6: '2001:db8:1::1' } as const;
const SYN_SEQ = 1000;
/** what a Linux client puts in its SYN: MSS, SACK permitted, timestamps, NOP, window scale */
const LINUX_OPTS = Buffer.concat([tcpOptions.mss(1460), tcpOptions.sackPermitted(), tcpOptions.timestamps(12345, 0), tcpOptions.nop(), tcpOptions.windowScale(7)]);
/** struct restore_frame in bench/progs/xdp_restore.bpf.c: __u32 len; __u8 bytes[256] */
const RESTORE_MAX = 256;

const log = (line: string): void => void process.stderr.write(`  ${line}\n`);

/** The answer must be the SYN-ACK of this SYN: checked once before timing (the counters then
 * prove every timed run took the same path). */
function checkSynAck(id: string, out: Buffer, fam: 4 | 6, port: number): void {
  const p = parseFrame(out);
  const problems: string[] = [];
  if (!p.ip || !p.l4 || p.l4.proto !== 'tcp') throw new WrongPathError(`${id}: the answer is not a TCP frame`);
  if (p.ip.src !== SYN_SERVER[fam] || p.ip.dst !== SYN_CLIENT[fam]) problems.push(`addresses ${p.ip.src} -> ${p.ip.dst} not swapped`);
  if ([...p.l4.flags].sort().join(',') !== 'ack,syn') problems.push(`flags ${p.l4.flags.join(',')}`);
  if (p.l4.sport !== port || p.l4.dport !== 40000) problems.push(`ports ${p.l4.sport} -> ${p.l4.dport}`);
  if (p.l4.ack !== SYN_SEQ + 1) problems.push(`ack ${p.l4.ack}, expected ${SYN_SEQ + 1}`);
  if (fam === 4 && !verifyIpv4Checksum(out)) problems.push('IPv4 header checksum');
  if (!verifyL4Checksum(out)) problems.push('TCP checksum');
  if (problems.length) throw new WrongPathError(`${id}: not the SYN-ACK of the SYN: ${problems.join('; ')}`);
}

async function main(spec: SyncookieChildSpec): Promise<SyncookieChildResult> {
  const native = loadNative();
  const servers = [await listenTcp('0.0.0.0'), await listenTcp('::')];
  const port = { 4: (servers[0]!.address() as net.AddressInfo).port, 6: (servers[1]!.address() as net.AddressInfo).port };
  const rl = RatelimitKernel.load({ objectPath: spec.ratelimitObj });
  let restoreObj = -1;
  let floorObj = -1;
  try {
    // As the engine does on kernels with bpf_sk_assign_tcp_reqsk: the agent's own cookies, every
    // option the client offers allowed (the SYN-ACK carries MSS, SACK, timestamps, window scale).
    rl.writeCookieConfig({ key: randomBytes(16), allow: sc_allow.SC_ALLOW_TS | sc_allow.SC_ALLOW_SACK | sc_allow.SC_ALLOW_WSCALE | sc_allow.SC_ALLOW_ECN, rcvWscale: 7 });
    rl.apply(
      compileRatelimit(
        ratelimitSchema.parse({ enabled: false }),
        ddosSchema.parse({ enabled: true, syn_protection: { enabled: true, threshold_mode: false } }),
        'agent',
      ),
    );
    restoreObj = native.objOpen(spec.restoreObj, {});
    native.objLoad(restoreObj);
    floorObj = native.objOpen(spec.floorObj, {});
    native.objLoad(floorObj);
    const u32 = (n: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n);
      return b;
    };
    const next = native.mapFd(restoreObj, 'restore_next');
    native.mapUpdate(next, u32(0), u32(rl.progFd));
    native.mapUpdate(next, u32(1), u32(native.progFd(restoreObj, 'xdp_bare_tx')));
    const frameMap = native.mapFd(restoreObj, 'restore_frame');
    const countMap = native.mapFd(restoreObj, 'restore_count');
    const restores = (): bigint => {
      const per = native.mapLookup(countMap, u32(0));
      if (!per) throw new Error('restore_count: no element 0');
      let n = 0n;
      for (let off = 0; off + 8 <= per.length; off += 8) n += per.readBigUInt64LE(off);
      return n;
    };
    const rlTotal = (slot: keyof RlCounters): bigint => {
      let n = 0n;
      for (const c of rl.readCounters().values()) n += c[slot];
      return n;
    };
    const setFrame = (frame: Buffer): void => {
      if (frame.length > RESTORE_MAX) throw new Error(`frame of ${frame.length} bytes, the restorer holds ${RESTORE_MAX}`);
      const v = Buffer.alloc(4 + RESTORE_MAX);
      v.writeUInt32LE(frame.length, 0);
      frame.copy(v, 4);
      native.mapUpdate(frameMap, u32(0), v);
    };

    const floorFrame = tcpFrame({ src: SYN_CLIENT[4], dst: SYN_SERVER[4], sport: 40000, dport: port[4], seq: SYN_SEQ, flags: ['syn'] });
    const subjects: Subject[] = [
      {
        id: 'floor.xdp_pass', program: 'xdp_floor_pass', description: 'floor: bare XDP_PASS, measured in the SYN-cookie namespace',
        family: null, progFd: native.progFd(floorObj, 'xdp_floor_pass'), frame: floorFrame, retval: XDP_PASS, maxRepeatPerCall: 0xffffffff,
      },
    ];
    for (const fam of [4, 6] as const) {
      const frame = tcpFrame({ src: SYN_CLIENT[fam], dst: SYN_SERVER[fam], sport: 40000, dport: port[fam], seq: SYN_SEQ, flags: ['syn'], options: LINUX_OPTS });
      const v = `v${fam}`;
      for (const kind of ['syncookie_tx', 'restore_tx'] as const) {
        const cookie = kind === 'syncookie_tx';
        const id = cookie ? `xdp-ratelimit.${v}.syn.syncookie_tx` : `bench-restore.${v}.syn.restore_tx`;
        const progFd = native.progFd(restoreObj, cookie ? 'xdp_restore_then_test' : 'xdp_restore_then_tx');
        subjects.push({
          id,
          program: cookie ? 'xdp-ratelimit' : 'bench-restore',
          description: cookie
            ? `IPv${fam} pure SYN (Linux options) to a local listener, syn_protection always on: answered in place with the agent's SYN-cookie SYN-ACK (XDP_TX, SipHash cookie, MSS/SACK/TS/WS options); includes the frame restore, see bench-restore.${v}`
            : `IPv${fam} frame restore + tail call into a bare XDP_TX: what the test-run rig adds to xdp-ratelimit.${v}.syn.syncookie_tx`,
          family: fam,
          progFd,
          frame,
          retval: XDP_TX,
          maxRepeatPerCall: 0xffffffff,
          beginSample() {
            setFrame(frame);
            const r0 = restores();
            const sent0 = rlTotal('syncookie_sent');
            const seen0 = rlTotal('seen');
            return (repeats) => {
              const n = BigInt(repeats);
              const problems: string[] = [];
              const want = (what: string, got: bigint, exp: bigint): void => {
                if (got !== exp) problems.push(`${what} moved by ${got}, expected ${exp}`);
              };
              want('frames restored', restores() - r0, n);
              want('xdp-ratelimit seen', rlTotal('seen') - seen0, cookie ? n : 0n);
              want('xdp-ratelimit syncookie_sent', rlTotal('syncookie_sent') - sent0, cookie ? n : 0n);
              if (problems.length) throw new WrongPathError(`${id}: after ${repeats} runs: ${problems.join('; ')}`);
            };
          },
        });
        if (cookie) {
          // Three runs on one buffer: each must have started from the restored SYN.
          setFrame(frame);
          const r = native.testRun(progFd, { data: frame, repeat: 3 });
          if (r.retval !== XDP_TX) throw new WrongPathError(`${id}: returned ${r.retval}, expected XDP_TX (is the listener visible?)`);
          checkSynAck(id, r.dataOut, fam, port[fam]);
        }
      }
    }
    const clock = new TestRunClock(native);
    const runs = measure(clock, subjects, spec, log);
    const floor = runs.find((m) => m.subject.id === 'floor.xdp_pass')!;
    return {
      floorNs: summarize(floor.samples).median,
      cases: runs
        .filter((m) => m !== floor)
        .map((m) => ({
          subject: { id: m.subject.id, program: m.subject.program, description: m.subject.description, family: m.subject.family, retval: m.subject.retval },
          repeats: m.repeats, samples: m.samples, kernel: m.kernel, disagreed: m.disagreed,
        })),
    };
  } finally {
    rl.close();
    if (restoreObj >= 0) native.objClose(restoreObj);
    if (floorObj >= 0) native.objClose(floorObj);
    for (const s of servers) s.close();
  }
}

try {
  const res = await main(JSON.parse(process.argv[2] ?? '') as SyncookieChildSpec);
  process.stdout.write(`${JSON.stringify(res)}\n`);
} catch (e) {
  const err = e as Error & { verifierLog?: string };
  process.stderr.write(`syncookie bench child failed: ${err.message}\n${err.verifierLog ?? ''}`);
  process.exitCode = 1;
}
