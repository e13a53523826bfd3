// A TCP listener on an ephemeral port, for tests and benches that need one in their namespace.
import net from 'node:net';

/** Listens on host (an IPv6 host listens for IPv6 only), port 0; resolves once listening.
 * Accepted connections are closed at once unless `keep` is set. */
export async function listenTcp(host: string, keep = false): Promise<net.Server> {
  const s = net.createServer((c) => {
    if (!keep) c.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen({ host, port: 0, ipv6Only: host.includes(':') }, resolve);
  });
  return s;
}
