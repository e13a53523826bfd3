// Config errors carry every problem found, each with the file, line, column and key path, so a
// person fixes them all in one pass instead of one per restart. No secret the process knows
// survives into a message: errors are logged, audited and returned by the API.
import { knownSecrets } from './secrets.js';

export interface ConfigIssue {
  /** file the problem is in: the config file, or an alias list file it names */
  file: string;
  /** key path in the config, e.g. "firewall.rules[2].dst_port" ("" for the whole file) */
  path: string;
  /** 1-based; 0 when unknown */
  line: number;
  /** 1-based; 0 when unknown */
  column: number;
  message: string;
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.line > 0 ? `${i.file}:${i.line}:${i.column}` : i.file;
  return `${where}: ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];
  constructor(found: readonly ConfigIssue[]) {
    const issues = found.map((i) => ({ ...i, message: knownSecrets.redact(i.message), path: knownSecrets.redact(i.path) }));
    const n = issues.length;
    super(`invalid configuration (${n} problem${n === 1 ? '' : 's'}):\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`);
    this.issues = issues;
  }
}

/** "firewall.rules[2].dst_port" from ["firewall", "rules", 2, "dst_port"]. */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}
