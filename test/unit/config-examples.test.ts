import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { loadConfigFile } from '../../src/catalog.js';
import { compileFirewall, matchPacket, type CompiledFirewall } from '../../src/engines/firewall/compile.js';
import { GATEWAY_PLAN as LAB } from '../../src/lab/gateway.js';
import { parseAddress } from '../../src/net/ip.js';

// dist/test/unit/ -> repository root
const repoFile = (p: string): string => fileURLToPath(new URL(`../../../${p}`, import.meta.url));

describe('shipped configs', () => {
  it('config/example.yaml loads without warnings and sets every section', async () => {
    const c = await loadConfigFile(repoFile('config/example.yaml'));
    assert.deepEqual(c.warnings, []);
    assert.equal(c.firewall.rules.length, 6);
    assert.equal(c.firewall.mode, 'block');
    const compiled = compileFirewall(c.firewall, c.resolved.firewall.aliases);
    assert.ok(compiled.rules.length >= 6);
    assert.deepEqual(c.resolved.firewall.aliases.get('scanners')?.map(String), ['203.0.113.0/24', '2001:db8:bad::/48']);
    assert.equal(c.alerting.eve.path, '/var/log/ebpfsentinel/eve.json');
  });

  describe('config/demo.yaml against the demo lab plan', async () => {
    const c = await loadConfigFile(repoFile('config/demo.yaml'));
    const fw: CompiledFirewall = compileFirewall(c.firewall, c.resolved.firewall.aliases);
    const TCP = 6;
    const UDP = 17;
    const verdict = (src: string, dst: string, proto: number, extra: { dstPort?: number; srcPort?: number; icmpType?: number } = {}): string => {
      const s = parseAddress(src);
      const r = matchPacket(fw, { family: s.family, src: s.addr, dst: parseAddress(dst).addr, proto, srcPort: 40000, ...extra });
      return `${r.action}:${r.ruleId ?? 'default'}`;
    };

    it('loads cleanly with a block list of a few hundred entries', () => {
      assert.deepEqual(c.warnings, []);
      const bl = c.resolved.firewall.aliases.get('blocklist')!;
      assert.ok(bl.length >= 300, `${bl.length} entries`);
      assert.ok(bl.some((x) => x.family === 6 && x.prefix === 48));
      assert.equal(fw.defaultAction, 'drop');
    });

    for (const fam of ['ipv4', 'ipv6'] as const) {
      const v6 = fam === 'ipv6';
      const att = LAB.attacker[fam];
      const cli = LAB.client[fam];
      const srv = LAB.server[fam];
      it(`${fam}: the attacker is blocked whatever it sends`, () => {
        assert.equal(verdict(att, srv, TCP, { dstPort: 80 }), 'drop:blocklist');
        assert.equal(verdict(att, srv, v6 ? 58 : 1, { icmpType: v6 ? 128 : 8 }), 'drop:blocklist');
      });
      it(`${fam}: the client reaches web, DNS, SSH and ping; telnet and others are refused`, () => {
        assert.equal(verdict(cli, srv, TCP, { dstPort: 80 }), 'pass:web');
        assert.equal(verdict(cli, srv, TCP, { dstPort: 443 }), 'pass:web-tls');
        assert.equal(verdict(cli, srv, UDP, { dstPort: 53 }), 'pass:dns');
        assert.equal(verdict(cli, srv, TCP, { dstPort: 22 }), 'pass:ssh-client');
        assert.equal(verdict(cli, srv, v6 ? 58 : 1, { icmpType: v6 ? 128 : 8 }), v6 ? 'pass:ping-server-v6' : 'pass:ping-server-v4');
        assert.equal(verdict(cli, srv, TCP, { dstPort: 23 }), 'drop:telnet');
        assert.equal(verdict(cli, srv, UDP, { dstPort: 5001 }), 'log:udp-test-log');
        assert.equal(verdict(cli, srv, TCP, { dstPort: 8080 }), 'drop:default');
      });
    }

    it('ipv6: neighbour discovery between the client and the gateway is allowed', () => {
      assert.equal(verdict(LAB.client.ipv6, LAB.gwOutside.ipv6, 58, { icmpType: 135 }), 'pass:icmpv6-ns');
      assert.equal(verdict(LAB.client.ipv6, LAB.gwOutside.ipv6, 58, { icmpType: 136 }), 'pass:icmpv6-na');
    });
  });
});
