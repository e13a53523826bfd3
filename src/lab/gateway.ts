// The lab the demo and the e2e tests share: an outside segment where a client and an attacker
// sit, and a protected server behind a gateway namespace that routes between the two segments.
//
//   client ──┐
//            ├── sw (bridge) ── gwout ┤ gw ├ gwin ── srv ── server
//   attacker ┘         outside segment        inside segment
//
// The agent runs in `gw` and attaches XDP to `gwout`, the gateway's one outside-facing veth, so
// everything the client and attacker send to the server crosses the firewall on ingress. The
// switch is a bridge in its own namespace so that gw holds only plain veths (XDP must sit on a
// veth, not a bridge).
//
// Addressing plan (RFC 2544 benchmarking range 198.18.0.0/15 and documentation 2001:db8::/32);
// the IPv6 subnet id mirrors the IPv4 third octet and the IPv6 host id mirrors the last octet:
//
//   segment   IPv4             IPv6                 members
//   outside   198.18.0.0/24    2001:db8::/64        gw .1/::1, client .10/::10, attacker .66/::66
//   inside    198.18.1.0/24    2001:db8:0:1::/64    server .1/::1, gw .254/::254
//
// Client and attacker route via 198.18.0.1 / 2001:db8::1, the server via 198.18.1.254 /
// 2001:db8:0:1::254. MACs are fixed (02:53:4e:<segment>:00:<host>) so captures and frames can
// name them. Addresses repeat across runs; only names must be unique, and they are.
import { cidrContains } from './inet.js';
import { Lab, type LabSpec, type OffloadSettings } from './netns.js';

export interface Endpoint {
  /** device name inside the host's namespace */
  ifname: string;
  mac: string;
  ipv4: string;
  ipv6: string;
  prefix4: number;
  prefix6: number;
}

export interface GatewayHost extends Endpoint {
  ns: string;
  gateway4: string;
  gateway6: string;
}

export interface GatewayLab {
  lab: Lab;
  prefix: string;
  client: GatewayHost;
  attacker: GatewayHost;
  server: GatewayHost;
  gw: { ns: string; outside: Endpoint; inside: Endpoint };
  /** the switch namespace holding the outside bridge */
  sw: { ns: string; bridge: string };
  segments: { outside4: string; outside6: string; inside4: string; inside6: string };
  destroy: Lab['destroy'];
}

export const GATEWAY_PLAN = {
  outside4: '198.18.0.0/24',
  outside6: '2001:db8::/64',
  inside4: '198.18.1.0/24',
  inside6: '2001:db8:0:1::/64',
  gwOutside: { ipv4: '198.18.0.1', ipv6: '2001:db8::1', mac: '02:53:4e:00:00:01', role: 'gwout' },
  client: { ipv4: '198.18.0.10', ipv6: '2001:db8::10', mac: '02:53:4e:00:00:10', role: 'cli' },
  attacker: { ipv4: '198.18.0.66', ipv6: '2001:db8::66', mac: '02:53:4e:00:00:66', role: 'att' },
  gwInside: { ipv4: '198.18.1.254', ipv6: '2001:db8:0:1::254', mac: '02:53:4e:01:00:fe', role: 'gwin' },
  server: { ipv4: '198.18.1.1', ipv6: '2001:db8:0:1::1', mac: '02:53:4e:01:00:01', role: 'srv' },
} as const;

const P = GATEWAY_PLAN;

