// The control plane against real config files on disk: reloads by API, file watch (plain write,
// rename-replace, bursts), refusal of invalid files with the running policy kept, coalescing,
// engines started/stopped by `enabled`, API rules merged with file rules, runtime toggles.
// The engine here is a small recording Engine (the kernel-backed firewall is exercised the same
// way by test/e2e/reload-storm.test.ts); the loader, the watcher, the queue and the merge are real.
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { ProgramStatus } from '../../src/status/types.js';
import { configFormat, loadConfigFile, type Config } from '../../src/catalog.js';
import { configJsonSchema } from '../../src/config/json-schema.js';
import { MemoryApiRuleStore } from '../../src/control/api-rules.js';
import { ConfigFileWatcher } from '../../src/control/config-watch.js';
import { LiveControlPlane, RESTART_KEYS, type ReloadParticipant } from '../../src/control/control-plane.js';
import { EngineSet, type EngineSpec } from '../../src/control/engine-set.js';
import { ConflictError, NotFoundError, ValidationError } from '../../src/control/types.js';
import type { Engine, EngineContext, PreparedChange } from '../../src/engines/engine.js';

const dir = mkdtempSync(path.join(tmpdir(), 'esn-control-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const log = pino({ level: 'silent' });

/** Records which rule ids it enforces; refuses a policy holding a rule id "refuse-me". */
class RecordingEngine implements Engine<Config> {
  static live = new Map<string, RecordingEngine>();
  static journal: string[] = [];
  /** what prepare() sees besides the config: stands for data an engine fetches itself (a feed) */
  static feed = 'v1';
  feed = '';
  readonly programId = 0;
  ruleIds: string[] = [];
  started = false;
  constructor(
    readonly program: string,
    private readonly ctx: EngineContext<Config>,
  ) {}
  async start(): Promise<void> {
    await this.prepare(this.ctx.config).commit();
    this.started = true;
    RecordingEngine.live.set(this.program, this);
    RecordingEngine.journal.push(`start ${this.program}`);
  }
  prepare(next: Config): PreparedChange {
    const ids = next.firewall.rules.map((r) => r.id);
    if (ids.includes('refuse-me')) throw new Error('firewall.rules: rule "refuse-me" cannot be enforced');
    const feed = RecordingEngine.feed;
    if (feed === 'broken') throw new Error('feed: cannot be enforced');
    return {
      summary: { rules: ids.length },
      commit: async () => {
        this.ruleIds = ids;
        this.feed = feed;
      },
    };
  }
  ringFds(): number[] {
    return [];
  }
  onRecord(): boolean {
    return true;
  }
  refresh(): void {}
  status(): ProgramStatus {
    return { name: this.program, loaded: true, attachments: [], maps: [], counters: { seen: 0, passed: 0, dropped: 0, malformed: 0, events: 0, events_lost: 0 } };
  }
  losses() {
    return { ring_full: 0, backpressure: 0 };
  }
  async stop(): Promise<string[]> {
    this.started = false;
    RecordingEngine.journal.push(`stop ${this.program}`);
    if (RecordingEngine.live.get(this.program) === this) RecordingEngine.live.delete(this.program);
    return [];
  }
}

const SPECS: EngineSpec[] = [{ program: 'xdp-firewall', enabledIn: (c) => c.firewall.enabled, create: (ctx) => new RecordingEngine('xdp-firewall', ctx) }];

function policy(rules: { id: string; priority: number; action?: string; src?: string }[], opts: { enabled?: boolean } = {}): string {
  const lines = ['agent:', '  interfaces: [eth1]', 'firewall:', `  enabled: ${opts.enabled ?? true}`, '  rules:'];
  if (!rules.length) lines[lines.length - 1] = '  rules: []';
  for (const r of rules) lines.push(`    - id: ${r.id}`, `      priority: ${r.priority}`, `      action: ${r.action ?? 'deny'}`, `      src_ip: "${r.src ?? '198.18.0.1'}"`);
  return `${lines.join('\n')}\n`;
}

let n = 0;
async function setup(initial: string, opts: { watch?: boolean; participants?: ReloadParticipant[]; specs?: EngineSpec[] } = {}) {
  const file = path.join(dir, `c${++n}`, 'sentinel.yaml');
  rmSync(path.dirname(file), { recursive: true, force: true });
  (await import('node:fs')).mkdirSync(path.dirname(file));
  writeFileSync(file, initial);
  const config = await loadConfigFile(file);
  const registry = new Registry();
  const audit: { action: string; outcome: string; actor: string; target?: string; detail?: string; before?: unknown; after?: unknown }[] = [];
  const engines = new EngineSet(opts.specs ?? SPECS, () => (c) => ({ config: c }) as unknown as EngineContext<Config>, log);
  const rules = new MemoryApiRuleStore();
  const control = new LiveControlPlane({
    file,
    initial: config,
    load: loadConfigFile,
    engines,
    ...(opts.participants ? { participants: opts.participants } : {}),
    rules,
    audit: { record: (e) => audit.push(e) },
    log,
    registry,
    status: () => ({ programs: engines.engines().map((e) => e.status()), events: { received: 0, lost: {} }, config: { path: file, loaded_at: null } }),
  });
  await engines.startAll(control.effectiveConfig, control.wanted);
  let watcher: ConfigFileWatcher | null = null;
  if (opts.watch) {
    watcher = new ConfigFileWatcher(file, () => void control.fileChanged(), { debounceMs: 100 });
    watcher.start();
  }
  const reloads = async (trigger: string, outcome: string): Promise<number> => {
    const m = (await registry.getSingleMetric('ebpfsentinel_config_reloads_total')!.get()).values.find((v) => v.labels.trigger === trigger && v.labels.outcome === outcome);
    return m?.value ?? 0;
  };
  const skipped = async (reason: string): Promise<number> => (await registry.getSingleMetric('ebpfsentinel_config_watch_skipped_total')!.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
  return { file, control, engines, rules, audit, reloads, skipped, close: () => watcher?.close() };
}

const fw = (): RecordingEngine => {
  const e = RecordingEngine.live.get('xdp-firewall');
  assert.ok(e, 'firewall engine is running');
  return e;
};

async function until(probe: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) assert.fail(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('control plane: reload', () => {
  beforeEach(() => RecordingEngine.live.clear());

  it('applies a valid file and refuses an invalid one whole, naming file:line:col and key', async () => {
    const t = await setup(policy([{ id: 'a', priority: 10 }]));
    assert.deepEqual(fw().ruleIds, ['a']);
    writeFileSync(t.file, policy([{ id: 'a', priority: 10 }, { id: 'b6', priority: 20, src: '2001:db8::1' }]));
    const ok = await t.control.reload('api', 'alice');
    assert.equal(ok.ok, true, ok.error);
    assert.equal(ok.generation, 2);
    assert.deepEqual(ok.applied, [{ program: 'xdp-firewall', action: 'updated', summary: { rules: 2 } }]);
    assert.deepEqual(fw().ruleIds, ['a', 'b6']);

    // unknown key on line 8 (the second rule's "prioritee")
    writeFileSync(t.file, policy([{ id: 'a', priority: 10 }]) + '    - id: c\n      prioritee: 5\n      action: deny\n');
    const bad = await t.control.reload('api', 'alice');
    assert.equal(bad.ok, false);
    assert.equal(bad.generation, 2);
    assert.match(bad.error!, new RegExp(`${t.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:11:7: firewall\\.rules\\[1\\]\\.prioritee: unknown key`));
    assert.ok(bad.issues?.some((i) => i.path === 'firewall.rules[1].priority' && /required|missing/.test(i.message)), JSON.stringify(bad.issues));
    assert.deepEqual(fw().ruleIds, ['a', 'b6'], 'running policy kept');

    // an engine refusing the policy (after the schema accepted it) also leaves everything as it was
    writeFileSync(t.file, policy([{ id: 'refuse-me', priority: 10 }]));
    const refused = await t.control.reload('signal', 'signal:SIGHUP');
    assert.equal(refused.ok, false);
    assert.match(refused.error!, /xdp-firewall: firewall\.rules: rule "refuse-me"/);
    assert.deepEqual(fw().ruleIds, ['a', 'b6']);
    assert.equal(t.control.lastReload(), refused);

    assert.equal(await t.reloads('api', 'success'), 1);
    assert.equal(await t.reloads('api', 'failure'), 1);
    assert.equal(await t.reloads('signal', 'failure'), 1);
    assert.deepEqual(t.audit.map((a) => `${a.action}:${a.outcome}:${a.actor}`), ['config.reload:ok:alice', 'config.reload:rejected:alice', 'config.reload:rejected:signal:SIGHUP']);
    t.close();
  });

  it('settings read once at start keep their running value on reload, and the outcome names each', async () => {
    const t = await setup(policy([{ id: 'a', priority: 10 }]));
    const agentKeys = '  interfaces: [eth2]\n  log_level: debug\n  api_rate_limit: { reads_per_window: 10 }\n  metrics_interval_ms: 5000\n';
    writeFileSync(t.file, `${policy([{ id: 'a', priority: 10 }, { id: 'b', priority: 20 }]).replace('  interfaces: [eth1]\n', agentKeys)}storage:\n  retention: { alerts_max_count: 5 }\n`);
    const out = await t.control.reload('api', 'alice');
    assert.equal(out.ok, true, out.error);
    const restart = ['agent.interfaces', 'agent.api_rate_limit', 'agent.log_level', 'agent.metrics_interval_ms', 'storage'];
    assert.deepEqual(out.applied?.find((c) => c.program === 'agent'), { program: 'agent', action: 'unchanged', summary: { restart_required: restart } });
    assert.deepEqual(fw().ruleIds, ['a', 'b'], 'the rest of the file applies');
    const running = t.control.effectiveConfig;
    assert.deepEqual(running.agent.interfaces, ['eth1']);
    assert.equal(running.agent.log_level, 'info');
    assert.equal(running.agent.api_rate_limit.reads_per_window, 1200);
    assert.equal(running.agent.metrics_interval_ms, 1000);
    assert.equal(running.storage.retention.alerts_max_count, 1_000_000);
    t.close();
  });

  it('every agent key is either read once at start (reported on reload) or judged again on reload', () => {
    const agent = (configJsonSchema(configFormat.schema) as { properties: { agent: { properties: Record<string, unknown> } } }).properties.agent;
    assert.deepEqual(Object.keys(agent.properties).sort(), [...RESTART_KEYS, 'allow_unauthenticated_api', 'on_exit'].sort());
  });

  it('an engine\'s refresh: the running config applied again through the same queue, counted and audited; a refusal keeps the running policy', async () => {
    RecordingEngine.feed = 'v1';
    const t = await setup(policy([{ id: 'a', priority: 10 }]));
    assert.equal(fw().feed, 'v1');
    RecordingEngine.feed = 'v2';
    const ok = await t.control.refresh('xdp-firewall', 'feed updated');
    assert.equal(ok.ok, true, ok.error);
    assert.equal(ok.trigger, 'engine');
    assert.equal(ok.actor, 'engine:xdp-firewall');
    assert.equal(ok.generation, 2);
    assert.equal(fw().feed, 'v2');
    assert.deepEqual(fw().ruleIds, ['a'], 'the file is not read again: its running rules stay');
    RecordingEngine.feed = 'broken';
    const refused = await t.control.refresh('xdp-firewall', 'feed updated');
    assert.equal(refused.ok, false);
    assert.match(refused.error!, /feed: cannot be enforced/);
    assert.equal(refused.generation, 2);
    assert.equal(fw().feed, 'v2', 'the running policy stays');
    assert.equal(await t.reloads('engine', 'success'), 1);
    assert.equal(await t.reloads('engine', 'failure'), 1);
    assert.deepEqual(t.audit.map((a) => `${a.action}:${a.outcome}:${a.actor}:${a.target}`), ['engine.refresh:ok:engine:xdp-firewall:xdp-firewall', 'engine.refresh:rejected:engine:xdp-firewall:xdp-firewall']);
    assert.match(t.audit[0]!.detail!, /^feed updated; generation=2$/);
    RecordingEngine.feed = 'v1';
    t.close();
  });

  it('file watch: a plain write, a rename-replace, a burst is one reload, an unchanged rewrite is none', async () => {
    const t = await setup(policy([{ id: 'a', priority: 10 }]), { watch: true });
    writeFileSync(t.file, policy([{ id: 'w1', priority: 10 }]));
    await until(() => fw().ruleIds[0] === 'w1', 5000, 'reload after a plain write');
    assert.equal(t.control.lastReload()?.trigger, 'file');

    // editors: write a temp file and rename it over the original (the watched inode goes away)
    const tmp = path.join(path.dirname(t.file), '.sentinel.yaml.swp');
    writeFileSync(tmp, policy([{ id: 'w2', priority: 10, src: '2001:db8::2' }]));
    renameSync(tmp, t.file);
    await until(() => fw().ruleIds[0] === 'w2', 5000, 'reload after rename-replace');
    const gen = t.control.lastReload()!.generation;

    // a burst of 10 writes inside the debounce window: one reload, of the last content
    for (let i = 0; i < 10; i++) writeFileSync(t.file, policy([{ id: `burst${i}`, priority: 10 }]));
    await until(() => fw().ruleIds[0] === 'burst9', 5000, 'reload after a burst');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(t.control.lastReload()!.generation, gen + 1, 'one reload for the burst');
    assert.equal(await t.reloads('file', 'success'), 3);

    // same content again, and a file in the same directory: no reload (the rewrite is judged
    // and counted as unchanged; the other file is not even looked at)
    writeFileSync(t.file, policy([{ id: 'burst9', priority: 10 }]));
    await until(async () => (await t.skipped('unchanged')) === 1, 5000, 'the unchanged rewrite judged unchanged');
    writeFileSync(path.join(path.dirname(t.file), 'other.yaml'), 'x: 1\n');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await t.skipped('unchanged')) + (await t.skipped('empty')) + (await t.skipped('absent')), 1, 'the other file made no event of ours');
    assert.equal(await t.reloads('file', 'success') + (await t.reloads('file', 'failure')), 3);

    // an invalid save is refused, the next valid one applies
    writeFileSync(t.file, 'agent: [\n');
    await until(() => t.control.lastReload()?.ok === false, 5000, 'refusal of a broken save');
    assert.match(t.control.lastReload()!.error!, /YAML syntax error/);
    assert.equal(fw().ruleIds[0], 'burst9');
    writeFileSync(t.file, policy([{ id: 'fixed', priority: 10 }]));
    await until(() => fw().ruleIds[0] === 'fixed', 5000, 'reload after the fix');
    t.close();
  });

  it('one change, one reload: file events are judged in the queue against what the last reload read, whatever triggered it', async () => {
    // A participant that holds a reload between reading the file and committing, as a slow
    // apply does on a loaded machine: file events arrive meanwhile.
    let hold: Promise<void> | null = null;
    let entered = 0;
    const gate: ReloadParticipant = {
      name: 'gate',
      prepare: async () => {
        entered++;
        await hold;
        return null;
      },
    };
    const t = await setup(policy([{ id: 'a', priority: 10 }]), { participants: [gate] });
    /** the next reload stops after reading the file until the returned function is called */
    const held = async (start: () => Promise<unknown>): Promise<() => void> => {
      let open!: () => void;
      hold = new Promise<void>((r) => (open = r));
      const before = entered;
      void start();
      await until(() => entered > before, 2000, 'the reload read the file');
      return () => {
        hold = null;
        open();
      };
    };

    // (1) the API reloads a write; the watcher's event of the same write comes while it runs
    writeFileSync(t.file, policy([{ id: 'b', priority: 10 }]));
    let api!: ReturnType<typeof t.control.reload>;
    let release = await held(async () => (api = t.control.reload('api', 'ops')));
    const event = t.control.fileChanged();
    release();
    assert.equal((await api).ok, true);
    assert.equal(await event, null, 'the event of a write the API reloaded is no reload');
    assert.equal(await t.skipped('unchanged'), 1);

    // (2) the event of step n is queued behind a reload when step n+1 is written (the flake in
    // test/e2e/reload-storm.test.ts): its run reads step n+1, and step n+1's own event is then
    // no second reload of it
    writeFileSync(t.file, policy([{ id: 'c', priority: 10 }]));
    let sighup!: ReturnType<typeof t.control.reload>;
    release = await held(async () => (sighup = t.control.reload('signal', 'signal:SIGHUP')));
    const lateEvent = t.control.fileChanged(); // the watcher read nothing: it only asks
    writeFileSync(t.file, policy([{ id: 'd', priority: 10, src: '2001:db8::d' }]));
    release();
    const s = await sighup;
    const l = await lateEvent;
    assert.equal(s.trigger, 'signal');
    assert.equal(l?.trigger, 'file', 'the queued event reloads the newer content');
    assert.deepEqual(fw().ruleIds, ['d']);
    assert.equal(await t.control.fileChanged(), null, 'the newer write\'s own event: no second reload');
    assert.equal(await t.skipped('unchanged'), 2);

    // (3) an event joining a queued API reload: one run, answered as the API's
    writeFileSync(t.file, policy([{ id: 'e', priority: 10 }]));
    let first!: ReturnType<typeof t.control.reload>;
    release = await held(async () => (first = t.control.reload('api', 'ops')));
    writeFileSync(t.file, policy([{ id: 'f', priority: 10 }]));
    const ev = t.control.fileChanged();
    const second = t.control.reload('api', 'ops2');
    release();
    await first;
    const [e, sec] = await Promise.all([ev, second]);
    assert.equal(e, sec, 'the event joined the queued API reload');
    assert.equal(sec.trigger, 'api');
    assert.equal(sec.actor, 'ops2');
    assert.deepEqual(fw().ruleIds, ['f']);

    // (4) a refused file is as read as an applied one: its own event does not refuse it again
    writeFileSync(t.file, 'agent: [\n');
    const refused = await t.control.reload('api', 'ops');
    assert.equal(refused.ok, false);
    assert.equal(await t.control.fileChanged(), null);
    assert.equal(t.control.lastReload(), refused);

    // (5) a half-done write (truncated, not written yet) and a file between unlink and rename
    // are no reload: the running policy stays and the complete file reloads once
    writeFileSync(t.file, '');
    assert.equal(await t.control.fileChanged(), null);
    rmSync(t.file);
    assert.equal(await t.control.fileChanged(), null);
    assert.deepEqual([await t.skipped('empty'), await t.skipped('absent')], [1, 1]);
    writeFileSync(t.file, policy([{ id: 'g', priority: 10 }]));
    const done = await t.control.fileChanged();
    assert.equal(done?.ok, true);
    assert.deepEqual(fw().ruleIds, ['g']);
    assert.deepEqual([await t.reloads('file', 'success'), await t.reloads('file', 'failure')], [2, 0], 'file reloads: the queued event of (2) and the complete file of (5)');
    t.close();
  });

  it('file watch: a Kubernetes-style ConfigMap swap (symlinked ..data directory) is seen', async () => {
    const { mkdirSync, symlinkSync } = await import('node:fs');
    const base = path.join(dir, 'k8s');
    mkdirSync(path.join(base, '..v1'), { recursive: true });
    writeFileSync(path.join(base, '..v1', 'sentinel.yaml'), policy([{ id: 'k1', priority: 10 }]));
    symlinkSync('..v1', path.join(base, '..data'));
    symlinkSync('..data/sentinel.yaml', path.join(base, 'sentinel.yaml'));
    const file = path.join(base, 'sentinel.yaml');
    let changes = 0;
    const w = new ConfigFileWatcher(file, () => changes++, { debounceMs: 100 });
    w.start();
    try {
      mkdirSync(path.join(base, '..v2'));
      writeFileSync(path.join(base, '..v2', 'sentinel.yaml'), policy([{ id: 'k2', priority: 10, src: '2001:db8::9' }]));
      symlinkSync('..v2', path.join(base, '..data_tmp'));
      renameSync(path.join(base, '..data_tmp'), path.join(base, '..data'));
      await until(() => changes === 1, 5000, 'change seen through the ..data swap');
      // other files in the directory do not count
      writeFileSync(path.join(base, 'eve.json'), '{}\n');
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(changes, 1);
    } finally {
      w.close();
    }
  });

  it('serialises reloads and coalesces a burst of triggers', async () => {
    const t = await setup(policy([{ id: 'a', priority: 10 }]));
    writeFileSync(t.file, policy([{ id: 'b', priority: 10 }]));
    const first = t.control.reload('api', 'u1');
    await new Promise((r) => setImmediate(r)); // the first run has started reading the file
    const outcomes = await Promise.all([
      first,
      t.control.reload('signal', 'signal:SIGHUP'),
      t.control.reload('api', 'u2'),
      t.control.reload('file', 'file-watch'),
      t.control.reload('api', 'u3'),
    ]);
    assert.ok(outcomes.every((o) => o.ok));
    const runs = new Set(outcomes.map((o) => o.generation));
    // the first runs alone; the four that arrived while it was queued share one run
    assert.equal(runs.size, 2, JSON.stringify(outcomes));
    assert.equal(outcomes[4]!.coalesced, 4);
    assert.equal(outcomes[4]!.actor, 'u3');
    t.close();
  });

  it('stops and starts an engine when a reload flips enabled; runtime toggles and their end', async () => {
    const t = await setup(policy([{ id: 'a', priority: 10 }]));
    const first = fw();
    writeFileSync(t.file, policy([{ id: 'a', priority: 10 }], { enabled: false }));
    const off = await t.control.reload('api', 'ops');
    assert.deepEqual(off.applied, [{ program: 'xdp-firewall', action: 'stopped' }]);
    assert.equal(first.started, false);
    assert.equal(RecordingEngine.live.size, 0);
    assert.deepEqual(t.control.programs.list().map((p) => [p.name, p.enabled, p.status]), [['xdp-firewall', false, null]]);

    // runtime enable while the file says disabled: an override
    const on = await t.control.programs.setEnabled('xdp-firewall', true, 'ops');
    assert.equal(on.enabled, true);
    assert.equal(on.override, 'enabled');
    assert.deepEqual(fw().ruleIds, ['a']);
    // a reload that leaves `enabled` as it was keeps the override ...
    writeFileSync(t.file, policy([{ id: 'z', priority: 10 }], { enabled: false }));
    assert.equal((await t.control.reload('api', 'ops')).ok, true);
    assert.deepEqual(fw().ruleIds, ['z']);
    // ... one that changes it ends it: the file speaks again
    writeFileSync(t.file, policy([{ id: 'z', priority: 10 }], { enabled: true }));
    await t.control.reload('api', 'ops');
    assert.equal(t.control.programs.list()[0]!.override, undefined);
    await assert.rejects(t.control.programs.setEnabled('xdp-nope', true, 'ops'), NotFoundError);
    assert.ok(t.audit.some((a) => a.action === 'program.enable' && a.outcome === 'ok' && a.actor === 'ops'));
    t.close();
  });
});

describe('control plane: engines that depend on another', () => {
  beforeEach(() => RecordingEngine.live.clear());

  it('a dependent is stopped before and started after its dependency comes or goes; untouched otherwise', async () => {
    const specs: EngineSpec[] = [
      ...SPECS,
      { program: 'xdp-ratelimit', enabledIn: () => true, create: (ctx) => new RecordingEngine('xdp-ratelimit', ctx), dependsOn: ['xdp-firewall'] },
    ];
    const t = await setup(policy([{ id: 'a', priority: 10 }]), { specs });
    const first = RecordingEngine.live.get('xdp-ratelimit')!;
    RecordingEngine.journal = [];
    writeFileSync(t.file, policy([{ id: 'a', priority: 10 }], { enabled: false }));
    const off = await t.control.reload('api', 'ops');
    assert.equal(off.ok, true, off.error);
    assert.deepEqual(RecordingEngine.journal, ['stop xdp-ratelimit', 'stop xdp-firewall', 'start xdp-ratelimit']);
    assert.notEqual(RecordingEngine.live.get('xdp-ratelimit'), first);
    assert.deepEqual(off.applied?.map((c) => `${c.program}:${c.action}`), ['xdp-firewall:stopped', 'xdp-ratelimit:started']);

    RecordingEngine.journal = [];
    await t.control.programs.setEnabled('xdp-firewall', true, 'ops');
    assert.deepEqual(RecordingEngine.journal, ['stop xdp-ratelimit', 'start xdp-firewall', 'start xdp-ratelimit']);

    // a policy change of the dependency alone restarts nothing
    RecordingEngine.journal = [];
    writeFileSync(t.file, policy([{ id: 'b', priority: 10 }], { enabled: false }));
    assert.equal((await t.control.reload('api', 'ops')).ok, true);
    assert.deepEqual(RecordingEngine.journal, []);
    assert.deepEqual(fw().ruleIds, ['b']);
    t.close();
  });
});

describe('control plane: other parts reconfigured by a reload', () => {
  beforeEach(() => RecordingEngine.live.clear());

  it('prepare with the engines, commit after them, abort when anything refuses; untouched by API rule changes', async () => {
    const calls: string[] = [];
    const part: ReloadParticipant = {
      name: 'alerting',
      prepare: async (next, running) => {
        if (next.alerting.eve.path === running.alerting.eve.path) return null;
        if (next.alerting.eve.path.includes('refuse')) throw new Error('alerting.eve.path: cannot open');
        calls.push(`prepare:${path.basename(next.alerting.eve.path)}`);
        return { commit: async () => void calls.push('commit'), abort: async () => void calls.push('abort') };
      },
    };
    const eve = (p: string): string => `alerting:\n  eve: { path: ${p} }\n`;
    const t = await setup(policy([{ id: 'a', priority: 10 }]) + eve('/tmp/one.json'), { participants: [part] });
    writeFileSync(t.file, policy([{ id: 'b', priority: 10 }]) + eve('/tmp/two.json'));
    const ok = await t.control.reload('api', 'ops');
    assert.equal(ok.ok, true, ok.error);
    assert.deepEqual(calls, ['prepare:two.json', 'commit']);
    assert.deepEqual(ok.applied?.map((c) => `${c.program}:${c.action}`), ['xdp-firewall:updated', 'alerting:updated']);

    // the part refuses: nothing changes, not even the engines
    writeFileSync(t.file, policy([{ id: 'c', priority: 10 }]) + eve('/tmp/refuse.json'));
    const bad = await t.control.reload('api', 'ops');
    assert.equal(bad.ok, false);
    assert.match(bad.error!, /alerting: alerting\.eve\.path: cannot open/);
    assert.deepEqual(fw().ruleIds, ['b']);
    // an engine refuses: the engines are asked first, so the part is not even prepared
    writeFileSync(t.file, policy([{ id: 'refuse-me', priority: 10 }]) + eve('/tmp/three.json'));
    assert.equal((await t.control.reload('api', 'ops')).ok, false);
    assert.deepEqual(calls, ['prepare:two.json', 'commit']);

    // unchanged section, and API rule changes: the part is not asked
    await t.control.firewallRules.create({ id: 'x', priority: 20, action: 'deny' }, 'ops');
    writeFileSync(t.file, policy([{ id: 'd', priority: 10 }]) + eve('/tmp/two.json'));
    assert.equal((await t.control.reload('api', 'ops')).ok, true);
    assert.deepEqual(calls, ['prepare:two.json', 'commit']);
    t.close();
  });
});

describe('control plane: firewall rules from the API', () => {
  beforeEach(() => RecordingEngine.live.clear());

  it('merges API rules by priority with the file rules, refuses clashes, and survives reloads', async () => {
    const t = await setup(policy([{ id: 'f10', priority: 10 }, { id: 'f30', priority: 30 }]));
    const v = await t.control.firewallRules.create({ id: 'api20', priority: 20, action: 'allow', src_ip: ['198.18.5.0/24', '2001:db8:5::/48'] }, 'bob');
    assert.equal(v.source, 'api');
    assert.equal(v.actor, 'bob');
    assert.deepEqual(fw().ruleIds, ['f10', 'api20', 'f30']);
    assert.deepEqual(t.control.firewallRules.list().map((r) => `${r.source}:${r.id}`), ['file:f10', 'api:api20', 'file:f30']);
    assert.deepEqual(t.control.firewallRules.get('f10')?.rule, { id: 'f10', priority: 10, action: 'drop', enabled: true, protocol: 'any', src_ip: ['198.18.0.1/32'] });

    await assert.rejects(t.control.firewallRules.create({ id: 'f10', priority: 99, action: 'deny' }, 'bob'), ConflictError);
    await assert.rejects(t.control.firewallRules.create({ id: 'x', priority: 30, action: 'deny' }, 'bob'), (e: Error) => e instanceof ConflictError && /priority 30/.test(e.message) && /f30/.test(e.message));
    await assert.rejects(
      t.control.firewallRules.create({ id: 'x', priority: 40, action: 'deny', dst_port: 80 }, 'bob'),
      (e: unknown) => e instanceof ValidationError && e.issues.some((i) => i.path === 'dst_port'),
    );
    await assert.rejects(
      t.control.firewallRules.create({ id: 'x', priority: 40, action: 'deny', colour: 'red' }, 'bob'),
      (e: unknown) => e instanceof ValidationError && e.issues.some((i) => i.path === 'colour' && /unknown key/.test(i.message)),
    );
    await assert.rejects(t.control.firewallRules.create({ id: 'refuse-me', priority: 41, action: 'deny' }, 'bob'), ValidationError);
    assert.deepEqual(t.rules.list().map((r) => r.id), ['api20'], 'a refused rule is not kept');
    assert.deepEqual(fw().ruleIds, ['f10', 'api20', 'f30']);

    const r = await t.control.firewallRules.replace('api20', { priority: 25, action: 'deny', src_ip: '2001:db8:6::/48' }, 'carol');
    assert.equal(r.rule.priority, 25);
    await assert.rejects(t.control.firewallRules.replace('f10', { priority: 11, action: 'deny' }, 'carol'), ConflictError);
    await assert.rejects(t.control.firewallRules.replace('ghost', { priority: 11, action: 'deny' }, 'carol'), NotFoundError);

    // a reload keeps API rules; a file that takes an API rule's priority is refused whole
    writeFileSync(t.file, policy([{ id: 'f10', priority: 10 }]));
    assert.equal((await t.control.reload('api', 'ops')).ok, true);
    assert.deepEqual(fw().ruleIds, ['f10', 'api20']);
    writeFileSync(t.file, policy([{ id: 'f10', priority: 10 }, { id: 'f25', priority: 25 }]));
    const clash = await t.control.reload('api', 'ops');
    assert.equal(clash.ok, false);
    assert.match(clash.error!, /priority 25 of API rule "api20" is already used by file rule "f25"/);
    assert.deepEqual(fw().ruleIds, ['f10', 'api20']);

    await t.control.firewallRules.remove('api20', 'dave');
    await assert.rejects(t.control.firewallRules.remove('api20', 'dave'), NotFoundError);
    assert.deepEqual(fw().ruleIds, ['f10']);
    const trail = t.audit.filter((a) => a.action.startsWith('firewall.rule.'));
    assert.deepEqual(trail.filter((a) => a.outcome === 'ok').map((a) => `${a.action}:${a.actor}`), ['firewall.rule.create:bob', 'firewall.rule.replace:carol', 'firewall.rule.delete:dave']);
    const replaced = trail.find((a) => a.action === 'firewall.rule.replace' && a.outcome === 'ok')!;
    assert.equal((replaced.before as { priority: number }).priority, 20);
    assert.equal((replaced.after as { priority: number }).priority, 25);
    t.close();
  });

  it('shows the running config (secrets: test/unit/config-secrets.test.ts)', async () => {
    const t = await setup(policy([]));
    const c = t.control.runningConfig() as { agent: { interfaces: string[] }; source: { file: string } };
    assert.deepEqual(c.agent.interfaces, ['eth1']);
    assert.equal(c.source.file, t.file);
    t.close();
  });
});
