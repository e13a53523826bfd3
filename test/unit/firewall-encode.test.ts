import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/catalog.js';
import { compileFirewall, type CompiledFirewall } from '../../src/engines/firewall/compile.js';
import { encodeGeneration, ruleSlotKey } from '../../src/engines/firewall/encode.js';
import { layouts } from '../../src/kernel/layouts.gen.js';
import { fw_action, fw_limits, fw_match } from '../../src/kernel/contract.gen.js';

function compile(firewallYaml: string): CompiledFirewall {
  const c = parseConfigText(`agent:\n  interfaces: [eth1]\nfirewall:\n${firewallYaml}`, 'config.yaml');
  return compileFirewall(c.firewall, c.resolved.firewall.aliases);
}

/** Reads a field of a struct buffer by its generated layout (host order = little-endian here). */
function field(buf: Buffer, struct: { fields: Record<string, { offset: number; size: number }> }, name: string): number | string {
  const f = struct.fields[name];
  assert.ok(f, `layout has no field ${name}`);
  switch (f.size) {
    case 1:
      return buf.readUInt8(f.offset);
    case 2:
      return buf.readUInt16LE(f.offset);
    case 4:
      return buf.readUInt32LE(f.offset);
    default:
      return buf.toString('hex', f.offset, f.offset + f.size);
  }
}

const R = layouts.fw_rule;

