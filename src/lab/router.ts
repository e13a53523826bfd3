// The router lab: a home/office gateway. LAN hosts with addresses the outside does not route to,
// a router namespace (where the agent runs, on its LAN and WAN interfaces) and, past an upstream
// router, a server that only knows the WAN. It is the NAT and scrub topology: without a
// translation in the router the server's replies to a LAN address have no route and are lost.
//
//   client ──┐                                                  ┌── remote
//            ├── lansw (bridge) ── rtlan ┤ router ├ rtwan ── wansw (bridge) ──┤
//   lansrv ──┘        LAN segment                      WAN segment  └── isp ── server
//                                                                  (upstream)   far segment, MTU 1280
//
// The agent attaches to `rtlan` and `rtwan`, the router's two plain veths (the switches are
// bridges in namespaces of their own, so the router holds no bridge). `remote` is a host on the
// outside that reaches port forwards on the router's WAN address; `lansrv` is the LAN host those
// forwards lead to (and the hairpin target); `isp` is the upstream router whose hop shows in a
// traceroute and whose narrow far link (MTU 1280, the IPv6 minimum) answers a too-big packet
// with "fragmentation needed" / "packet too big" for the NAT to translate back.
//
// Addressing plan (198.18.0.0/15 and 2001:db8::/32 only; distinct from the gateway lab's
// 198.18.0-1.x so both labs read apart; the IPv6 subnet id mirrors the IPv4 third octet and the
// host id the last octet):
//
//   segment   IPv4             IPv6                 members
//   LAN       198.18.2.0/24    2001:db8:0:2::/64    router .1/::1, client .10/::10, lansrv .20/::20
//   WAN       198.18.3.0/24    2001:db8:0:3::/64    router .1/::1, remote .30/::30, isp .254/::254
//   far       198.18.4.0/24    2001:db8:0:4::/64    server .1/::1, isp .254/::254   (MTU 1280)
//   pool      198.18.5.0/24    2001:db8:0:5::/64    no host: isp routes it to the router's WAN
//                                                   address (SNAT pools, 1:1 NAT, NPTv6 prefix)
//
// LAN hosts route via the router; remote and server via isp (remote also reaches the router's
// WAN address directly); the router's default route is isp. Nothing outside the router has a
// route to the LAN. The router sends no ICMP redirects (hairpin traffic leaves by the interface
// it came in on; a redirect would teach the client to bypass the NAT). MACs are fixed
// (02:53:4e:<segment>:00:<host>).
import { cidrContains } from './inet.js';
import { Lab, type LabSpec, type OffloadSettings, type RouteSpec } from './netns.js';
import type { Endpoint, GatewayHost } from './gateway.js';

/** A host of the router lab: its one interface, its namespace and its default gateways. */
export type RouterHost = GatewayHost;

export interface RouterLab {
  lab: Lab;
  prefix: string;
  /** LAN hosts */
  client: RouterHost;
  lansrv: RouterHost;
  /** the router (agent's place) */
  router: { ns: string; lan: Endpoint; wan: Endpoint };
  /** WAN hosts */
  remote: RouterHost;
  isp: { ns: string; wan: Endpoint; far: Endpoint };
  server: RouterHost;
  /** the switches' namespaces */
  lansw: { ns: string; bridge: string };
  wansw: { ns: string; bridge: string };
  segments: typeof ROUTER_PLAN.segments;
  /** the far link's MTU */
  farMtu: number;
  destroy: Lab['destroy'];
}

export const ROUTER_PLAN = {
  segments: {
    lan4: '198.18.2.0/24',
    lan6: '2001:db8:0:2::/64',
    wan4: '198.18.3.0/24',
    wan6: '2001:db8:0:3::/64',
    far4: '198.18.4.0/24',
    far6: '2001:db8:0:4::/64',
    pool4: '198.18.5.0/24',
    pool6: '2001:db8:0:5::/64',
  },
  farMtu: 1280,
  routerLan: { ipv4: '198.18.2.1', ipv6: '2001:db8:0:2::1', mac: '02:53:4e:02:00:01', role: 'rtlan' },
  client: { ipv4: '198.18.2.10', ipv6: '2001:db8:0:2::10', mac: '02:53:4e:02:00:10', role: 'cli' },
  lansrv: { ipv4: '198.18.2.20', ipv6: '2001:db8:0:2::20', mac: '02:53:4e:02:00:20', role: 'lsrv' },
  routerWan: { ipv4: '198.18.3.1', ipv6: '2001:db8:0:3::1', mac: '02:53:4e:03:00:01', role: 'rtwan' },
  remote: { ipv4: '198.18.3.30', ipv6: '2001:db8:0:3::30', mac: '02:53:4e:03:00:30', role: 'rem' },
  ispWan: { ipv4: '198.18.3.254', ipv6: '2001:db8:0:3::254', mac: '02:53:4e:03:00:fe', role: 'ispw' },
  ispFar: { ipv4: '198.18.4.254', ipv6: '2001:db8:0:4::254', mac: '02:53:4e:04:00:fe', role: 'ispf' },
  server: { ipv4: '198.18.4.1', ipv6: '2001:db8:0:4::1', mac: '02:53:4e:04:00:01', role: 'srv' },
} as const;

const P = ROUTER_PLAN;
const S = P.segments;

const NO_REDIRECTS = {
  'net.ipv4.conf.all.send_redirects': '0',
  'net.ipv4.conf.default.send_redirects': '0',
};

type PlanEnd = { ipv4: string; ipv6: string; mac: string; role: string };

