// Runs inside the router of tc-event-ifindex.test.ts (`ip netns exec`): attaches
// tc_flow_event.bpf.o at TC ingress and egress of the given interfaces, reads its ring with
// the agent's ring reader and firewall decoder, and answers each stdin line with the events
// decoded since the last one (the first line it prints gives the interfaces' ifindexes).
import readline from 'node:readline';
import { decodeFirewallEvent, emptyFirewallEvent } from '../../src/engines/firewall/events.js';
import { layouts } from '../../src/kernel/layouts.gen.js';
import { ifindexOf, type Link } from '../../src/kernel/link.js';
import { BpfObject } from '../../src/kernel/object.js';
import { RingReader } from '../../src/kernel/ring.js';
import { formatAddress } from '../../src/net/ip.js';

export interface FlowEventSeen {
  /** which entry wrote it: the header's flags */
  hook: 'ingress' | 'egress';
  ifindex: number;
  family: number;
  src: string;
  dst: string;
  icmpType: number;
}

const [objPath, ...ifnames] = process.argv.slice(2);
if (!objPath || ifnames.length === 0) throw new Error('usage: tc-event-nshelper OBJECT IFNAME...');
const HDR_FLAGS = layouts.fw_event.fields.hdr.offset + layouts.sentinel_event_hdr.fields.flags.offset;

const obj = BpfObject.load(objPath);
const links: Link[] = [];
let seen: FlowEventSeen[] = [];
let undecoded = 0;
const rec = emptyFirewallEvent();
const ring = new RingReader([obj.mapFd('flow_events')], (buf, off, len) => {
  if (!decodeFirewallEvent(buf, off, len, rec) || rec.family === 0) {
    undecoded++;
    return false;
  }
  seen.push({
    hook: buf.readUInt8(off + HDR_FLAGS) === 1 ? 'ingress' : 'egress',
    ifindex: rec.ifindex,
    family: rec.family,
    src: formatAddress(rec.family, rec.src),
    dst: formatAddress(rec.family, rec.dst),
    icmpType: rec.icmpType,
  });
  return true;
});
try {
  for (const ifname of ifnames) {
    links.push(obj.program('flow_event_ingress').attachTc(ifname, 'ingress'));
    links.push(obj.program('flow_event_egress').attachTc(ifname, 'egress'));
  }
  process.stdout.write(`${JSON.stringify({ ifindex: Object.fromEntries(ifnames.map((n) => [n, ifindexOf(n)])) })}\n`);
  for await (const _line of readline.createInterface({ input: process.stdin })) {
    ring.consume();
    process.stdout.write(`${JSON.stringify({ events: seen, undecoded })}\n`);
    seen = [];
  }
} finally {
  ring.close();
  for (const l of links) l.destroy();
  obj.close();
}
