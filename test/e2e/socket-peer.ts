// One end of a TCP or UDP conversation held by a real socket in a lab namespace and driven step
// by step (send, recv, shutdown, close), so a test can stop a real TCP stack in any state of a
// close — half-closed, waiting for a last ACK, FINs crossing — and look at what the gateway's
// trackers say in between. A python3 process per end; commands go through its stdin, each
// acknowledged on stdout before the next is sent.
import type { Lab } from '../../src/lab/netns.js';
import type { LabProcess } from '../../src/lab/process.js';

const PEER_PY = `
import socket, sys
proto, role, fam, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
af = socket.AF_INET6 if fam == 6 else socket.AF_INET
s = socket.socket(af, socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
peer = None
if role == 'listen':
    if fam == 6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port))
    if proto == 'tcp':
        s.listen(1)
        print('ready %d' % port, flush=True)
        c, peer = s.accept()
    else:
        c = s
        print('ready %d' % port, flush=True)
else:
    c = s
    peer = (addr, port)
    if proto == 'tcp':
        c.connect(peer)
    print('ready %d' % c.getsockname()[1], flush=True)
c.settimeout(10)
for line in sys.stdin:
    n, cmd = line.split()
    if cmd == 'send':
        if proto == 'tcp':
            c.sendall(b'x')
        else:
            c.sendto(b'x', peer)
    elif cmd == 'recv':
        if proto == 'tcp':
            c.recv(100)
        else:
            _, peer = c.recvfrom(100)
    elif cmd == 'shutdown':
        c.shutdown(socket.SHUT_WR)
    elif cmd == 'close':
        c.close()
    else:
        raise SystemExit('unknown command ' + cmd)
    print('ok %s' % n, flush=True)
`;

export type PeerCommand = 'send' | 'recv' | 'shutdown' | 'close';

export class SocketPeer {
  private seq = 0;
  private constructor(
    readonly proc: LabProcess,
    /** the local port (a client's ephemeral one) */
    readonly port: number,
  ) {}

  /** `listen`: binds addr:port (TCP: accepts one connection before taking commands);
   * `connect`: connects (TCP) or aims (UDP) at addr:port. Resolves once the socket is ready. */
  static async start(lab: Lab, host: string, o: { proto: 'tcp' | 'udp'; role: 'listen' | 'connect'; family: 4 | 6; addr: string; port: number }): Promise<SocketPeer> {
    const proc = lab.spawn(host, 'python3', ['-c', PEER_PY, o.proto, o.role, String(o.family), o.addr, String(o.port)], { stdin: true });
    const m = await proc.waitFor(/ready (\d+)/, 5000);
    return new SocketPeer(proc, Number(m[1]));
  }

  /** Runs the commands in order, each acknowledged before the next. */
  async do(...cmds: PeerCommand[]): Promise<void> {
    for (const cmd of cmds) {
      const n = ++this.seq;
      this.proc.write(`${n} ${cmd}\n`);
      await this.proc.waitFor(new RegExp(`^ok ${n}$`, 'm'), 12_000);
    }
  }

  stop(): Promise<unknown> {
    return this.proc.stop('SIGTERM', 1000);
  }
}
