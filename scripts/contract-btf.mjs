// What the build-time generators (gen-layouts.mjs, gen-enums.mjs) share: the contract headers
// (bpf/include/sentinel/contract/*.h, comments stripped) and the native addon that reads an
// object's BTF. Plain ESM JS because it runs before tsc.
import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const contractDir = path.join(root, 'bpf', 'include', 'sentinel', 'contract');

/** Exits with `<tool>: msg` on stderr. */
export function failer(tool) {
  return (msg) => {
    process.stderr.write(`${tool}: ${msg}\n`);
    process.exit(1);
  };
}

/** The contract headers as [file name, source without comments], sorted by name. */
export function contractHeaders() {
  return readdirSync(contractDir)
    .filter((f) => f.endsWith('.h'))
    .sort()
    .map((f) => [f, readFileSync(path.join(contractDir, f), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')]);
}

/** The native addon (built by `make native`), or exit naming what is missing. */
export function loadNative(fail) {
  const require = createRequire(import.meta.url);
  try {
    return require(path.join(root, 'native', 'build', 'Release', 'sentinel.node'));
  } catch (e) {
    return fail(`cannot load the native addon (run make native first): ${e.message}`);
  }
}

/** The objects named on the command line, relative to the repository, sorted: for the header. */
export function sourcesLine(objects) {
  return `// Sources: ${objects.map((o) => path.relative(root, path.resolve(o))).sort().join(', ') || '(none)'}`;
}
