// `ebpfsentinel run`: load the config, start the agent, stop cleanly on SIGTERM/SIGINT, reload
// on SIGHUP (and reopen the EVE file for logrotate). A bad config exits 2 with every problem
// named (file:line:col key: message); a failure to start exits 1 after undoing whatever had
// been attached. A bad config on reload is refused and the agent keeps running.
import path from 'node:path';
import { Agent } from '../agent.js';
import { ConfigError } from '../config/index.js';
import { loadConfigFile, type Config } from '../catalog.js';
import { createLogger } from '../log.js';

export interface RunOptions {
  config: string;
  pinRoot?: string;
  httpPort?: number;
  apiSocket?: string;
  /** directory of the built BPF objects (default <repo>/build/bpf) */
  objectDir?: string;
}

export async function runAgentCommand(opts: RunOptions): Promise<number> {
  // Command-line overrides hold for every reload too, not only for the first load.
  const load = async (file: string): Promise<Config> => {
    const c = await loadConfigFile(file);
    if (opts.pinRoot !== undefined) c.agent.pin_root = opts.pinRoot;
    if (opts.httpPort !== undefined) c.agent.http_port = opts.httpPort;
    if (opts.apiSocket !== undefined) c.agent.api_socket = path.resolve(opts.apiSocket);
    return c;
  };
  let config: Config;
  try {
    config = await load(opts.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ebpfsentinel: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger({ level: config.agent.log_level, format: config.agent.log_format });
  for (const w of config.warnings) log.warn({ file: w.file, line: w.line, key: w.path }, w.message);

  let agent: Agent;
  try {
    agent = await Agent.start({ config, logger: log, loadConfig: load, ...(opts.objectDir !== undefined ? { objectDir: path.resolve(opts.objectDir) } : {}) });
  } catch (err) {
    const e = err as Error & { verifierLog?: string };
    log.error({ err: e, ...(e.verifierLog ? { verifier_log: e.verifierLog } : {}) }, `start failed: ${e.message}`);
    return 1;
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      agent.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err }, 'stop failed');
          resolve(1);
        },
      );
    };
    const hup = (): void => {
      if (stopping) return;
      agent.onSighup().catch((err: unknown) => log.error({ err }, 'SIGHUP handling failed'));
    };
    process.on('SIGHUP', hup);
    process.once('SIGTERM', (s) => {
      process.off('SIGHUP', hup);
      stop(s);
    });
    process.once('SIGINT', (s) => {
      process.off('SIGHUP', hup);
      stop(s);
    });
  });
}
