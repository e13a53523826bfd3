// Where a secret may come from besides the YAML itself: a file (`<key>_file`: an absolute path,
// the file's content is the value) or the environment (`<key>_env`: the name of a variable).
// Either keeps the credential out of a file that is copied, diffed and reviewed; a secret file
// is held to the same rule as a config file with a secret in it: readable by its owner only.
// Every value read here joins the process's redactor before anything else sees it.
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { show } from './messages.js';
import { knownSecrets } from './secrets.js';
import { custom, type Fail } from './zod-helpers.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `mode` lets group or others read the file. */
export function readableByOthers(mode: number): boolean {
  return (mode & 0o044) !== 0;
}

/** "chmod 600 /etc/x" advice with the mode found, for messages. */
export function permissionAdvice(file: string, mode: number): string {
  return `${file} is readable by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); make it readable by its owner only: chmod 600 ${file}`;
}

/** Reads one secret file: absolute path, a regular file readable by its owner only, not empty.
 * One trailing newline is dropped (editors and `echo` add it). Returns the value, or the
 * problem. */
function readSecretFile(file: string): { value: string } | { problem: string } {
  if (!path.isAbsolute(file)) return { problem: `expected an absolute path to a file holding the secret; got ${show(file)}` };
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    return { problem: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  try {
    // judged on the descriptor that is read, so a swap between check and read changes nothing
    const st = fstatSync(fd);
    if (!st.isFile()) return { problem: `${file} is not a regular file` };
    if (readableByOthers(st.mode)) return { problem: permissionAdvice(file, st.mode) };
    const value = readFileSync(fd, 'utf8').replace(/\r?\n$/, '');
    if (value === '') return { problem: `${file} is empty` };
    knownSecrets.add(value);
    return { value };
  } finally {
    closeSync(fd);
  }
}

/** Reads one secret from the environment; the variable must be set and not empty. */
function readSecretEnv(name: string, env: NodeJS.ProcessEnv = process.env): { value: string } | { problem: string } {
  if (!ENV_NAME.test(name)) return { problem: `expected an environment variable name (letters, digits, "_"); got ${show(name)}` };
  const value = env[name];
  if (value === undefined || value === '') return { problem: `environment variable ${name} is not set (or empty)` };
  knownSecrets.add(value);
  return { value };
}

function fromSource(kind: 'file' | 'env', v: unknown, fail: Fail, at?: (string | number)[]): string | undefined {
  if (typeof v !== 'string') {
    fail(kind === 'file' ? `expected an absolute path to a file holding the secret; got ${show(v)}` : `expected an environment variable name; got ${show(v)}`, at);
    return undefined;
  }
  const r = kind === 'file' ? readSecretFile(v) : readSecretEnv(v);
  if ('problem' in r) {
    fail(r.problem, at);
    return undefined;
  }
  return r.value;
}

/** `<key>_file`: parses to the file's content. */
export const secretFile = custom((v, fail): string => fromSource('file', v, fail) ?? '', { type: 'string', minLength: 1, description: 'absolute path of a file (mode 0600) whose content is the secret' });

/** `<key>_env`: parses to the variable's value. */
export const secretEnv = custom((v, fail): string => fromSource('env', v, fail) ?? '', { type: 'string', pattern: ENV_NAME.source, description: 'name of an environment variable holding the secret' });

/** `<map>_file` / `<map>_env`: a map of names to files / variables; parses to names to values. */
export function secretMapFrom(kind: 'file' | 'env', checkName: (name: string) => string | null) {
  return custom(
    (v, fail): Record<string, string> => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        fail(`expected a map of names to ${kind === 'file' ? 'file paths' : 'environment variable names'}; got ${show(v)}`);
        return {};
      }
      const out: Record<string, string> = {};
      for (const [k, x] of Object.entries(v)) {
        const bad = checkName(k);
        if (bad) {
          fail(bad, [k]);
          continue;
        }
        const value = fromSource(kind, x, fail, [k]);
        if (value !== undefined) out[k] = value;
      }
      return out;
    },
    { type: 'object', additionalProperties: kind === 'file' ? { type: 'string' } : { type: 'string', pattern: ENV_NAME.source } },
  );
}
