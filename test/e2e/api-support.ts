// Shared by the API and CLI e2e tests: the real agent in the gateway lab with auth on (a key per
// role), the SQLite store, and a firewall rule that drops and alerts on UDP 5000, plus a burst
// sender (python3 in the client namespace, one datagram per socket so each is its own flow) and
// an authenticated HTTP helper.
import type { GatewayLab } from '../../src/lab/gateway.js';

export const KEYS = {
  viewer: 'e2e-viewer-key-0123456789abcdef',
  operator: 'e2e-operator-key-0123456789abcdef',
  admin: 'e2e-admin-key-0123456789abcdef01',
} as const;
export type Role = keyof typeof KEYS;

export const DENIED_PORT = 5000;

export const AGENT_YAML = `
agent:
  interfaces: [@IFACE@]
  pin_root: @PIN@
  http_port: @PORT@
  metrics_interval_ms: 200
alerting:
  eve: { path: "@EVE@" }
storage:
  path: sentinel.db
auth:
  enabled: true
  open_endpoints: { healthz: true, metrics: true }
  api_keys:
    - { name: e2e-viewer, key: ${KEYS.viewer}, role: viewer }
    - { name: e2e-operator, key: ${KEYS.operator}, role: operator }
    - { name: e2e-admin, key: ${KEYS.admin}, role: admin }
firewall:
  default_policy: pass
  rules:
    - { id: deny-udp-${DENIED_PORT}, priority: 10, action: deny, protocol: udp, dst_port: ${DENIED_PORT} }
`;

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

export async function call(base: string, role: Role | null, method: string, pathname: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
  const h: Record<string, string> = { ...headers };
  if (role) h.authorization = `Bearer ${KEYS[role]}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const r = await fetch(`${base}${pathname}`, { method, headers: h, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(15_000) });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: <T>() => JSON.parse(text) as T };
}

/** `n` UDP datagrams per family from the client to the server's denied port, `gapMs` apart. */
export async function udpBurst(g: GatewayLab, n: number, gapMs: number): Promise<void> {
  const script = [
    'import socket, sys, time',
    'n, gap = int(sys.argv[1]), float(sys.argv[2]) / 1000',
    'for i in range(n):',
    '    for fam, addr in ((socket.AF_INET, sys.argv[3]), (socket.AF_INET6, sys.argv[4])):',
    '        s = socket.socket(fam, socket.SOCK_DGRAM)',
    `        s.sendto(b"burst %d" % i, (addr, ${DENIED_PORT}))`,
    '        s.close()',
    '    time.sleep(gap)',
  ].join('\n');
  await g.lab.exec('client', 'python3', ['-c', script, String(n), String(gapMs), g.server.ipv4, g.server.ipv6], { timeoutMs: 120_000 });
}