/** The lab spec of the gateway topology (pure: no side effects, unit-tested). */
export function gatewayLabSpec(offloads?: OffloadSettings): LabSpec {
  const a4 = (ip: string): string => `${ip}/24`;
  const a6 = (ip: string): string => `${ip}/64`;
  const spec: LabSpec = {
    name: 'gateway',
    hosts: [{ name: 'client' }, { name: 'attacker' }, { name: 'sw' }, { name: 'gw', forwarding: true }, { name: 'server' }],
    bridges: [{ host: 'sw', name: 'br' }],
    links: [
      { a: { host: 'client', ifname: P.client.role, mac: P.client.mac, addrs: [a4(P.client.ipv4), a6(P.client.ipv6)] }, b: { host: 'sw', ifname: 'swcli', bridge: 'br' } },
      { a: { host: 'attacker', ifname: P.attacker.role, mac: P.attacker.mac, addrs: [a4(P.attacker.ipv4), a6(P.attacker.ipv6)] }, b: { host: 'sw', ifname: 'swatt', bridge: 'br' } },
      { a: { host: 'gw', ifname: P.gwOutside.role, mac: P.gwOutside.mac, addrs: [a4(P.gwOutside.ipv4), a6(P.gwOutside.ipv6)] }, b: { host: 'sw', ifname: 'swgw', bridge: 'br' } },
      { a: { host: 'gw', ifname: P.gwInside.role, mac: P.gwInside.mac, addrs: [a4(P.gwInside.ipv4), a6(P.gwInside.ipv6)] }, b: { host: 'server', ifname: P.server.role, mac: P.server.mac, addrs: [a4(P.server.ipv4), a6(P.server.ipv6)] } },
    ],
    routes: [
      { host: 'client', to: 'default', via: P.gwOutside.ipv4 },
      { host: 'client', to: 'default', via: P.gwOutside.ipv6 },
      { host: 'attacker', to: 'default', via: P.gwOutside.ipv4 },
      { host: 'attacker', to: 'default', via: P.gwOutside.ipv6 },
      { host: 'server', to: 'default', via: P.gwInside.ipv4 },
      { host: 'server', to: 'default', via: P.gwInside.ipv6 },
    ],
  };
  if (offloads) spec.offloads = offloads;
  return spec;
}

/** Checks the plan's own consistency: every address inside its segment, gateways reachable. */
export function checkGatewayPlan(): void {
  const inSeg = (ip: string, seg: string, who: string): void => {
    if (!cidrContains(seg, ip)) throw new Error(`gateway plan: ${who} ${ip} is outside ${seg}`);
  };
  for (const [who, e] of [['client', P.client], ['attacker', P.attacker], ['gw outside', P.gwOutside]] as const) {
    inSeg(e.ipv4, P.outside4, who);
    inSeg(e.ipv6, P.outside6, who);
  }
  for (const [who, e] of [['server', P.server], ['gw inside', P.gwInside]] as const) {
    inSeg(e.ipv4, P.inside4, who);
    inSeg(e.ipv6, P.inside6, who);
  }
}

/**
 * Builds the gateway lab. Checksum and VLAN offloads are off on every veth by default so that
 * XDP, captures and checksum assertions see the packets as they are on the wire.
 */
export async function buildGatewayLab(opts: { offloads?: OffloadSettings } = {}): Promise<GatewayLab> {
  checkGatewayPlan();
  const lab = await Lab.create(gatewayLabSpec(opts.offloads ?? { checksum: false, vlan: false }));
  const ep = (e: { ipv4: string; ipv6: string; mac: string; role: string }): Endpoint => ({
    ifname: lab.ifname(e.role),
    mac: e.mac,
    ipv4: e.ipv4,
    ipv6: e.ipv6,
    prefix4: 24,
    prefix6: 64,
  });
  const outsideHost = (host: string, e: typeof P.client | typeof P.attacker): GatewayHost => ({ ...ep(e), ns: lab.ns(host), gateway4: P.gwOutside.ipv4, gateway6: P.gwOutside.ipv6 });
  return {
    lab,
    prefix: lab.prefix,
    client: outsideHost('client', P.client),
    attacker: outsideHost('attacker', P.attacker),
    server: { ...ep(P.server), ns: lab.ns('server'), gateway4: P.gwInside.ipv4, gateway6: P.gwInside.ipv6 },
    gw: { ns: lab.ns('gw'), outside: ep(P.gwOutside), inside: ep(P.gwInside) },
    sw: { ns: lab.ns('sw'), bridge: lab.ifname('br') },
    segments: { outside4: P.outside4, outside6: P.outside6, inside4: P.inside4, inside6: P.inside6 },
    destroy: () => lab.destroy(),
  };
}