/** The lab spec of the router topology (pure: no side effects, unit-tested). */
export function routerLabSpec(offloads?: OffloadSettings): LabSpec {
  const addrs = (e: PlanEnd): string[] => [`${e.ipv4}/24`, `${e.ipv6}/64`];
  const end = (host: string, e: PlanEnd): { host: string; ifname: string; mac: string; addrs: string[] } => ({ host, ifname: e.role, mac: e.mac, addrs: addrs(e) });
  const defaults = (host: string, via: PlanEnd): RouteSpec[] => [
    { host, to: 'default', via: via.ipv4 },
    { host, to: 'default', via: via.ipv6 },
  ];
  const spec: LabSpec = {
    name: 'router',
    hosts: [
      { name: 'client' },
      { name: 'lansrv' },
      { name: 'lansw' },
      { name: 'router', forwarding: true, sysctls: NO_REDIRECTS },
      { name: 'wansw' },
      { name: 'remote' },
      { name: 'isp', forwarding: true },
      { name: 'server' },
    ],
    bridges: [
      { host: 'lansw', name: 'lbr' },
      { host: 'wansw', name: 'wbr' },
    ],
    links: [
      { a: end('client', P.client), b: { host: 'lansw', ifname: 'lscli', bridge: 'lbr' } },
      { a: end('lansrv', P.lansrv), b: { host: 'lansw', ifname: 'lslsrv', bridge: 'lbr' } },
      { a: end('router', P.routerLan), b: { host: 'lansw', ifname: 'lsrt', bridge: 'lbr' } },
      { a: end('router', P.routerWan), b: { host: 'wansw', ifname: 'wsrt', bridge: 'wbr' } },
      { a: end('remote', P.remote), b: { host: 'wansw', ifname: 'wsrem', bridge: 'wbr' } },
      { a: end('isp', P.ispWan), b: { host: 'wansw', ifname: 'wsisp', bridge: 'wbr' } },
      { a: end('isp', P.ispFar), b: end('server', P.server), mtu: P.farMtu },
    ],
    routes: [
      ...defaults('client', P.routerLan),
      ...defaults('lansrv', P.routerLan),
      ...defaults('router', P.ispWan),
      ...defaults('remote', P.ispWan),
      ...defaults('server', P.ispFar),
      // The pool is the router's to use: upstream sends it there, as a provider routes a block.
      { host: 'isp', to: S.pool4, via: P.routerWan.ipv4 },
      { host: 'isp', to: S.pool6, via: P.routerWan.ipv6 },
    ],
  };
  if (offloads) spec.offloads = offloads;
  return spec;
}

/** Checks the plan's own consistency: every address inside its segment, LAN apart from the rest. */
export function checkRouterPlan(): void {
  const inSeg = (e: PlanEnd, seg4: string, seg6: string, who: string): void => {
    if (!cidrContains(seg4, e.ipv4)) throw new Error(`router plan: ${who} ${e.ipv4} is outside ${seg4}`);
    if (!cidrContains(seg6, e.ipv6)) throw new Error(`router plan: ${who} ${e.ipv6} is outside ${seg6}`);
  };
  inSeg(P.routerLan, S.lan4, S.lan6, 'router LAN');
  inSeg(P.client, S.lan4, S.lan6, 'client');
  inSeg(P.lansrv, S.lan4, S.lan6, 'lansrv');
  inSeg(P.routerWan, S.wan4, S.wan6, 'router WAN');
  inSeg(P.remote, S.wan4, S.wan6, 'remote');
  inSeg(P.ispWan, S.wan4, S.wan6, 'isp WAN');
  inSeg(P.ispFar, S.far4, S.far6, 'isp far');
  inSeg(P.server, S.far4, S.far6, 'server');
  for (const seg of [S.wan4, S.far4, S.pool4, S.wan6, S.far6, S.pool6]) {
    for (const e of [P.routerLan, P.client, P.lansrv]) {
      if (cidrContains(seg, e.ipv4) || cidrContains(seg, e.ipv6)) throw new Error(`router plan: LAN address of ${e.role} falls in ${seg}`);
    }
  }
}

/**
 * Builds the router lab. Checksum and VLAN offloads are off on every veth by default so that
 * programs and captures see packets as they are on the wire; pass offloads { checksum: true } to
 * get locally generated packets with CHECKSUM_PARTIAL.
 */
export async function buildRouterLab(opts: { offloads?: OffloadSettings } = {}): Promise<RouterLab> {
  checkRouterPlan();
  const lab = await Lab.create(routerLabSpec(opts.offloads ?? { checksum: false, vlan: false }));
  const ep = (e: PlanEnd): Endpoint => ({ ifname: lab.ifname(e.role), mac: e.mac, ipv4: e.ipv4, ipv6: e.ipv6, prefix4: 24, prefix6: 64 });
  const host = (name: string, e: PlanEnd, via: PlanEnd): RouterHost => ({ ...ep(e), ns: lab.ns(name), gateway4: via.ipv4, gateway6: via.ipv6 });
  return {
    lab,
    prefix: lab.prefix,
    client: host('client', P.client, P.routerLan),
    lansrv: host('lansrv', P.lansrv, P.routerLan),
    router: { ns: lab.ns('router'), lan: ep(P.routerLan), wan: ep(P.routerWan) },
    remote: host('remote', P.remote, P.ispWan),
    isp: { ns: lab.ns('isp'), wan: ep(P.ispWan), far: ep(P.ispFar) },
    server: host('server', P.server, P.ispFar),
    lansw: { ns: lab.ns('lansw'), bridge: lab.ifname('lbr') },
    wansw: { ns: lab.ns('wansw'), bridge: lab.ifname('wbr') },
    segments: S,
    farMtu: P.farMtu,
    destroy: () => lab.destroy(),
  };
}
