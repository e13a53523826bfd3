// `ebpfsentinel replay CAPTURE -c CONFIG`: a pcap or pcapng capture through the programs the
// config runs (src/replay/session.ts), its records written as EVE JSON (a file, or stdout), a
// summary on stderr (and as JSON with --summary). It runs in a network namespace of its own
// (`unshare --net`, re-running itself): the programs' socket lookups and any sysctl an engine
// holds then touch nothing of the host's. Exit codes: 0 replayed, 1 a fault part-way (what came
// before it is written) or a runtime failure, 2 bad usage, config or capture.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { CaptureError } from '../capture/frame.js';
import { ConfigError } from '../config/index.js';
import { loadConfigFile, type Config } from '../catalog.js';
import { createLogger } from '../log.js';
import { replayCapture, type ReplayProgress, type ReplaySummary } from '../replay/session.js';
import { REPO_ROOT } from '../version.js';

export interface ReplayCommandOptions {
  config: string;
  eve: string;
  summary?: string;
  interface?: string;
  batch?: number;
  objectDir?: string;
  isolate: boolean;
  progress?: boolean;
}

/** set in the re-run child: it already has its own network namespace */
const ISOLATED = 'EBPFSENTINEL_REPLAY_NETNS';

export async function replayCommand(capture: string, opts: ReplayCommandOptions): Promise<number> {
  if (opts.isolate && process.env[ISOLATED] !== '1') return rerunIsolated();
  let config: Config;
  try {
    config = await loadConfigFile(opts.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ebpfsentinel: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger({ level: config.agent.log_level === 'info' ? 'warn' : config.agent.log_level, format: config.agent.log_format });
  const tty = opts.progress ?? process.stderr.isTTY === true;
  let summary: ReplaySummary;
  try {
    summary = await replayCapture({
      capture,
      config,
      objectDir: opts.objectDir ?? path.join(REPO_ROOT, 'build', 'bpf'),
      eve: opts.eve,
      log,
      ...(opts.interface ? { interfaceName: opts.interface } : {}),
      ...(opts.batch ? { batchSize: opts.batch } : {}),
      ...(tty ? { progress: showProgress } : {}),
    });
  } catch (err) {
    if (tty) process.stderr.write('\n');
    if (err instanceof CaptureError) {
      process.stderr.write(`ebpfsentinel replay: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (tty) process.stderr.write('\r\x1b[K');
  process.stderr.write(renderSummary(summary));
  if (opts.summary) writeFileSync(opts.summary, `${JSON.stringify(summary, null, 2)}\n`);
  return summary.error ? 1 : 0;
}

/** The same command again under `unshare --net`, its output and exit code passed through. */
function rerunIsolated(): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('unshare', ['--net', '--', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, [ISOLATED]: '1' },
    });
    const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('error', (err) => {
      process.stderr.write(`ebpfsentinel replay: cannot run in a network namespace of its own (unshare --net: ${err.message}); --no-isolate runs in this one\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

function showProgress(p: ReplayProgress): void {
  const pct = p.bytesTotal > 0 ? ` ${((100 * p.bytesRead) / p.bytesTotal).toFixed(1)}%` : '';
  process.stderr.write(`\r\x1b[Kreplay: ${p.frames.toLocaleString('en-US')} frames${pct}`);
}

function kv(m: Record<string, number>): string {
  const e = Object.entries(m);
  return e.length ? e.map(([k, v]) => `${k} ${v}`).join(', ') : 'none';
}

export function renderSummary(s: ReplaySummary): string {
  const lines = [
    `replay: ${s.capture} (${s.format}) ${s.frames} frames, ${s.replayed} replayed in ${s.replay_ms} ms (${s.rate} frames/s; ${s.setup_ms} ms to load the programs)`,
    `  chain: xdp ${s.chain.xdp ?? '-'}; tc ingress ${s.chain.ingress.join(' > ') || '-'}; tc egress ${s.chain.egress.join(' > ') || '-'}`,
    `  directions: inbound ${s.directions.inbound}, outbound ${s.directions.outbound}`,
    `  verdicts: ${kv(s.verdicts)}`,
    ...Object.entries(s.decided_by).map(([p, m]) => `    ${p}: ${kv(m)}`),
    ...Object.entries(s.programs).map(([p, c]) => `  ${p}: seen ${c.seen}, passed ${c.passed}, dropped ${c.dropped}, malformed ${c.malformed}, events ${c.events}, events lost ${c.events_lost}`),
    `  records: ${kv(s.records)}`,
    `  events: ${s.events.received} received, ${s.events.undecodable} undecodable, lost in the kernel: ring full ${s.events.kernel_lost.ring_full}, backpressure ${s.events.kernel_lost.backpressure}`,
  ];
  if (Object.keys(s.unusable).length) lines.push(`  frames not replayed: ${kv(s.unusable)}`);
  if (Object.keys(s.reader_skipped).length) lines.push(`  skipped in the file: ${kv(s.reader_skipped)}`);
  for (const [sink, m] of Object.entries(s.sink_dropped)) lines.push(`  dropped by sink ${sink}: ${kv(m)}`);
  if (s.first) lines.push(`  capture time: ${s.first} .. ${s.last}`);
  if (s.error) lines.push(`  stopped early: ${s.error}`);
  return `${lines.join('\n')}\n`;
}
