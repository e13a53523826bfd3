// The gateway lab itself, before any agent: real ping/socat traffic crosses gw in both address
// families from both outside hosts, and teardown leaves nothing behind, also when the owning
// process is signalled, exits without destroy(), or is SIGKILLed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildGatewayLab, type GatewayLab } from '../../src/lab/gateway.js';
import { listLabResources, Lab } from '../../src/lab/netns.js';
import { run } from '../../src/lab/run.js';
import { labPrerequisites } from '../support/env.js';
import { parseFrame, tcpFrame, verifyIpv4Checksum, verifyL4Checksum } from '../support/frames.js';

const skip = labPrerequisites();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function eventually(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${what} did not happen within ${timeoutMs} ms`);
}

describe('gateway lab (no agent)', { skip: skip ?? false }, () => {
  let g: GatewayLab;
  let sleeperPid = 0;
  let grandchildPid = 0;

  before(async () => {
    g = await buildGatewayLab();
  });

  after(async () => {
    // The last test destroys it; this covers a failure before that.
    await g?.destroy();
  });

  test('names carry the run prefix and fit Linux limits', async () => {
    assert.match(g.prefix, /^esn[0-9a-z]{4}$/);
    for (const ns of g.lab.namespaces) assert.ok(ns.startsWith(`${g.prefix}-`), ns);
    for (const dev of [g.client.ifname, g.attacker.ifname, g.server.ifname, g.gw.outside.ifname, g.gw.inside.ifname, g.sw.bridge]) {
      assert.ok(dev.startsWith(g.prefix) && dev.length <= 15, dev);
    }
    const res = await listLabResources(g.prefix);
    assert.deepEqual(res.namespaces.sort(), g.lab.namespaces.sort());
    // Veths are born inside their namespaces: the root namespace never sees them.
    assert.deepEqual(res.links, []);
    const link = await g.lab.ip('gw', '-j', 'link', 'show', g.gw.outside.ifname);
    const info = JSON.parse(link.stdout) as Array<{ address: string; operstate: string }>;
    assert.equal(info[0]!.address, g.gw.outside.mac);
    const feats = await g.lab.exec('gw', 'ethtool', ['-k', g.gw.outside.ifname]);
    assert.match(feats.stdout, /rx-vlan-offload: off/);
    assert.match(feats.stdout, /tx-checksumming: off/);
  });

  test('ping v4 and v6 from client and attacker reaches the server through gw', async () => {
    for (const host of ['client', 'attacker'] as const) {
      for (const addr of [g.server.ipv4, g.server.ipv6]) {
        const r = await g.lab.ping(host, addr, { count: 3, intervalMs: 100 });
        assert.deepEqual(r, { sent: 3, received: 3 }, `${host} -> ${addr}`);
      }
    }
    // The path really goes through gw: the first hop's TTL/hop-limit decrement shows at the server.
    const cap = await g.lab.capture('server', g.server.ifname, 'icmp or icmp6');
    await g.lab.ping('client', g.server.ipv4, { count: 1 });
    const frames = (await cap.stop()).records.map((r) => parseFrame(r.data));
    const req = frames.find((f) => f.ip?.version === 4 && f.ip.src === g.client.ipv4);
    assert.ok(req?.ip?.version === 4, 'echo request seen at the server');
    assert.equal(req.ip.ttl, 63);
    assert.equal(req.eth.src, g.gw.inside.mac);
  });

  test('an unreachable address is reported as loss, not an error', async () => {
    const r = await g.lab.ping('client', '198.18.1.99', { count: 2, intervalMs: 100 });
    assert.equal(r.sent, 2);
    assert.equal(r.received, 0);
  });

  test('TCP v4 and v6 echo through gw, and the server sees the real sources', async () => {
    const s4 = await g.lab.startTcpServer('server', 8080, 4);
    const s6 = await g.lab.startTcpServer('server', 8080, 6);
    try {
      const cases = [
        ['client', g.server.ipv4, g.client.ipv4],
        ['attacker', g.server.ipv4, g.attacker.ipv4],
        ['client', g.server.ipv6, g.client.ipv6],
        ['attacker', g.server.ipv6, g.attacker.ipv6],
      ] as const;
      for (const [host, dst, src] of cases) {
        const payload = `hello from ${host} to ${dst}\n`;
        const r = await g.lab.tcpConnect(host, dst, 8080, { payload });
        assert.equal(r.connected, true, `${host} -> ${dst}: ${r.error}`);
        assert.equal(r.echoed, payload);
        const server = dst.includes(':') ? s6 : s4;
        assert.ok(server.peers().some((p) => p.addr === src), `server saw ${src}: ${JSON.stringify(server.peers())}`);
      }
      assert.equal(s4.peers().length, 2);
      assert.equal(s6.peers().length, 2);
      assert.match(s4.received(), /hello from client to 198\.18\.1\.1\n/);
      assert.match(s6.received(), /hello from attacker to 2001:db8:0:1::1\n/);
      const refused = await g.lab.tcpConnect('client', g.server.ipv6, 8081, { payload: 'x' });
      assert.equal(refused.connected, false);
      assert.match(refused.error, /Connection refused/);
    } finally {
      await s4.stop();
      await s6.stop();
    }
  });

  test('silently dropped traffic times out within the bound and is reported as not connected', async () => {
    // A blackhole route on gw discards without any ICMP: what a firewall drop looks like.
    await g.lab.ip('gw', 'route', 'add', 'blackhole', '198.18.1.77/32');
    await g.lab.ip('gw', '-6', 'route', 'add', 'blackhole', '2001:db8:0:1::77/128');
    for (const dst of ['198.18.1.77', '2001:db8:0:1::77']) {
      const t0 = Date.now();
      const r = await g.lab.tcpConnect('attacker', dst, 80, { payload: 'x', timeoutMs: 1000 });
      const took = Date.now() - t0;
      assert.equal(r.connected, false);
      assert.equal(r.echoed, '');
      assert.match(r.error, /timed out/i);
      assert.ok(took < 4000, `took ${took} ms`);
      const u = await g.lab.udpSend('attacker', dst, 53, 'q', { timeoutMs: 500 });
      assert.equal(u.reply, '');
    }
  });

  test('UDP v4 and v6 echo through gw', async () => {
    const u4 = await g.lab.startUdpServer('server', 5300, 4);
    const u6 = await g.lab.startUdpServer('server', 5300, 6);
    try {
      for (const host of ['client', 'attacker'] as const) {
        for (const dst of [g.server.ipv4, g.server.ipv6]) {
          const r = await g.lab.udpSend(host, dst, 5300, `dgram ${host}`);
          assert.equal(r.reply, `dgram ${host}`, `${host} -> ${dst}: ${r.error}`);
        }
      }
      assert.deepEqual(u4.peers().map((p) => p.addr).sort(), [g.attacker.ipv4, g.client.ipv4].sort());
      assert.deepEqual(u6.peers().map((p) => p.addr).sort(), [g.attacker.ipv6, g.client.ipv6].sort());
      const none = await g.lab.udpSend('client', g.server.ipv4, 5301, 'nobody home');
      assert.equal(none.reply, '');
      assert.match(none.error, /Connection refused/);
    } finally {
      await u4.stop();
      await u6.stop();
    }
  });

  test('a capture on gw outside counts the packets and sees correct checksums', async () => {
    const srv = await g.lab.startTcpServer('server', 9000, 6);
    const cap = await g.lab.capture('gw', g.gw.outside.ifname, `tcp port 9000 or udp port 9001`);
    try {
      const r = await g.lab.tcpConnect('attacker', g.server.ipv6, 9000, { payload: 'abc' });
      assert.equal(r.connected, true, r.error);
      await g.lab.udpSend('client', g.server.ipv4, 9001, 'one way');
    } finally {
      await srv.stop();
    }
    const res = await cap.stop();
    assert.equal(res.count, res.records.length);
    assert.equal(res.droppedByKernel, 0);
    const frames = res.records.map((rec) => rec.data);
    const tcp = frames.filter((f) => parseFrame(f).l4?.proto === 'tcp');
    const udp = frames.filter((f) => parseFrame(f).l4?.proto === 'udp');
    // A handshake, data, FIN exchange: at least 3 packets each way on the outside veth.
    assert.ok(tcp.length >= 6, `captured ${tcp.length} TCP packets`);
    assert.equal(udp.length, 1);
    // Checksum offload is off, so what crossed the veth carries full, correct checksums.
    for (const f of [...tcp, ...udp]) assert.equal(verifyL4Checksum(f), true);
    assert.equal(verifyIpv4Checksum(udp[0]!), true);
  });

  test('injected VLAN and QinQ frames cross the outside segment with their tags in-band', async () => {
    // This kernel may lack 802.1Q devices; tagged traffic is injected as crafted frames instead.
    const base = { src: g.client.ipv4, dst: g.server.ipv4, srcMac: g.client.mac, dstMac: g.gw.outside.mac, sport: 40000, dport: 80 };
    const frames = [
      tcpFrame({ ...base, vlans: [{ vid: 100 }] }),
      tcpFrame({ ...base, src: g.client.ipv6, dst: g.server.ipv6, vlans: [{ vid: 200 }, { vid: 300 }] }),
      tcpFrame({ ...base, dport: 81 }),
    ];
    // No `vlan` keyword in the filter: it shifts the offsets of everything after it.
    const cap = await g.lab.capture('gw', g.gw.outside.ifname, `ether src ${g.client.mac} and not arp and not icmp6`);
    assert.equal(await g.lab.inject('client', g.client.ifname, frames), 3);
    const res = await cap.stop();
    assert.equal(res.droppedByKernel, 0);
    // Byte-exact: neither the bridge nor the veths stripped or rewrote anything.
    assert.deepEqual(res.records.map((r) => r.data.toString('hex')).sort(), frames.map((f) => f.toString('hex')).sort());
    const tags = res.records.map((r) => parseFrame(r.data).vlans.map((v) => v.vid));
    assert.deepEqual(tags.map((t) => t.join('.')).sort(), ['', '100', '200.300']);
  });

  test('spawned processes are tracked, with their children', async () => {
    const sleeper = g.lab.spawn('gw', 'sleep', ['300']);
    // A shell that forks: the grandchild must die with it (process-group kill).
    const shell = g.lab.spawn('gw', 'sh', ['-c', 'sleep 300 & echo child=$!; wait']);
    const m = await shell.waitFor(/child=(\d+)/, 5000);
    grandchildPid = Number(m[1]);
    sleeperPid = sleeper.pid;
    assert.ok(alive(sleeperPid) && alive(grandchildPid));
    assert.deepEqual(g.lab.processes.map((p) => p.pid).sort(), [sleeper.pid, shell.pid].sort());
  });

  test('destroy removes every namespace and link, stops its processes, and is idempotent', async () => {
    const namespaces = g.lab.namespaces;
    const report = await g.destroy();
    assert.deepEqual(report.errors, []);
    assert.deepEqual(report.namespacesDeleted.sort(), namespaces.sort());
    assert.equal(report.processesStopped, 2);
    await eventually(() => !alive(sleeperPid), 3000, 'sleeper exit');
    await eventually(() => !alive(grandchildPid), 3000, 'grandchild exit');
    assert.deepEqual(await listLabResources(g.prefix), { namespaces: [], links: [] });
    const netns = await run(['ip', 'netns', 'list']);
    assert.doesNotMatch(netns.stdout, new RegExp(g.prefix));
    assert.equal(await g.destroy(), report);
    await assert.rejects(async () => g.lab.exec('client', 'true'), /is destroyed/);
  });
});

describe('lab cleanup when the owner does not call destroy()', { skip: skip ?? false }, () => {
  const netnsModule = fileURLToPath(new URL('../../src/lab/netns.js', import.meta.url));

  /** Starts a node process that builds a two-host lab, prints its prefix, then does `tail`. */
  async function owner(tail: string): Promise<{ prefix: string; pid: number; sleeper: number; exited: Promise<number | null> }> {
    const script = `
      import { Lab } from ${JSON.stringify(netnsModule)};
      const lab = await Lab.create({ name: 'owner', hosts: [{ name: 'a' }, { name: 'b' }],
        links: [{ a: { host: 'a', ifname: 'x', addrs: ['198.18.5.1/30', '2001:db8:5::1/64'] }, b: { host: 'b', ifname: 'y', addrs: ['198.18.5.2/30'] } }] });
      const p = lab.spawn('a', 'sleep', ['300']);
      console.log('prefix=' + lab.prefix + ' sleeper=' + p.pid);
      ${tail}
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    await eventually(() => /prefix=(esn\w+)/.test(out) || child.exitCode !== null, 15_000, 'owner start');
    const m = /prefix=(esn\w+) sleeper=(\d+)/.exec(out);
    assert.ok(m, `owner did not start: ${err}`);
    const prefix = m[1]!;
    assert.equal((await listLabResources(prefix)).namespaces.length, 2);
    return { prefix, pid: child.pid!, sleeper: Number(m[2]), exited };
  }

  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    test(`${sig} to the owner tears its lab down`, async () => {
      const o = await owner('setInterval(() => {}, 1000);');
      process.kill(o.pid, sig);
      await o.exited;
      assert.deepEqual(await listLabResources(o.prefix), { namespaces: [], links: [] });
      await eventually(() => !alive(o.sleeper), 3000, 'owner\'s sleeper exit');
    });
  }

  test('a normal exit without destroy() tears the lab down', async () => {
    const o = await owner('setTimeout(() => process.exit(0), 100);');
    assert.equal(await o.exited, 0);
    assert.deepEqual(await listLabResources(o.prefix), { namespaces: [], links: [] });
    await eventually(() => !alive(o.sleeper), 3000, 'owner\'s sleeper exit');
  });

  test('a SIGKILLed owner\'s lab is swept by the next lab created', async () => {
    const o = await owner('setInterval(() => {}, 1000);');
    process.kill(o.pid, 'SIGKILL');
    await o.exited;
    assert.equal((await listLabResources(o.prefix)).namespaces.length, 2, 'SIGKILL leaves the lab behind');
    const registry = JSON.parse(readFileSync(`/run/ebpfsentinel-lab/${o.prefix}.json`, 'utf8')) as { pid: number };
    assert.equal(registry.pid, o.pid);
    assert.ok(alive(o.sleeper), 'the dead owner\'s process is still running in its namespace');
    const next = await Lab.create({ name: 'sweeper', hosts: [{ name: 'c' }], links: [] });
    try {
      assert.deepEqual(await listLabResources(o.prefix), { namespaces: [], links: [] });
      await eventually(() => !alive(o.sleeper), 3000, 'stale sleeper exit');
    } finally {
      await next.destroy();
    }
  });
});
