// What the atomic-reload tests share: a UDP receiver that records which round of the sender
// each datagram belongs to, per family and port, and the counters that prove no datagram was
// lost outside the policy under test.
import type { GatewayLab } from '../../src/lab/gateway.js';
import type { LabProcess } from '../../src/lab/process.js';

// Records the round number of every datagram per family/port; prints running counts so the
// test can follow the live policy, and on SIGTERM writes every round received as JSON.
export const RECEIVER_PY = `
import json, select, signal, socket, sys, time
out, ports = sys.argv[1], [int(p) for p in sys.argv[2].split(',')]
socks, got = {}, {}
for fam in (4, 6):
    for p in ports:
        s = socket.socket(socket.AF_INET if fam == 4 else socket.AF_INET6, socket.SOCK_DGRAM)
        if fam == 6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE: no loss in our own socket
        s.bind(('0.0.0.0' if fam == 4 else '::', p))
        s.setblocking(False)
        key = '%d/%d' % (fam, p)
        socks[s.fileno()] = (s, key)
        got[key] = []
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
def drain(fds):
    for fd in fds:
        s, key = socks[fd]
        while True:
            try:
                d = s.recv(64)
            except BlockingIOError:
                break
            got[key].append(int(d))
print('receiving', flush=True)
last = 0.0
while not stop:
    r, _, _ = select.select(list(socks), [], [], 0.02)
    drain(r)
    now = time.monotonic()
    if now - last >= 0.02:
        print('counts ' + ' '.join('%s=%d' % (k, len(v)) for k, v in got.items()), flush=True)
        last = now
drain(list(socks))
with open(out, 'w') as f:
    json.dump(got, f)
print('written', flush=True)
`;

/** UDP receive-buffer errors of a namespace (IPv4 and IPv6): a datagram lost there is not the
 * firewall's doing, so the test insists there are none. */
export async function rcvbufErrors(g: GatewayLab, host: string): Promise<number> {
  const snmp = (await g.lab.exec(host, 'cat', ['/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const names = snmp[0]!.split(/\s+/);
  const vals = snmp[1]!.split(/\s+/);
  const v4 = Number(vals[names.indexOf('RcvbufErrors')]);
  const snmp6 = (await g.lab.exec(host, 'cat', ['/proc/net/snmp6'])).stdout;
  const v6 = Number(/Udp6RcvbufErrors\s+(\d+)/.exec(snmp6)?.[1] ?? 'NaN');
  return v4 + v6;
}

export function latestCounts(rx: LabProcess): Map<string, number> {
  const out = rx.stdout;
  const i = out.lastIndexOf('counts ');
  const m = new Map<string, number>();
  if (i < 0) return m;
  const line = out.slice(i + 7, out.indexOf('\n', i) < 0 ? undefined : out.indexOf('\n', i));
  for (const kv of line.trim().split(' ')) {
    const [k, v] = kv.split('=');
    if (k && v !== undefined) m.set(k, Number(v));
  }
  return m;
}
