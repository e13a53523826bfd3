// Runs inside a test network namespace (`ip netns exec NS node listeners-nshelper.js`): opens
// TCP listeners of both families (any address and bound), one established connection and a UDP
// socket, then prints one JSON line: the listeners it opened, what NETLINK_SOCK_DIAG reports and
// what /proc/net/tcp{,6} reports. listeners-sockdiag.test.ts asserts.
import dgram from 'node:dgram';
import net from 'node:net';
import { loadNative } from '../../src/kernel/native.js';
import { parseProcNetTcp } from '../../src/engines/ratelimit/listener-stamp.js';
import { readFileSync } from 'node:fs';
import { listenTcp } from '../support/listen.js';

const hosts = ['0.0.0.0', '127.0.0.1', '::', '::1'];
const servers = await Promise.all(hosts.map((h) => listenTcp(h, true)));
const opened = servers.map((s, i) => ({ host: hosts[i]!, port: (s.address() as net.AddressInfo).port }));
// A connection to the bound IPv4 listener: its two sockets are established, not listening.
const accepted = new Promise<net.Socket>((resolve) => servers[1]!.once('connection', resolve));
const client = net.connect({ host: '127.0.0.1', port: opened[1]!.port });
await new Promise<void>((resolve, reject) => {
  client.once('connect', resolve);
  client.once('error', reject);
});
const peer = await accepted;
const udp = dgram.createSocket('udp4');
await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));

const show = (l: { family: number; addr: Buffer; port: number }): string => `${l.family}/${l.addr.toString('hex')}/${l.port}`;
const sockDiag = loadNative().tcpListeners().map(show);
const proc = [...parseProcNetTcp(readFileSync('/proc/net/tcp', 'utf8'), 4), ...parseProcNetTcp(readFileSync('/proc/net/tcp6', 'utf8'), 6)].map(show);
process.stdout.write(`${JSON.stringify({ opened, clientPort: client.localPort, sockDiag, proc })}\n`);

client.destroy();
peer.destroy();
udp.close();
for (const s of servers) s.close();
