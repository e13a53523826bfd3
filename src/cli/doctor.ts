// `ebpfsentinel doctor`: what this kernel and machine support, as a table or JSON.
import { ConfigError } from '../config/index.js';
import { loadConfigFile } from '../catalog.js';
import { doctorMain } from '../doctor/doctor.js';

export async function doctorCommand(opts: { config?: string; json?: boolean }): Promise<number> {
  let interfaces: string[] | undefined;
  let pinRoot: string | undefined;
  if (opts.config) {
    try {
      const cfg = await loadConfigFile(opts.config);
      interfaces = cfg.agent.interfaces;
      pinRoot = cfg.agent.pin_root;
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`ebpfsentinel: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
  }
  return doctorMain({
    ...(interfaces ? { interfaces } : {}),
    ...(pinRoot ? { pinRoot } : {}),
    output: opts.json ? 'json' : 'table',
  });
}
