// Events written at TC name the interface of the hook that saw the packet: the receiving device
// at ingress, the sending one at egress (skb->ifindex). skb->ingress_ifindex is not that at
// egress: it is 0 for a packet the host itself sends and the receiving device for one it
// forwards. A router in a lab (a -- r -- c) runs tc_flow_event.bpf.o (the shared event fill,
// event.h) at TC ingress and egress of both its interfaces; pings a -> c (forwarded by r) and
// r -> a (sent by r), IPv4 and IPv6; every event is read back through the agent's ring reader
// and firewall decoder.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Lab } from '../../src/lab/index.js';
import { labPrerequisites } from '../support/env.js';
import { NsHelper } from '../support/ns-helper.js';
import { objectsBuilt, testObj } from './bridge-util.js';
import type { FlowEventSeen } from './tc-event-nshelper.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const skip = labPrerequisites(['ip', 'ping']) ?? (objectsBuilt('tc_flow_event') ? false : 'build/bpf-test/tc_flow_event.bpf.o is missing (make bpf)');
if (skip && process.env.CI === 'true') throw new Error(`CI=true and this test cannot run: ${skip}`);

const ADDR = {
  a: { 4: '198.18.40.1', 6: '2001:db8:40::1' },
  ra: { 4: '198.18.40.2', 6: '2001:db8:40::2' },
  rc: { 4: '198.18.41.2', 6: '2001:db8:41::2' },
  c: { 4: '198.18.41.1', 6: '2001:db8:41::1' },
} as const;
const ECHO_REQUEST = { 4: 8, 6: 128 } as const;

describe('TC events name the interface of their hook', { skip }, () => {
  let lab: Lab;
  let h: NsHelper;
  let ifindex: Record<string, number>;
  let ra: string;
  let rc: string;

  before(async () => {
    lab = await Lab.create({
      name: 'tcevent',
      hosts: [{ name: 'a' }, { name: 'r', forwarding: true }, { name: 'c' }],
      links: [
        { a: { host: 'a', ifname: 'a0', addrs: [`${ADDR.a[4]}/24`, `${ADDR.a[6]}/64`] }, b: { host: 'r', ifname: 'ra', addrs: [`${ADDR.ra[4]}/24`, `${ADDR.ra[6]}/64`] } },
        { a: { host: 'c', ifname: 'c0', addrs: [`${ADDR.c[4]}/24`, `${ADDR.c[6]}/64`] }, b: { host: 'r', ifname: 'rc', addrs: [`${ADDR.rc[4]}/24`, `${ADDR.rc[6]}/64`] } },
      ],
      routes: [
        { host: 'a', to: '198.18.41.0/24', via: ADDR.ra[4] },
        { host: 'a', to: '2001:db8:41::/64', via: ADDR.ra[6] },
        { host: 'c', to: '198.18.40.0/24', via: ADDR.rc[4] },
        { host: 'c', to: '2001:db8:40::/64', via: ADDR.rc[6] },
      ],
    });
    ra = lab.ifname('ra');
    rc = lab.ifname('rc');
    h = NsHelper.start(lab, 'r', path.join(HERE, 'tc-event-nshelper.js'), [testObj('tc_flow_event'), ra, rc]);
    ifindex = (JSON.parse(await h.next()) as { ifindex: Record<string, number> }).ifindex;
  });

  after(async () => {
    await h?.close();
    await lab?.destroy();
  });

  const collect = () => h.request<{ events: FlowEventSeen[]; undecoded: number }>({ op: 'collect' });

  for (const fam of [4, 6] as const) {
    it(`IPv${fam}: forwarded a -> c, each hook names its own device (egress is not the receiving one)`, async () => {
      await collect();
      const p = await lab.ping('a', ADDR.c[fam], { count: 3 });
      assert.equal(p.received, 3, `ping a -> c over IPv${fam}`);
      const { events, undecoded } = await collect();
      assert.equal(undecoded, 0);
      const req = events.filter((e) => e.icmpType === ECHO_REQUEST[fam]);
      const rep = events.filter((e) => e.icmpType !== ECHO_REQUEST[fam]);
      // requests: in on ra, out on rc; replies: in on rc, out on ra
      const where = (xs: FlowEventSeen[]) => xs.map((e) => `${e.hook}@${e.ifindex}`).sort();
      const expect = (inIf: string, outIf: string) => [...Array(3).fill(`egress@${ifindex[outIf]}`), ...Array(3).fill(`ingress@${ifindex[inIf]}`)].sort();
      assert.deepEqual(where(req), expect(ra, rc), 'echo requests');
      assert.deepEqual(where(rep), expect(rc, ra), 'echo replies');
      for (const e of events) assert.equal(e.family, fam);
      assert.ok(req.every((e) => e.src === ADDR.a[fam] && e.dst === ADDR.c[fam]));
    });

    it(`IPv${fam}: sent by the router itself, the egress event names the sending device (not 0)`, async () => {
      await collect();
      const p = await lab.ping('r', ADDR.a[fam], { count: 3 });
      assert.equal(p.received, 3, `ping r -> a over IPv${fam}`);
      const { events } = await collect();
      const out = events.filter((e) => e.hook === 'egress');
      assert.equal(out.length, 3, 'one egress event per echo request');
      assert.deepEqual(out.map((e) => e.ifindex), [ifindex[ra], ifindex[ra], ifindex[ra]]);
      assert.ok(out.every((e) => e.src === ADDR.ra[fam] && e.dst === ADDR.a[fam] && e.icmpType === ECHO_REQUEST[fam]));
      const inn = events.filter((e) => e.hook === 'ingress');
      assert.deepEqual(inn.map((e) => e.ifindex), [ifindex[ra], ifindex[ra], ifindex[ra]], 'replies come in on ra');
    });
  }
});
