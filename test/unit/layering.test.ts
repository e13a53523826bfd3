// The import rules (.dependency-cruiser.cjs, run over the real tree by `make layers`) catch what
// they claim to: dependency-cruiser, with the repository's own config, cruises a small fixture
// tree laid out like src/ in which every allowed kind of import appears once and every rule is
// broken by at least one import. The violations reported must be exactly the broken ones: a rule
// that stops firing, or one that fires on an allowed import, fails the test.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const depcruise = path.join(repo, 'node_modules', '.bin', 'depcruise');

/** file -> its imports (relative to src/, or a package name); a '?' prefix makes it type-only */
type Tree = Record<string, readonly string[]>;

const ALLOWED: Tree = {
  'net/ip.ts': [],
  'version.ts': [],
  'kernel/map.ts': ['net/ip.ts'],
  'status/types.ts': ['net/ip.ts'],
  'metrics/registry.ts': ['net/ip.ts'],
  'http/route-kit.ts': ['status/types.ts'],
  'config/section.ts': ['net/ip.ts', 'version.ts'],
  'alerts/model.ts': ['config/section.ts', 'metrics/registry.ts'],
  'store/index.ts': ['alerts/model.ts'],
  'engines/engine.ts': ['config/section.ts', 'status/types.ts', '?http/route-kit.ts', 'alerts/model.ts'],
  'engines/attachments.ts': ['engines/engine.ts', 'kernel/map.ts'],
  // an engine imports its own files and the shared engine code; its index.ts may name another
  // engine's index.ts (dependsOn)
  'engines/alpha/index.ts': ['engines/engine.ts', 'engines/alpha/engine.ts', 'engines/beta/index.ts'],
  'engines/alpha/engine.ts': ['engines/alpha/compile.ts', 'engines/attachments.ts', 'store/index.ts'],
  'engines/alpha/compile.ts': ['net/ip.ts', 'config/section.ts'],
  'engines/beta/index.ts': ['engines/beta/kernel.ts'],
  'engines/beta/kernel.ts': ['kernel/map.ts'],
  'catalog.ts': ['engines/alpha/index.ts', 'engines/beta/index.ts', 'config/section.ts'],
  'control/plane.ts': ['catalog.ts', '?engines/engine.ts', 'status/types.ts'],
  'api/server.ts': ['control/plane.ts', 'http/route-kit.ts', 'store/index.ts', 'alerts/model.ts'],
  'log.ts': ['config/section.ts'],
  'agent.ts': ['api/server.ts', 'catalog.ts', 'control/plane.ts', 'log.ts'],
  'lab/netns.ts': ['net/ip.ts'],
  'doctor/checks.ts': ['kernel/map.ts', 'engines/beta/kernel.ts'],
  'demo/scenario.ts': ['lab/netns.ts', 'catalog.ts'],
  // the commands on top may reach into an engine folder
  'cli/main.ts': ['agent.ts', 'engines/alpha/compile.ts', 'demo/scenario.ts', 'doctor/checks.ts'],
  'net/dev-types.ts': ['?dev-pkg'],
};

/** Each entry: one import that breaks the rules named. */
const BROKEN: readonly { from: string; to: string; rules: readonly string[] }[] = [
  // engines never import api/ (nor the control plane, the catalog, the agent)
  { from: 'engines/alpha/routes.ts', to: 'api/server.ts', rules: ['layer-engines'] },
  { from: 'engines/engine.ts', to: 'control/types.ts', rules: ['layer-engines'] },
  // config never imports an engine's compiler
  { from: 'config/compose.ts', to: 'engines/alpha/compile.ts', rules: ['layer-config', 'only-the-catalog-names-engines'] },
  // api/ never reaches into an engine folder (routes come as plugins), nor the catalog
  { from: 'api/routes-x.ts', to: 'engines/alpha/engine.ts', rules: ['layer-api', 'only-the-catalog-names-engines'] },
  { from: 'api/routes-y.ts', to: 'catalog.ts', rules: ['layer-api'] },
  // the control plane sees engines through the contract and the catalog only
  { from: 'control/rules.ts', to: 'engines/beta/kernel.ts', rules: ['only-the-catalog-names-engines'] },
  // one engine never imports another's internals; index to index is the one allowance
  { from: 'engines/alpha/engine.ts', to: 'engines/beta/kernel.ts', rules: ['engine-folders-are-private'] },
  { from: 'engines/alpha/compile.ts', to: 'engines/beta/index.ts', rules: ['engine-folders-are-private'] },
  { from: 'engines/beta/index.ts', to: 'engines/alpha/schema.ts', rules: ['engine-index-names-engines-by-index'] },
  // code every engine shares names no engine
  { from: 'engines/pins.ts', to: 'engines/beta/kernel.ts', rules: ['shared-engine-code-names-no-engine'] },
  // lower layers never import upper ones
  { from: 'kernel/ring.ts', to: 'config/section.ts', rules: ['layer-kernel'] },
  { from: 'alerts/eve.ts', to: 'store/index.ts', rules: ['layer-alerts'] },
  { from: 'store/rules.ts', to: 'engines/engine.ts', rules: ['layer-store'] },
  { from: 'lab/traffic.ts', to: 'engines/engine.ts', rules: ['layer-lab'] },
  { from: 'agent.ts', to: 'cli/format.ts', rules: ['layer-agent'] },
  // the product never imports tests or benchmarks
  { from: 'net/port.ts', to: '../test/support/frames.ts', rules: ['src-not-to-tests'] },
  { from: 'net/cidr.ts', to: '../bench/stats.ts', rules: ['src-not-to-tests'] },
  // a folder no layer names
  { from: 'widgets/thing.ts', to: 'net/ip.ts', rules: ['unlayered-src'] },
  // npm: a package that is only a dependency of a dependency; a devDependency at run time
  { from: 'net/pkg.ts', to: 'transitive-pkg', rules: ['no-non-package-json'] },
  { from: 'net/dev.ts', to: 'dev-pkg', rules: ['src-not-to-dev-deps'] },
];

