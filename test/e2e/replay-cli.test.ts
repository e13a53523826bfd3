// `ebpfsentinel replay` as users run it: the binary, in a network namespace of its own, writes
// EVE to a file or stdout and a summary; a capture of a link type it does not take is refused
// naming the file, the offset and the link type (exit 2); a record that breaks the framing
// part-way ends the replay with what came before it written (exit 1). Nothing is left under
// /sys/fs/bpf.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { encodePcap } from '../../src/lab/pcap.js';
import { REPO_ROOT } from '../../src/version.js';
import { labPrerequisites } from '../support/env.js';
import { udpFrame } from '../support/frames.js';

const skip = labPrerequisites(['unshare']) ?? false;
const BIN = path.join(REPO_ROOT, 'bin', 'ebpfsentinel');

const POLICY = `agent:
  interfaces: [lo]
firewall:
  mode: block
  default_policy: pass
  rules:
    - { id: no-dns, priority: 10, action: deny, protocol: udp, dst_port: 53 }
`;

function leftovers(): string[] {
  return readdirSync('/sys/fs/bpf').filter((n) => n.startsWith('ebpfsentinel-replay-'));
}

describe('ebpfsentinel replay (the command)', { skip }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'esn-replay-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = path.join(dir, 'c.yaml');
  writeFileSync(cfg, POLICY);
  const frames = [
    udpFrame({ src: '198.18.0.10', dst: '198.18.1.1', sport: 40000, dport: 53 }),
    udpFrame({ src: '2001:db8::10', dst: '2001:db8:0:1::1', sport: 40001, dport: 53 }),
    udpFrame({ src: '198.18.0.10', dst: '198.18.1.1', sport: 40002, dport: 123 }),
  ];
  const run = (args: string[]) => spawnSync(process.execPath, [BIN, 'replay', '-c', cfg, ...args], { encoding: 'utf8', timeout: 120_000 });

  it('replays a capture: EVE to a file or stdout, the summary as JSON and on stderr, exit 0', () => {
    const before = leftovers();
    const cap = path.join(dir, 'q.pcap');
    writeFileSync(cap, encodePcap(frames, { startUs: 1_700_000_000_000_000n }));
    const out = path.join(dir, 'eve.json');
    const sum = path.join(dir, 'summary.json');
    const r = run([cap, '-o', out, '--summary', sum]);
    assert.equal(r.status, 0, r.stderr);
    const eve = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event_type: string; src_ip: string; timestamp: string });
    assert.deepEqual(eve.map((e) => [e.event_type, e.src_ip, e.timestamp]), [
      ['alert', '198.18.0.10', '2023-11-14T22:13:20.000000+0000'],
      ['alert', '2001:db8::10', '2023-11-14T22:13:20.001000+0000'],
    ]);
    const s = JSON.parse(readFileSync(sum, 'utf8')) as { frames: number; replayed: number; verdicts: Record<string, number> };
    assert.deepEqual([s.frames, s.replayed, s.verdicts], [3, 3, { drop: 2, pass: 1 }]);
    assert.match(r.stderr, /3 frames, 3 replayed/);
    assert.match(r.stderr, /verdicts: drop 2, pass 1/);
    // stdout carries the EVE lines when no file is named; the summary stays on stderr
    const r2 = run([cap]);
    assert.equal(r2.status, 0, r2.stderr);
    assert.deepEqual(r2.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { src_ip: string }).src_ip), ['198.18.0.10', '2001:db8::10']);
    assert.deepEqual(leftovers(), before);
  });

  it('refuses a link type it does not take, naming the file, the offset and the link type (exit 2)', () => {
    const cap = path.join(dir, 'wifi.pcap');
    writeFileSync(cap, encodePcap([Buffer.alloc(60)], { linktype: 105 }));
    const r = run([cap, '-o', path.join(dir, 'x.json')]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`${cap.replace(/[.]/g, '\\.')}: offset 20: IEEE 802\\.11 \\(LINKTYPE 105\\) is not a link type replay takes`));
    const r2 = run([path.join(dir, 'c.yaml'), '-o', path.join(dir, 'x.json')]);
    assert.equal(r2.status, 2);
    assert.match(r2.stderr, /c\.yaml: offset 0: not a pcap or pcapng file/);
  });

  it('a record that breaks the framing part-way ends the replay: what came before is written (exit 1)', () => {
    const bytes = encodePcap(frames);
    const third = 24 + 16 + frames[0]!.length + 16 + frames[1]!.length;
    bytes.writeUInt32LE(0x7ffffff0, third + 8);
    const cap = path.join(dir, 'broken.pcap');
    writeFileSync(cap, bytes);
    const out = path.join(dir, 'broken.json');
    const r = run([cap, '-o', out]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`stopped early: .*broken\\.pcap: offset ${third}: record of 2147483632 captured bytes`));
    assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, 2);
  });
});
