// tc-scrub through BPF_PROG_TEST_RUN beside a bare TC floor measured in the same run: a packet
// that has nothing to rewrite under a full profile (no-op), a SYN whose MSS is already small
// enough (the option walk without a rewrite), and a SYN whose MSS is clamped (the walk, the
// store and the checksum update; through the restore rig of bench/progs/tc_scrub_rig.bpf.c,
// whose own cost is measured beside it). IPv4 and IPv6. Profiles are compiled from a `scrub`
// section by the product's compiler and written by its kernel face.
import { compileScrub } from '../src/engines/scrub/compile.js';
import { SCRUB_ACTIONS, SCRUB_COUNTER_SLOTS, ScrubKernel, type ScrubActionCounts, type ScrubCounters } from '../src/engines/scrub/kernel.js';
import { scrubSchema } from '../src/engines/scrub/schema.js';
import type { NativeBridge } from '../src/kernel/native.js';
import { tcpFrame, tcpOptions } from '../test/support/frames.js';
import { WrongPathError, type Subject } from './harness.js';
import { CLIENT, SERVER } from './policy.js';

export const TC_FLOOR_ID = 'floor.tc_next';
/** test-run without a ctx runs on the loopback device (ifindex 1) of the caller's netns */
const LO = { ifname: 'lo', ifindex: 1 };
const TC_RESTORE_MAX = 256;
const MAX_MSS = 1400;
/** Linux's SYN options (MSS, SACK-permitted, timestamps, NOP, window scale) with this MSS */
const linuxOpts = (mss: number): Buffer => Buffer.concat([tcpOptions.mss(mss), tcpOptions.sackPermitted(), tcpOptions.timestamps(1, 0), tcpOptions.nop(), tcpOptions.windowScale(7)]);

export interface ScrubBench {
  floor: Subject;
  subjects: Subject[];
  close(): void;
}

