// Traffic tools the rate-limit and SYN-flood e2e tests run inside lab namespaces
// (`ip netns exec NS node synflood-tools.js CMD ...`); each prints one JSON line when done.
//   serve PORT                      TCP echo server on every address of both families
//   clients ADDR PORT N CONC [SECS] N connections (CONC at a time), each a request and its echo,
//                                   each given SECS (default 20: lost SYNs are retransmitted
//                                   after 1, 3 and 7 s, as any client would)
//   udp ADDR PORT PPS SECS          UDP datagrams at PPS for SECS seconds (paced every 2 ms); prints
//                                   what it sent and when ([ns since start, count] per burst)
//   napi IFNAME                     a pass-everything XDP program on IFNAME (xdp-ratelimit with an
//                                   empty policy) until SIGTERM: a veth peer needs one (its NAPI)
//                                   to take frames sent with XDP_TX
//   hold ADDR PORT                  one connection, a request and its echo, then held open until
//                                   SIGTERM (prints its local port once echoed)
//   recv PORT SKIP_MS WINDOW_MS     counts UDP datagrams (both families); after 1 s of silence
//                                   prints the total and how many arrived in the window that
//                                   starts SKIP_MS after the first one
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { compileRatelimit } from '../../src/engines/ratelimit/compile.js';
import { RatelimitKernel, RATELIMIT_OBJECT_FILE } from '../../src/engines/ratelimit/kernel.js';
import { ddosSchema, ratelimitSchema } from '../../src/engines/ratelimit/schema.js';
import { ifindexOf } from '../../src/kernel/link.js';
import { REPO_ROOT } from '../../src/version.js';

const [cmd, ...args] = process.argv.slice(2);

function serve(port: number): void {
  let accepted = 0;
  const s = net.createServer((c) => {
    accepted++;
    c.on('data', (d) => c.write(d));
    c.on('error', () => c.destroy());
  });
  s.listen({ host: '::', port, ipv6Only: false, backlog: 4096 }, () => process.stdout.write(`${JSON.stringify({ listening: port })}\n`));
  process.on('SIGTERM', () => {
    process.stdout.write(`${JSON.stringify({ accepted })}\n`);
    process.exit(0);
  });
}

function oneClient(addr: string, port: number, i: number, secs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const want = `request-${i}\n`;
    let got = '';
    const sock = net.connect({ host: addr, port });
    const done = (err: string | null): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(err);
    };
    let connected = false;
    const timer = setTimeout(() => done(connected ? 'timeout-echo' : 'timeout-connect'), secs * 1000);
    sock.on('connect', () => {
      connected = true;
      sock.write(want);
    });
    sock.on('data', (d) => {
      got += d.toString();
      if (got === want) done(null);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

async function clients(addr: string, port: number, n: number, conc: number, secs: number): Promise<void> {
  const errors: Record<string, number> = {};
  let ok = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const err = await oneClient(addr, port, i, secs);
      if (err === null) ok++;
      else errors[err] = (errors[err] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  process.stdout.write(`${JSON.stringify({ ok, failed: n - ok, errors })}\n`);
}

async function udp(addr: string, port: number, pps: number, secs: number): Promise<void> {
  const sock = dgram.createSocket(net.isIPv6(addr) ? 'udp6' : 'udp4');
  const payload = Buffer.alloc(32, 0x61);
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(secs * 1e9));
  let sent = 0;
  let errors = 0;
  // When each burst left (ns since the first, and how many): on a loaded machine this process
  // is scheduled late, and a rate limiter's output depends on when packets arrived, not on the
  // average the sender meant; the test judges the limiter against this timeline.
  const batches: [number, number][] = [];
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = process.hrtime.bigint();
      if (now >= end) return resolve();
      // Send what the elapsed time calls for: pacing holds on average even when ticks are late.
      const due = Math.floor((Number(now - start) / 1e9) * pps);
      if (due > sent) batches.push([Number(now - start), due - sent]);
      for (; sent < due; sent++) sock.send(payload, port, addr, (e) => { if (e) errors++; });
      setTimeout(tick, 2);
    };
    tick();
  });
  await new Promise((r) => setTimeout(r, 100));
  sock.close();
  process.stdout.write(`${JSON.stringify({ sent, errors, secs, batches })}\n`);
}

function recv(port: number, skipMs: number, windowMs: number): void {
  const arrivals: bigint[] = [];
  const sock = dgram.createSocket({ type: 'udp6', ipv6Only: false, recvBufferSize: 8 << 20 });
  let idle: NodeJS.Timeout | undefined;
  const finish = (): void => {
    sock.close();
    const t0 = arrivals[0] ?? 0n;
    const from = t0 + BigInt(skipMs) * 1_000_000n;
    const to = from + BigInt(windowMs) * 1_000_000n;
    const inWindow = arrivals.filter((t) => t >= from && t < to).length;
    const last = arrivals.at(-1) ?? 0n;
    process.stdout.write(`${JSON.stringify({ received: arrivals.length, inWindow, windowMs, spanMs: Number(last - t0) / 1e6 })}\n`);
  };
  sock.on('message', () => {
    arrivals.push(process.hrtime.bigint());
    clearTimeout(idle);
    idle = setTimeout(finish, 1000);
  });
  sock.bind(port, '::', () => process.stdout.write(`${JSON.stringify({ listening: port })}\n`));
}

function hold(addr: string, port: number): void {
  const sock = net.connect({ host: addr, port });
  let got = '';
  sock.on('connect', () => sock.write('held\n'));
  sock.on('data', (d) => {
    got += d.toString();
    if (got === 'held\n') process.stdout.write(`${JSON.stringify({ held: sock.localPort })}\n`);
  });
  sock.on('error', (e) => {
    process.stdout.write(`${JSON.stringify({ error: e.message })}\n`);
    process.exit(1);
  });
  process.on('SIGTERM', () => {
    sock.destroy();
    process.exit(0);
  });
}

function napi(ifname: string): void {
  const k = RatelimitKernel.load({ objectPath: path.join(REPO_ROOT, 'build', 'bpf', RATELIMIT_OBJECT_FILE) });
  k.apply(compileRatelimit(ratelimitSchema.parse({}), ddosSchema.parse({})));
  const link = k.obj.program('xdp_ratelimit').attachXdp(ifindexOf(ifname), 'native');
  process.stdout.write(`${JSON.stringify({ attached: ifname })}\n`);
  process.on('SIGTERM', () => {
    link.destroy();
    k.close();
    process.exit(0);
  });
  setInterval(() => undefined, 1 << 30);
}

const num = (i: number): number => {
  const v = Number(args[i]);
  if (!Number.isFinite(v)) throw new Error(`synflood-tools ${cmd}: argument ${i + 1} must be a number, got ${args[i]}`);
  return v;
};

if (cmd === 'serve') serve(num(0));
else if (cmd === 'clients') await clients(args[0]!, num(1), num(2), num(3), args[4] === undefined ? 20 : num(4));
else if (cmd === 'udp') await udp(args[0]!, num(1), num(2), num(3));
else if (cmd === 'recv') recv(num(0), num(1), num(2));
else if (cmd === 'napi') napi(args[0]!);
else if (cmd === 'hold') hold(args[0]!, num(1));
else throw new Error(`synflood-tools: unknown command ${cmd} (serve | clients | udp | recv | napi | hold)`);
