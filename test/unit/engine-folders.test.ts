// Every engine folder has the shape docs/architecture.md ("Adding a program") gives a new one:
// the files the table lists unconditionally are in every folder, routes.ts is there exactly when
// the module brings routes, and each folder's index.ts is the module the catalog lists (one
// folder per catalog line, no engine without a folder).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ENGINE_MODULES } from '../../src/catalog.js';
import type { EngineModule } from '../../src/engines/engine.js';
import { REPO_ROOT } from '../../src/version.js';
import { markdownTables } from '../support/markdown-tables.js';

/** folders under src/engines/ that are shared by engines, not engines */
const SHARED = new Set(['runtime']);
const engineDirs = readdirSync(path.join(REPO_ROOT, 'src', 'engines'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && !SHARED.has(d.name))
  .map((d) => d.name)
  .sort();

/** The folder's files the doc's table lists: required ones, and those it lists "where" needed. */
function documentedShape(): { required: string[]; optional: string[] } {
  const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'architecture.md'), 'utf8');
  const table = markdownTables(doc).find((t) => t.heading === 'Adding a program');
  assert.ok(table, 'docs/architecture.md has an "Adding a program" table');
  const required: string[] = [];
  const optional: string[] = [];
  for (const [file, what] of table.rows) {
    const m = /^`src\/engines\/[a-z]+\/([a-z-]+\.ts)`$/.exec(file ?? '');
    if (m) (what?.startsWith('where') ? optional : required).push(m[1]!);
  }
  return { required, optional };
}

describe('engine folders', () => {
  const shape = documentedShape();

  it('the doc names the shape: module, section, schema, engine, kernel face; compile, events, metrics, routes where needed', () => {
    assert.deepEqual(shape.required.sort(), ['engine.ts', 'index.ts', 'kernel.ts', 'schema.ts', 'section.ts']);
    assert.deepEqual(shape.optional.sort(), ['compile.ts', 'events.ts', 'metrics.ts', 'routes.ts']);
  });

  it('every engine folder has the required files, and routes.ts exactly when its module has routes', async () => {
    assert.ok(engineDirs.length >= 3);
    for (const dir of engineDirs) {
      const src = path.join(REPO_ROOT, 'src', 'engines', dir);
      for (const f of shape.required) assert.ok(existsSync(path.join(src, f)), `src/engines/${dir}/${f}`);
      const mod = await moduleOf(dir);
      assert.equal(existsSync(path.join(src, 'routes.ts')), mod.routes !== undefined, `src/engines/${dir}: routes.ts and ${mod.program}'s routes go together`);
    }
  });

  it('each folder is one catalog line, and every catalog line is a folder', async () => {
    const found = await Promise.all(engineDirs.map(moduleOf));
    assert.deepEqual(
      found.map((m) => m.program).sort(),
      ENGINE_MODULES.map((m) => m.program).sort(),
    );
    for (const m of found) assert.ok((ENGINE_MODULES as readonly unknown[]).includes(m), `${m.program}'s module is the catalog's`);
  });
});

/** The EngineModule a folder's index.ts exports (it exports nothing else). */
async function moduleOf(dir: string): Promise<EngineModule> {
  const file = path.join(REPO_ROOT, 'dist', 'src', 'engines', dir, 'index.js');
  const exported = Object.values((await import(pathToFileURL(file).href)) as Record<string, unknown>);
  assert.equal(exported.length, 1, `src/engines/${dir}/index.ts exports its module only`);
  return exported[0] as EngineModule;
}
