// The agent keeps its TC programs in the pipeline's order whatever order its engines start in:
// xdp-ratelimit's tc_syncookie (agent SYN cookies) runs first, then a reload turns tc-conntrack
// on, and tc-conntrack must still run before tc_syncookie at TC ingress (its rank is lower:
// src/engines/tc-pipeline.ts); conntrack off and on again, xdp-ratelimit (and its cookies) off
// and on again, the same.
// The order is read from the kernel (BPF_PROG_QUERY, in the gateway's namespace) and the
// programs are named by bpftool. Status reports each TC attachment's rank.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildGatewayLab, type GatewayLab } from '../../src/lab/gateway.js';
import { agentPrerequisites, reloadAgent, SharedBpffs, startAgent, type RunningAgent } from './agent-support.js';

const skip = agentPrerequisites();
const QUERY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tc-hook-query.js');

const policy = (conntrack: boolean, cookies: boolean): string => `
agent:
  interfaces: [@IFACE@]
  pin_root: @PIN@
  http_port: @PORT@
  allow_unauthenticated_api: true
  metrics_interval_ms: 200
firewall:
  enabled: false
conntrack:
  enabled: ${conntrack}
ddos:
  enabled: ${cookies}
  syn_protection:
    enabled: true
    threshold_mode: false
    cookies: agent
`;

interface Attachment {
  interface: string;
  hook: string;
  mode: string;
  attached: boolean;
  rank?: number;
}

describe('agent: TC programs in pipeline order across engine starts and reloads', { skip }, () => {
  let bpffs: SharedBpffs;
  let g: GatewayLab;
  let a: RunningAgent;

  before(async () => {
    bpffs = SharedBpffs.mount();
    g = await buildGatewayLab();
    a = await startAgent(g, policy(false, true), { pinRoot: `${bpffs.dir}/esn-tcorder`, name: 'tcorder' });
  });

  after(async () => {
    await a?.stop();
    await g?.destroy();
    bpffs?.unmount();
  });

  const reload = (conntrack: boolean, cookies: boolean): Promise<void> => reloadAgent(g, a, policy(conntrack, cookies));

  /** Program names at the hook in kernel order. */
  const kernelOrder = (dir: 'ingress' | 'egress'): string[] => {
    const out = execFileSync('ip', ['netns', 'exec', g.gw.ns, process.execPath, QUERY, g.gw.outside.ifname, dir], { encoding: 'utf8' });
    const { progIds } = JSON.parse(out) as { progIds: number[] | null };
    assert.ok(progIds, 'this kernel has TCX');
    return progIds.map((id) => (JSON.parse(execFileSync('bpftool', ['prog', 'show', 'id', String(id), '--json'], { encoding: 'utf8' })) as { name: string }).name);
  };

  const tcAttachments = async (): Promise<string[]> => {
    const st = await a.api.json<{ programs: { name: string; attachments: Attachment[] }[] }>('/api/v1/status');
    return st.programs
      .flatMap((p) => p.attachments.filter((x) => x.hook.startsWith('tc-')).map((x) => `${p.name} ${x.hook} ${x.mode} rank ${x.rank} ${x.attached}`))
      .sort();
  };

  it('tc_syncookie alone, then tc-conntrack enabled at runtime goes before it', async () => {
    assert.deepEqual(kernelOrder('ingress'), ['tc_syncookie']);
    assert.deepEqual(kernelOrder('egress'), []);
    await reload(true, true);
    assert.deepEqual(kernelOrder('ingress'), ['tc_conntrack_ingress', 'tc_syncookie']);
    assert.deepEqual(kernelOrder('egress'), ['tc_conntrack_egress']);
    assert.deepEqual(await tcAttachments(), [
      'tc-conntrack tc-egress tcx rank 10 true',
      'tc-conntrack tc-ingress tcx rank 10 true',
      'xdp-ratelimit tc-ingress tcx rank 15 true',
    ]);
  });

  it('either one stopped and started again keeps the order', async () => {
    await reload(false, true);
    assert.deepEqual(kernelOrder('ingress'), ['tc_syncookie']);
    await reload(true, true);
    assert.deepEqual(kernelOrder('ingress'), ['tc_conntrack_ingress', 'tc_syncookie']);
    await reload(true, false);
    assert.deepEqual(kernelOrder('ingress'), ['tc_conntrack_ingress']);
    await reload(true, true);
    assert.deepEqual(kernelOrder('ingress'), ['tc_conntrack_ingress', 'tc_syncookie']);
    assert.deepEqual(kernelOrder('egress'), ['tc_conntrack_egress']);
  });
});