describe('firewall encode', () => {
  const policy = compile(`  default_policy: drop
  aliases:
    bl: { values: [198.18.66.0/24, 198.18.67.0/25, "2001:db8:66::/48"] }
  rules:
    - { id: web, priority: 20, action: allow, protocol: tcp, src_port: "1024-65535", dst_port: "80-443", dst_ip: 198.18.1.0/24, vlan_id: 300 }
    - { id: bl, priority: 10, action: deny, src_alias: bl }
    - { id: ping6, priority: 30, action: log, protocol: icmpv6, icmp_type: 128, icmp_code: 0, src_ip: "2001:db8:10::/64" }
`);
  const ruleNums = new Map([
    ['bl', 3],
    ['web', 1],
    ['ping6', 7],
  ]);
  const enc = encodeGeneration(policy, { generation: 1, ruleNums, setIdBase: 0x8000_0001, policyId: 1 });

  it('one fw_rule of the layout size per kernel rule, in priority order', () => {
    assert.equal(enc.rules.length, 4);
    for (const b of enc.rules) assert.equal(b.length, R.size);
    assert.deepEqual(
      enc.rules.map((b) => field(b, R, 'rule_num')),
      [3, 3, 1, 7],
    );
    assert.equal(enc.maxRules, fw_limits.FW_MAX_RULES);
    assert.equal(ruleSlotKey(1, 5), fw_limits.FW_MAX_RULES + 5);
    assert.equal(ruleSlotKey(0, 5), 5);
  });

  it('writes addresses and masks in network order, pre-masked', () => {
    const web = enc.rules[2]!;
    assert.equal(field(web, R, 'dst_addr'), 'c6120100' + '00'.repeat(12));
    assert.equal(field(web, R, 'dst_mask'), 'ffffff00' + '00'.repeat(12));
    assert.equal(field(web, R, 'src_addr'), '00'.repeat(16));
    assert.equal(field(web, R, 'src_mask'), '00'.repeat(16));
    const ping6 = enc.rules[3]!;
    assert.equal(field(ping6, R, 'src_addr'), '20010db80010' + '00'.repeat(10));
    assert.equal(field(ping6, R, 'src_mask'), 'ff'.repeat(8) + '00'.repeat(8));
  });

  it('writes ports, vlan, match bits, family, proto, icmp and action in host order', () => {
    const web = enc.rules[2]!;
    assert.deepEqual(
      ['src_port_lo', 'src_port_hi', 'dst_port_lo', 'dst_port_hi', 'vlan_id', 'match', 'family', 'proto', 'action'].map((n) => field(web, R, n)),
      [1024, 65535, 80, 443, 300, fw_match.FW_M_PROTO | fw_match.FW_M_SRC_PORT | fw_match.FW_M_DST_PORT | fw_match.FW_M_DST_NET | fw_match.FW_M_VLAN, 4, 6, fw_action.FW_ACT_PASS],
    );
    // little-endian on the wire of the map: 1024 = 00 04
    assert.equal(web.readUInt8(R.fields.src_port_lo.offset), 0x00);
    assert.equal(web.readUInt8(R.fields.src_port_lo.offset + 1), 0x04);
    const ping6 = enc.rules[3]!;
    assert.deepEqual(
      ['match', 'family', 'proto', 'icmp_type', 'icmp_code', 'action'].map((n) => field(ping6, R, n)),
      [fw_match.FW_M_PROTO | fw_match.FW_M_ICMP_TYPE | fw_match.FW_M_ICMP_CODE | fw_match.FW_M_SRC_NET, 6, 58, 128, 0, fw_action.FW_ACT_LOG],
    );
    assert.equal(field(enc.rules[0]!, R, 'action'), fw_action.FW_ACT_DROP);
  });

  it('set ids are setIdBase + set index, per family', () => {
    const [bl4, bl6] = enc.rules;
    assert.equal(field(bl4!, R, 'match'), fw_match.FW_M_SRC_SET);
    assert.equal(field(bl4!, R, 'family'), 4);
    assert.equal(field(bl4!, R, 'src_set'), 0x8000_0001);
    assert.equal(field(bl6!, R, 'src_set'), 0x8000_0002);
    assert.equal(field(bl4!, R, 'dst_set'), 0);
  });

  it('fw_gen carries the count and the default action', () => {
    assert.equal(enc.gen.length, layouts.fw_gen.size);
    assert.equal(field(enc.gen, layouts.fw_gen, 'rule_count'), 4);
    assert.equal(field(enc.gen, layouts.fw_gen, 'default_action'), fw_action.FW_ACT_DROP);
    const alert = compile(`  mode: alert\n  default_policy: drop\n`);
    const e = encodeGeneration(alert, { generation: 0, ruleNums: new Map(), setIdBase: 1, policyId: 1 });
    assert.equal(field(e.gen, layouts.fw_gen, 'default_action'), fw_action.FW_ACT_LOG);
    assert.equal(field(e.gen, layouts.fw_gen, 'rule_count'), 0);
    assert.deepEqual([e.rules, e.lpmV4, e.lpmV6], [[], [], []]);
  });

  it('LPM keys: prefixlen = 32 + CIDR length (host order), set id big-endian, address network order', () => {
    const K4 = layouts.fw_lpm_v4_key;
    const K6 = layouts.fw_lpm_v6_key;
    assert.equal(enc.lpmV4.length, 2);
    assert.equal(enc.lpmV6.length, 1);
    const [a, b] = enc.lpmV4;
    assert.equal(a!.key.length, K4.size);
    assert.equal(field(a!.key, K4, 'prefixlen'), 32 + 24);
    assert.equal(a!.key.readUInt32BE(K4.fields.set_id.offset), 0x8000_0001);
    assert.equal(a!.key.toString('hex', K4.fields.addr.offset, K4.fields.addr.offset + 4), 'c6124200');
    assert.equal(field(b!.key, K4, 'prefixlen'), 32 + 25);
    assert.equal(b!.key.toString('hex', K4.fields.addr.offset, K4.fields.addr.offset + 4), 'c6124300');
    const c = enc.lpmV6[0]!;
    assert.equal(c.key.length, K6.size);
    assert.equal(field(c.key, K6, 'prefixlen'), 32 + 48);
    assert.equal(c.key.readUInt32BE(K6.fields.set_id.offset), 0x8000_0002);
    assert.equal(c.key.toString('hex', K6.fields.addr.offset, K6.fields.addr.offset + 16), '20010db80066' + '00'.repeat(10));
    for (const e of [...enc.lpmV4, ...enc.lpmV6]) assert.deepEqual([...e.value], [1]);
  });

  it('refuses a rule without a number, or a number the hit map cannot hold', () => {
    assert.throws(() => encodeGeneration(policy, { generation: 0, ruleNums: new Map([['web', 1]]), setIdBase: 1, policyId: 1 }), /no rule number assigned to rule "bl"/);
    const bad = new Map(ruleNums);
    bad.set('web', fw_limits.FW_MAX_RULE_NUMS);
    assert.throws(() => encodeGeneration(policy, { generation: 0, ruleNums: bad, setIdBase: 1, policyId: 1 }), /rule number 32768 of "web" is outside 1\.\.32767/);
    assert.throws(() => encodeGeneration(policy, { generation: 0, ruleNums, setIdBase: 0xffff_ffff, policyId: 1 }), /set id base/);
  });
});