/** A cycle closed by a type-only import (reported once, on its first edge). The broken imports
 * above all end in files that import nothing back, so they close no cycle of their own. */
const CYCLE = { a: 'net/cycle-a.ts', b: 'net/cycle-b.ts' };

function importLine(from: string, to: string, i: number): string {
  const typeOnly = to.startsWith('?');
  const target = typeOnly ? to.slice(1) : to;
  const spec = target.endsWith('.ts') ? path.posix.relative(path.posix.dirname(`src/${from}`), `src/${target}`).replace(/\.ts$/, '.js') : target;
  const rel = spec.startsWith('.') || !target.endsWith('.ts') ? spec : `./${spec}`;
  return typeOnly ? `import type { T${i} } from '${rel}';\n` : `import * as m${i} from '${rel}';\nvoid m${i};\n`;
}

function writeFixture(root: string): void {
  const files = new Map<string, string[]>();
  const add = (from: string, to: string | null): void => {
    if (!files.has(from)) files.set(from, []);
    if (to !== null) files.get(from)!.push(to);
  };
  for (const [from, tos] of Object.entries(ALLOWED)) {
    add(from, null);
    for (const to of tos) add(to.replace(/^\?/, ''), null), add(from, to);
  }
  for (const b of BROKEN) {
    add(b.from, b.to);
    if (b.to.endsWith('.ts')) add(b.to, null);
  }
  add(CYCLE.a, CYCLE.b);
  add(CYCLE.b, `?${CYCLE.a}`);
  add('net/lonely.ts', null); // nothing imports it and it imports nothing: the one orphan
  add('net/broken.ts', 'net/missing.ts');

  for (const [file, tos] of files) {
    const full = file.startsWith('../') ? path.join(root, file.slice(3)) : path.join(root, 'src', file);
    mkdirSync(path.dirname(full), { recursive: true });
    const body = tos.map((t, i) => importLine(file, t, i)).join('') + `export type T = number;\n${Array.from({ length: 40 }, (_, i) => `export type T${i} = number;`).join('\n')}\n`;
    writeFileSync(full, body);
  }
  copyFileSync(path.join(repo, 'tsconfig.json'), path.join(root, 'tsconfig.json'));
  writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'fixture', type: 'module', devDependencies: { 'dev-pkg': '1.0.0' } }));
  for (const pkg of ['dev-pkg', 'transitive-pkg']) {
    mkdirSync(path.join(root, 'node_modules', pkg), { recursive: true });
    writeFileSync(path.join(root, 'node_modules', pkg, 'package.json'), JSON.stringify({ name: pkg, version: '1.0.0', main: 'index.js', types: 'index.d.ts' }));
    writeFileSync(path.join(root, 'node_modules', pkg, 'index.js'), 'module.exports = {};\n');
    writeFileSync(path.join(root, 'node_modules', pkg, 'index.d.ts'), 'export type T0 = number;\n');
  }
}

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

function cruise(root: string, outputType: 'json' | 'err'): Promise<{ stdout: string; status: number }> {
  return new Promise((resolve, reject) => {
    execFile(
      depcruise,
      ['src', '--config', path.join(repo, '.dependency-cruiser.cjs'), '--output-type', outputType],
      { cwd: root, timeout: 120_000, maxBuffer: 64 << 20 },
      (err, stdout) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ stdout, status: err ? Number(err.code) : 0 });
      },
    );
  });
}

const src = (f: string): string => (f.startsWith('../') ? f.slice(3) : `src/${f}`);

describe('import rules (.dependency-cruiser.cjs)', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'layering-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('report exactly the imports that break them, and fail the run', async () => {
    writeFixture(root);
    const { stdout } = await cruise(root, 'json');
    const { violations } = (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary;
    const got = violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
    const want = [
      ...BROKEN.flatMap((b) => b.rules.map((r) => `${r}: ${src(b.from)} -> ${b.to.endsWith('.ts') ? src(b.to) : `node_modules/${b.to}/index.js`}`)),
      `no-circular: ${src(CYCLE.a)} -> ${src(CYCLE.b)}`,
      'no-orphans: src/net/lonely.ts -> src/net/lonely.ts',
      'not-to-unresolvable: src/net/broken.ts -> ./missing.js',
    ].sort();
    assert.deepEqual(got, want);
    // as `make layers` runs it: the exit status fails the build, the report names rule and import
    const run = await cruise(root, 'err');
    assert.notEqual(run.status, 0);
    assert.match(run.stdout, /error layer-engines: src\/engines\/alpha\/routes\.ts → src\/api\/server\.ts/);
  });
});
