// xdp-firewall against nftables, an oracle nobody here wrote. Random stateless policies
// (IPv4 and IPv6 CIDRs of every length, port ranges, protocols, ICMP type/code, priorities,
// allow/deny/log, alert mode, default policy) are each loaded twice: into xdp-firewall through
// the product's own path, and into an nftables netdev chain by test/support/nft-firewall.ts,
// a translation written from the documentation that shares no code with the firewall's
// compiler. The same real frames (edge-biased: first/last address of a CIDR and one past it,
// port range bounds and their neighbours, later fragments) then cross a veth pair to each, and
// which of them arrived on the far side is read from AF_PACKET sockets there: every verdict of
// xdp-firewall must equal nftables'. nftables judges the frames in a netdev egress chain on the
// sending veth, so that the far side's socket sees them after the filter on both paths (an
// ingress chain runs after the sockets' tap); its drops come back to the sending socket as
// ENOBUFS, a second record of each of its verdicts. Frames that xdp-firewall and nftables each
// counted are checked against the frames sent, and each side's record of what it let through
// against what arrived, so a frame lost on the way cannot pass for a drop.
//
// The plan: 1,000 policies of 1 to 200 rules drawn as the kernel differential draws them (small,
// overlapping networks; 48 frames each), then 3 of 10,000 rules (mostly disjoint networks over
// the test ranges, then 30 dense random rules; 1,500 frames each). Seeded: FW_NFT_SEED
// reproduces a run; FW_NFT_POLICIES scales the first groups.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Lab } from '../../src/lab/netns.js';
import { REPO_ROOT } from '../../src/version.js';
import { labPrerequisites } from '../support/env.js';
import { FIREWALL_OBJECT, firewallSkipReason } from '../support/firewall-harness.js';
import type { ChildJob, ChildReport } from './firewall-nft-child.js';

const skip = firewallSkipReason() || labPrerequisites(['ip', 'nft', 'python3', 'taskset']) || false;
const SEED = process.env.FW_NFT_SEED ? Number(process.env.FW_NFT_SEED) >>> 0 : (Date.now() ^ (process.pid << 8)) >>> 0;
const POLICIES = Number(process.env.FW_NFT_POLICIES ?? 1000);
/** policies of 101-200 rules among them (the rest: 1-100, log-uniform, so most are small: the
 * firewall compiles a random 200-rule policy of overlapping networks in about a second) */
const BIG = Math.ceil(POLICIES / 25);
const MAC_A = '02:53:4e:0f:00:0a';
const MAC_B = '02:53:4e:0f:00:0b';

describe('xdp-firewall agrees with nftables on real frames (differential, independent translation)', { skip }, () => {
  let lab: Lab;

  before(async () => {
    lab = await Lab.create({
      name: 'fw-nft',
      hosts: [{ name: 'fw' }],
      links: [
        { a: { host: 'fw', ifname: 'a1', mac: MAC_A }, b: { host: 'fw', ifname: 'b1', mac: MAC_B } },
        { a: { host: 'fw', ifname: 'a2', mac: MAC_A }, b: { host: 'fw', ifname: 'b2', mac: MAC_B } },
      ],
      offloads: { checksum: false, vlan: false },
    });
    // the far ends only receive: no address, no IPv6 chatter of their own
    for (const role of ['a1', 'b1', 'a2', 'b2']) await lab.sysctl('fw', `net.ipv6.conf.${lab.ifname(role)}.disable_ipv6`, '1');
  });

  after(async () => {
    await lab?.destroy();
  });

  it(`${POLICIES} random policies of up to 200 rules and 3 of 10,000 rules, IPv4 and IPv6: every verdict equal (seed ${SEED})`, { timeout: 600_000 }, async (t) => {
    t.diagnostic(`FW_NFT_SEED=${SEED} reproduces this run`);
    const job: ChildJob = {
      objectPath: FIREWALL_OBJECT,
      a1: lab.ifname('a1'),
      b1: lab.ifname('b1'),
      a2: lab.ifname('a2'),
      b2: lab.ifname('b2'),
      srcMac: MAC_A,
      dstMac: MAC_B,
      seed: SEED,
      plan: [
        { policies: POLICIES - BIG, kind: 'random', min: 1, max: 100, log: true, frames: 48 },
        { policies: BIG, kind: 'random', min: 101, max: 200, frames: 48 },
        { policies: 3, kind: 'large', min: 10_000, max: 10_000, dense: 30, frames: 1500 },
      ],
    };
    const child = lab.spawn('fw', process.execPath, [path.join(REPO_ROOT, 'dist', 'test', 'e2e', 'firewall-nft-child.js'), JSON.stringify(job)]);
    const exit = await child.exited;
    assert.equal(exit.code, 0, `the differential child failed (${exit.code ?? exit.signal}): ${child.stderr.slice(-3000)}`);
    const r = JSON.parse(child.stdout.trim().split('\n').pop()!) as ChildReport;
    t.diagnostic(
      `${r.policies} policies (${r.redrawn} redrawn, up to ${r.rulesMax} rules), ${r.frames} frames, XDP ${r.xdpMode}, ` +
        `${(r.ms.total / 1000).toFixed(1)} s (nft load ${(r.ms.nftLoad / 1000).toFixed(1)} s, firewall apply ${(r.ms.fwApply / 1000).toFixed(1)} s, frames ${(r.ms.pump / 1000).toFixed(1)} s); ${JSON.stringify(r.outcomes)}`,
    );
    assert.deepEqual(r.unseen, [], 'every frame sent was counted by the nft chain and by xdp-firewall, and every frame xdp-firewall passed arrived');
    assert.equal(r.nftLost, 0, 'every frame the nft chain let through arrived, and none it refused did');
    assert.equal(r.captureDrops, 0, 'the receiving sockets lost no frame');
    assert.equal(r.xdpMode, 'native');
    assert.equal(
      r.disagreementCount,
      0,
      `${r.disagreementCount} verdicts differ (FW_NFT_SEED=${SEED}); first ones:\n${r.disagreements.map((d) => JSON.stringify(d)).join('\n')}`,
    );
    assert.equal(r.policies, POLICIES + 3);
    assert.equal(r.rulesMax, 10_000);
    assert.ok(r.rulesBig >= BIG, `only ${r.rulesBig} policies of more than 100 rules`);
    // The comparison says little unless every kind of frame and both verdicts happened often.
    for (const k of ['pass', 'drop', 'v4', 'v6', 'tcp', 'udp', 'icmp', 'other'] as const) {
      assert.ok(r.outcomes[k] > r.frames / 50, `${k} occurred only ${r.outcomes[k]} times in ${r.frames} frames`);
    }
    assert.ok(r.outcomes.fragment > r.frames / 100, `later fragments: only ${r.outcomes.fragment}`);
  });
});
