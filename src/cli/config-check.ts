// `ebpfsentinel config check FILE`: full validation (schema, alias files, the firewall
// compiler) without touching the kernel. Exit 0 valid, 2 invalid.
import { ConfigError } from '../config/index.js';
import { loadConfigFile } from '../catalog.js';

export async function configCheckCommand(file: string): Promise<number> {
  try {
    const cfg = await loadConfigFile(file);
    for (const w of cfg.warnings) process.stderr.write(`warning: ${w.file}:${w.line}:${w.column}: ${w.path}: ${w.message}\n`);
    const rules = cfg.firewall.rules.length;
    process.stdout.write(`${file}: valid (${rules} firewall rule${rules === 1 ? '' : 's'}, default policy ${cfg.firewall.default_policy})\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