export function setupScrub(o: { native: NativeBridge; scrubObject: string; rigObject: string; log: (line: string) => void }): ScrubBench {
  const { native } = o;
  const k = ScrubKernel.load(o.scrubObject);
  let rig = -1;
  try {
    // A full profile: every action on, so the no-op case pays for every check.
    k.writePolicy(
      compileScrub(scrubSchema.parse({ enabled: true, max_mss: MAX_MSS, min_ttl: 32, min_hop_limit: 32, clear_df: true, random_ip_id: false, dscp: 0, strip_ecn: true, scrub_tcp_flags: 'repair' }), [LO]),
    );
    rig = native.objOpen(o.rigObject, {});
    native.objLoad(rig);
    const u32 = (n: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n);
      return b;
    };
    const next = native.mapFd(rig, 'tc_restore_next');
    native.mapUpdate(next, u32(0), u32(k.entryFd));
    native.mapUpdate(next, u32(1), u32(native.progFd(rig, 'tc_floor_next')));
    const frameMap = native.mapFd(rig, 'tc_restore_frame');
    const countMap = native.mapFd(rig, 'tc_restore_count');
    const restores = (): bigint => {
      const per = native.mapLookup(countMap, u32(0));
      if (!per) throw new Error('tc_restore_count: no element 0');
      let n = 0n;
      for (let off = 0; off + 8 <= per.length; off += 8) n += per.readBigUInt64LE(off);
      return n;
    };
    const setFrame = (frame: Buffer): void => {
      if (frame.length > TC_RESTORE_MAX) throw new Error(`frame of ${frame.length} bytes, the restorer holds ${TC_RESTORE_MAX}`);
      const v = Buffer.alloc(4 + TC_RESTORE_MAX);
      v.writeUInt32LE(frame.length, 0);
      frame.copy(v, 4);
      native.mapUpdate(frameMap, u32(0), v);
    };
    // (no entry before the program first ran on lo: all zero)
    const counters = (): ScrubCounters => k.readCounters().get(LO.ifindex) ?? (Object.fromEntries(SCRUB_COUNTER_SLOTS.map((x) => [x, 0n])) as ScrubCounters);
    const actions = (): ScrubActionCounts => k.readActions().get(LO.ifindex) ?? (Object.fromEntries(SCRUB_ACTIONS.map((x) => [x, 0n])) as ScrubActionCounts);

    const floorFd = native.progFd(rig, 'tc_floor_next');
    const floorFrame = tcpFrame({ src: CLIENT[4], dst: SERVER[4], sport: 40000, dport: 443, seq: 1, flags: ['syn'], options: linuxOpts(1460) });
    // TCX_NEXT as the bridge returns it
    const next1 = native.testRun(floorFd, { data: floorFrame }).retval;
    if (next1 >>> 0 !== 0xffffffff) throw new Error(`tc floor returned ${next1}, expected TCX_NEXT`);
    const floor: Subject = {
      id: TC_FLOOR_ID,
      program: 'tc_floor_next',
      description: 'floor: bare TC program returning TCX_NEXT (the TC hook and the test-run harness alone); tc-scrub ratios refer to it',
      family: null,
      progFd: floorFd,
      frame: floorFrame,
      retval: next1,
      maxRepeatPerCall: 0xffffffff,
    };

    const subjects: Subject[] = [];
    for (const fam of [4, 6] as const) {
      const v = `v${fam}`;
      const base = { src: CLIENT[fam], dst: SERVER[fam], sport: 40000, dport: 443, seq: 1, ttl: 64 };
      const cases: { id: string; program: string; description: string; progFd: number; frame: Buffer; restore: boolean; clamps: boolean; seen: boolean }[] = [
        {
          id: `tc-scrub.${v}.ack.noop`,
          program: 'tc-scrub',
          description: `IPv${fam} TCP ACK with 64 bytes of data under a full profile (TTL, MSS, DF, DSCP/ECN, flags): every check made, nothing to rewrite`,
          progFd: k.entryFd,
          frame: tcpFrame({ ...base, ack: 1, flags: ['ack'], payload: Buffer.alloc(64, 0x61) }),
          restore: false,
          clamps: false,
          seen: true,
        },
        {
          id: `tc-scrub.${v}.syn.mss_ok`,
          program: 'tc-scrub',
          description: `IPv${fam} SYN, Linux options, MSS ${MAX_MSS - 200} under a max_mss of ${MAX_MSS}: the option walk, no rewrite`,
          progFd: k.entryFd,
          frame: tcpFrame({ ...base, flags: ['syn'], options: linuxOpts(MAX_MSS - 200) }),
          restore: false,
          clamps: false,
          seen: true,
        },
        {
          id: `tc-scrub.${v}.syn.mss_clamp`,
          program: 'tc-scrub',
          description: `IPv${fam} SYN, Linux options, MSS 1460 clamped to ${MAX_MSS}: walk, store, checksum update; includes the frame restore, see bench-restore.${v}.syn.tc_restore`,
          progFd: native.progFd(rig, 'tc_restore'),
          frame: tcpFrame({ ...base, flags: ['syn'], options: linuxOpts(1460) }),
          restore: true,
          clamps: true,
          seen: true,
        },
        {
          id: `bench-restore.${v}.syn.tc_restore`,
          program: 'bench-restore',
          description: `IPv${fam} frame restore + tail call into the bare TC floor: what the rig adds to tc-scrub.${v}.syn.mss_clamp`,
          progFd: native.progFd(rig, 'tc_restore_floor'),
          frame: tcpFrame({ ...base, flags: ['syn'], options: linuxOpts(1460) }),
          restore: true,
          clamps: false,
          seen: false,
        },
      ];
      for (const c of cases) {
        subjects.push({
          id: c.id,
          program: c.program,
          description: c.description,
          family: fam,
          progFd: c.progFd,
          frame: c.frame,
          retval: next1,
          maxRepeatPerCall: 0xffffffff,
          beginSample() {
            if (c.restore) setFrame(c.frame);
            const r0 = restores();
            const c0 = counters();
            const a0 = actions();
            return (repeats) => {
              const n = BigInt(repeats);
              const c1 = counters();
              const a1 = actions();
              const problems: string[] = [];
              const want = (what: string, got: bigint, exp: bigint): void => {
                if (got !== exp) problems.push(`${what} moved by ${got}, expected ${exp}`);
              };
              want('frames restored', restores() - r0, c.restore ? n : 0n);
              want('tc-scrub seen', c1.seen - c0.seen, c.seen ? n : 0n);
              want('tc-scrub rewritten', c1.rewritten - c0.rewritten, c.clamps ? n : 0n);
              want('tc-scrub mss_clamped', a1.mss_clamped - a0.mss_clamped, c.clamps ? n : 0n);
              want('tc-scrub dropped', c1.dropped - c0.dropped, 0n);
              if (problems.length) throw new WrongPathError(`${c.id}: after ${repeats} runs: ${problems.join('; ')}`);
            };
          },
        });
      }
    }
    o.log(`tc-scrub: ${subjects.length} cases beside ${TC_FLOOR_ID}`);
    return {
      floor,
      subjects,
      close: () => {
        native.objClose(rig);
        k.close();
      },
    };
  } catch (e) {
    if (rig >= 0) native.objClose(rig);
    k.close();
    throw e;
  }
}
