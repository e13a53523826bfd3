// `ebpfsentinel run`: load the config, start the agent, stop cleanly on SIGTERM/SIGINT.
// A bad config exits 2 with every problem named (file:line:col key: message); a failure to
// start exits 1 after undoing whatever had been attached.
import { Agent } from '../agent.js';
import { ConfigError, loadConfigFile, type Config } from '../config/index.js';
import { createLogger } from '../log.js';

export interface RunOptions {
  config: string;
  pinRoot?: string;
  httpPort?: number;
}

export async function runAgentCommand(opts: RunOptions): Promise<number> {
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
  if (opts.pinRoot !== undefined) config.agent.pin_root = opts.pinRoot;
  if (opts.httpPort !== undefined) config.agent.http_port = opts.httpPort;
  const log = createLogger({ level: config.agent.log_level, format: config.agent.log_format });
  for (const w of config.warnings) log.warn({ file: w.file, line: w.line, key: w.path }, w.message);

  let agent: Agent;
  try {
    agent = await Agent.start({ config, logger: log });
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
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
