// The TCP listeners the agent stamps for SYN cookies come from NETLINK_SOCK_DIAG (the kernel
// filters by state, so only listening sockets cross, however many connections the host has).
// In a namespace of the run's own: listeners of both families, any-address and bound, are all
// reported with their addresses and ports, an established connection and a UDP socket are not,
// and the answer is the one /proc/net/tcp{,6} gives.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Lab } from '../../src/lab/index.js';
import { labPrerequisites } from '../support/env.js';

const skip = labPrerequisites(['ip']) || false;
const HELPER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'listeners-nshelper.js');

interface Report {
  opened: { host: string; port: number }[];
  clientPort: number;
  sockDiag: string[];
  proc: string[];
}

describe('TCP listeners through sock_diag (lab namespace)', { skip }, () => {
  let lab: Lab;
  let report: Report;

  before(async () => {
    lab = await Lab.create({ name: 'listeners', hosts: [{ name: 'srv' }], links: [] });
    const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', lab.ns('srv'), process.execPath, HELPER], { timeout: 20_000 });
    report = JSON.parse(stdout) as Report;
  });

  after(async () => {
    await lab?.destroy();
  });

  it('reports every listener, IPv4 and IPv6, any-address and bound, with its address and port', () => {
    const hex: Record<string, string> = { '0.0.0.0': '4/00000000', '127.0.0.1': '4/7f000001', '::': `6/${'0'.repeat(32)}`, '::1': `6/${'0'.repeat(31)}1` };
    const want = report.opened.map((o) => `${hex[o.host]}/${o.port}`).sort();
    assert.deepEqual([...report.sockDiag].sort(), want);
  });

  it('leaves out established connections and other sockets, and agrees with /proc/net/tcp{,6}', () => {
    assert.ok(!report.sockDiag.some((l) => l.endsWith(`/${report.clientPort}`)), 'the client socket is not a listener');
    assert.deepEqual([...report.sockDiag].sort(), [...report.proc].sort());
  });
});
