// An HTTP receiver on the loopback for the sinks that POST (webhook, OTLP): it keeps every
// request (time, path, headers, parsed JSON body) and answers each as `respond` decides — a
// status, or 'stall' (never answered until stop()).
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest<B> {
  at: number;
  /** the request's path */
  path: string;
  headers: IncomingHttpHeaders;
  body: B;
}

/** `B`: what the bodies are (parsed JSON, not checked). */
export class HttpReceiver<B = unknown> {
  readonly requests: ReceivedRequest<B>[] = [];
  /** requests held without an answer */
  readonly stalled: ServerResponse[] = [];
  /** the answer to the n-th request (1-based) */
  respond: (n: number) => number | 'stall' = () => 200;
  /** http://host:port, the host bracketed when IPv6 */
  url = '';

  private constructor(private readonly server: Server) {}

  static async start<B = unknown>(host = '127.0.0.1'): Promise<HttpReceiver<B>> {
    let self: HttpReceiver<B> | null = null;
    const server = createServer((req, res) => {
      let data = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (data += c));
      req.on('end', () => {
        const r = self!;
        r.requests.push({ at: Date.now(), path: req.url ?? '', headers: req.headers, body: JSON.parse(data) as B });
        const answer = r.respond(r.requests.length);
        if (answer === 'stall') {
          r.stalled.push(res);
          return;
        }
        if (answer >= 200 && answer < 300) res.writeHead(answer, { 'content-type': 'application/json' }).end('{}');
        else res.writeHead(answer, { 'content-type': 'text/plain' }).end('boom');
      });
    });
    self = new HttpReceiver<B>(server);
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    self.url = `http://${host.includes(':') ? `[${host}]` : host}:${(server.address() as AddressInfo).port}`;
    return self;
  }

  /** the bodies received, in arrival order */
  bodies(): B[] {
    return this.requests.map((r) => r.body);
  }

  async stop(): Promise<void> {
    for (const r of this.stalled) r.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
