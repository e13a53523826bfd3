// The router lab itself, before any agent: each segment reaches its router, the LAN reaches the
// far server only through a translation in the router (netfilter's NAT here, as the reference the
// agent's NAT is compared with), a port forward on the router's WAN address reaches the LAN, the
// narrow far link answers a too-big packet with an ICMP error that finds its way back through the
// NAT, and teardown leaves nothing behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRouterLab, type RouterLab } from '../../src/lab/router.js';
import { listLabResources } from '../../src/lab/netns.js';
import { labPrerequisites } from '../support/env.js';

const skip = labPrerequisites(['ip', 'ethtool', 'sysctl', 'ping', 'socat', 'tcpdump', 'python3', 'nft']);

// netfilter NAT in the router: the LAN masqueraded behind the WAN address, WAN port 8080 forwarded
// to lansrv port 80. Written here, not derived from any agent config.
function nftNat(r: RouterLab): string {
  return `
table inet labnat {
  chain pre {
    type nat hook prerouting priority dstnat;
    iifname "${r.router.wan.ifname}" tcp dport 8080 ip daddr ${r.router.wan.ipv4} dnat ip to ${r.lansrv.ipv4}:80
    iifname "${r.router.wan.ifname}" tcp dport 8080 ip6 daddr ${r.router.wan.ipv6} dnat ip6 to [${r.lansrv.ipv6}]:80
  }
  chain post {
    type nat hook postrouting priority srcnat;
    oifname "${r.router.wan.ifname}" masquerade
  }
}
`;
}

describe('router lab (no agent)', { skip: skip ?? false }, () => {
  let r: RouterLab;

  before(async () => {
    r = await buildRouterLab();
  });

  after(async () => {
    await r?.destroy();
  });

  test('names carry the run prefix; the router holds two plain veths with offloads off', async () => {
    assert.match(r.prefix, /^esn[0-9a-z]{4}$/);
    for (const ns of r.lab.namespaces) assert.ok(ns.startsWith(`${r.prefix}-`), ns);
    const res = await listLabResources(r.prefix);
    assert.deepEqual(res.links, []);
    const links = JSON.parse((await r.lab.ip('router', '-j', '-d', 'link', 'show')).stdout) as Array<{ ifname: string; address: string; linkinfo?: { info_kind?: string } }>;
    const veths = links.filter((l) => l.linkinfo?.info_kind === 'veth');
    assert.deepEqual(veths.map((l) => l.ifname).sort(), [r.router.lan.ifname, r.router.wan.ifname].sort());
    assert.equal(veths.find((l) => l.ifname === r.router.wan.ifname)?.address, r.router.wan.mac);
    const feats = await r.lab.exec('router', 'ethtool', ['-k', r.router.lan.ifname]);
    assert.match(feats.stdout, /tx-checksumming: off/);
    const fwd = await r.lab.exec('router', 'sysctl', ['-n', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding', 'net.ipv4.conf.all.send_redirects']);
    assert.deepEqual(fwd.stdout.trim().split('\n'), ['1', '1', '0']);
  });

  test('each host reaches its router, v4 and v6; the router reaches the far server via isp', async () => {
    const pairs: Array<[string, string]> = [
      ['client', r.router.lan.ipv4],
      ['client', r.router.lan.ipv6],
      ['lansrv', r.client.ipv4],
      ['lansrv', r.client.ipv6],
      ['remote', r.router.wan.ipv4],
      ['remote', r.router.wan.ipv6],
      ['router', r.server.ipv4],
      ['router', r.server.ipv6],
      ['remote', r.server.ipv4],
      ['remote', r.server.ipv6],
    ];
    for (const [host, addr] of pairs) assert.deepEqual(await r.lab.ping(host, addr, { count: 2, intervalMs: 100 }), { sent: 2, received: 2 }, `${host} -> ${addr}`);
  });

  test('without a translation the LAN cannot reach the server: nothing routes back to the LAN', async () => {
    for (const addr of [r.server.ipv4, r.server.ipv6]) {
      const p = await r.lab.ping('client', addr, { count: 2, intervalMs: 100, replyTimeoutMs: 1000 });
      assert.equal(p.received, 0, `client -> ${addr} answered without NAT`);
    }
  });

  test('with netfilter NAT in the router: masquerade to the far server, a forward from remote to lansrv, the too-big error back to the client', async () => {
    await r.lab.exec('router', 'nft', ['-f', '-'], { input: nftNat(r) });
    try {
      for (const fam of [4, 6] as const) {
        const srv = await r.lab.startTcpServer('server', 7000 + fam, fam);
        const fwd = await r.lab.startTcpServer('lansrv', 80, fam);
        try {
          const dst = fam === 4 ? r.server.ipv4 : r.server.ipv6;
          const c = await r.lab.tcpConnect('client', dst, 7000 + fam, { payload: `masq-v${fam}` });
          assert.equal(c.echoed, `masq-v${fam}`, c.error);
          assert.deepEqual(srv.peers().map((p) => p.addr), [fam === 4 ? r.router.wan.ipv4 : r.router.wan.ipv6], 'the server sees the router WAN address');

          const wan = fam === 4 ? r.router.wan.ipv4 : r.router.wan.ipv6;
          const f = await r.lab.tcpConnect('remote', wan, 8080, { payload: `fwd-v${fam}` });
          assert.equal(f.echoed, `fwd-v${fam}`, f.error);
          assert.deepEqual(fwd.peers().map((p) => p.addr), [fam === 4 ? r.remote.ipv4 : r.remote.ipv6], 'lansrv sees the remote host');
        } finally {
          await srv.stop();
          await fwd.stop();
        }
      }
      // 1300 bytes with DF do not fit the far link (1280): isp answers, the NAT carries it home.
      const v4 = await r.lab.exec('client', 'ping', ['-4', '-n', '-c', '1', '-W', '2', '-M', 'do', '-s', '1300', r.server.ipv4], { allowFail: true });
      assert.match(v4.stdout, new RegExp(`From ${r.isp.wan.ipv4.replace(/\./g, '\\.')} .*Frag needed and DF set \\(mtu = 1280\\)`), v4.stdout);
      const v6 = await r.lab.exec('client', 'ping', ['-6', '-n', '-c', '1', '-W', '2', '-M', 'do', '-s', '1300', r.server.ipv6], { allowFail: true });
      assert.match(v6.stdout, new RegExp(`From ${r.isp.wan.ipv6} .*Packet too big: mtu=1280`), v6.stdout);
    } finally {
      await r.lab.exec('router', 'nft', ['delete', 'table', 'inet', 'labnat'], { allowFail: true });
    }
  });

  test('destroy leaves no namespace or link of the run', async () => {
    const rep = await r.destroy();
    assert.deepEqual(rep.errors, []);
    assert.equal(rep.namespacesDeleted.length, 8);
    const left = await listLabResources(r.prefix);
    assert.deepEqual(left, { namespaces: [], links: [] });
  });
});
