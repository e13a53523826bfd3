// tshark (Wireshark's decoder: an oracle nobody here wrote) over a capture file: every IPv4
// header, TCP, UDP, ICMP and ICMPv6 checksum validated, and fields read per frame.
import { run } from '../../src/lab/run.js';

/** IP, TCP and UDP checksum validation on (ICMP and ICMPv6 checksums are always checked). */
const CHECKSUM_PREFS = ['-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'];
const CHECKSUMS = ['ip', 'tcp', 'udp', 'icmp', 'icmpv6'] as const;
export type ChecksumProto = (typeof CHECKSUMS)[number];

export interface ChecksumTally {
  frames: number;
  good: Record<ChecksumProto, number>;
  bad: Record<ChecksumProto, number>;
  /** frame numbers with at least one bad checksum */
  badFrames: number[];
}

/** One row per frame matching `filter`, one column per field (several values joined by ","). */
export async function tsharkFields(file: string, fields: readonly string[], filter = ''): Promise<string[][]> {
  const args = ['tshark', '-n', '-r', file, ...CHECKSUM_PREFS, '-T', 'fields', '-E', 'separator=\t', ...fields.flatMap((f) => ['-e', f])];
  if (filter) args.push('-Y', filter);
  const r = await run(args, { timeoutMs: 60_000 }, 'tshark');
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
}

/** Counts good and bad checksums of every layer of every frame (an ICMP error's quoted headers
 * included). tshark's status values: 0 bad, 1 good, 2 unverified. */
export async function tsharkChecksums(file: string): Promise<ChecksumTally> {
  const rows = await tsharkFields(file, ['frame.number', ...CHECKSUMS.map((p) => `${p}.checksum.status`)]);
  const zero = (): Record<ChecksumProto, number> => ({ ip: 0, tcp: 0, udp: 0, icmp: 0, icmpv6: 0 });
  const t: ChecksumTally = { frames: rows.length, good: zero(), bad: zero(), badFrames: [] };
  for (const row of rows) {
    let bad = false;
    CHECKSUMS.forEach((p, i) => {
      for (const v of (row[i + 1] ?? '').split(',').filter((x) => x !== '')) {
        if (v === '1') t.good[p]++;
        else if (v === '0') {
          t.bad[p]++;
          bad = true;
        }
      }
    });
    if (bad) t.badFrames.push(Number(row[0]));
  }
  return t;
}
