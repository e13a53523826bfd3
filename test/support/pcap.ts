// pcap files for tests, and tcpdump as an independent decoder of what the frame builder emits.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writePcap } from '../../src/lab/pcap.js';


/**
 * Writes frames to a temporary pcap and returns tcpdump's verbose decode, one string per
 * packet (continuation lines joined), so tests can assert on fields and checksum verdicts.
 */
export function tcpdumpDecode(frames: readonly Buffer[], extraArgs: string[] = []): string[] {
  const dir = mkdtempSync(path.join(tmpdir(), 'esn-pcap-'));
  try {
    const file = path.join(dir, 'frames.pcap');
    writePcap(file, frames);
    const r = spawnSync('tcpdump', ['-r', file, '-vvv', '-nn', '-e', ...extraArgs], { encoding: 'utf8', timeout: 15_000 });
    if (r.error) throw new Error(`tcpdump could not run: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`tcpdump exited ${r.status}: ${r.stderr}`);
    const packets: string[] = [];
    for (const line of r.stdout.split('\n')) {
      if (line === '') continue;
      // Each packet starts with its timestamp; indented lines continue it.
      if (/^\d{2}:\d{2}:\d{2}\./.test(line) || packets.length === 0) packets.push(line);
      else packets[packets.length - 1] += ` ${line.trim()}`;
    }
    if (packets.length !== frames.length) throw new Error(`tcpdump decoded ${packets.length} packets, expected ${frames.length}:\n${r.stdout}`);
    return packets;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
