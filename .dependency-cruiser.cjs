// Import rules for the agent's TypeScript (docs/architecture.md "Import rules" says the same in
// prose). `make layers` checks them and `make test` depends on it; test/unit/layering.test.ts
// proves each rule catches an import that breaks it.
//
// The layers, lowest first. A layer imports its own folder and the layers it lists, nothing
// else in src/ (node built-ins and npm packages are not layers). To add a folder, give it a line.
/** @type {Record<string, { path: string, may: string[], why: string }>} */
const LAYERS = {
  net: { path: '^src/net/', may: [], why: 'addresses and ports, used by everything' },
  version: { path: '^src/version\\.ts$', may: [], why: 'the package version and repo root' },
  status: { path: '^src/status/', may: ['net'], why: 'status types, below the HTTP layer so engines and the control plane use them' },
  kernel: { path: '^src/kernel/', may: ['net'], why: 'the typed face of the bridge: knows no policy, no engine' },
  metrics: { path: '^src/metrics/', may: ['net'], why: 'the Prometheus registry and the agent-wide series' },
  http: { path: '^src/http/', may: ['net', 'status'], why: 'what route plugins share (engines and api/ alike)' },
  config: { path: '^src/config/', may: ['net', 'version'], why: 'loading and composing sections; never an engine or its compiler' },
  blocklist: {
    path: '^src/blocklist/',
    may: ['kernel', 'config', 'http', 'status', 'net', 'version', 'metrics'],
    why: 'the block-list service every engine and the API share (not an engine): its map, expiry, routes',
  },
  intel: { path: '^src/intel/', may: ['net'], why: 'threat-intelligence feeds into typed indicators: what tc-threatintel enforces and DNS blocking takes' },
  alerts: { path: '^src/alerts/', may: ['config', 'net', 'version', 'status', 'metrics'], why: 'the record model, EVE and the sink pipeline' },
  store: { path: '^src/store/', may: ['alerts', 'blocklist', 'config', 'net', 'version', 'status'], why: 'SQLite persistence of records, audit and rules' },
  engines: {
    path: '^src/engines/',
    may: ['kernel', 'config', 'alerts', 'blocklist', 'intel', 'store', 'metrics', 'status', 'http', 'net', 'version'],
    why: 'engines never import the control plane, the API, the catalog or the agent',
  },
  catalog: { path: '^src/catalog\\.ts$', may: ['config', 'engines', 'alerts', 'blocklist', 'net'], why: 'composition root: the engines and the config file they make up' },
  control: { path: '^src/control/', may: ['catalog', 'engines', 'config', 'status', 'net'], why: 'runs the catalog: reloads, API rules, program switches' },
  api: {
    path: '^src/api/',
    may: ['control', 'http', 'status', 'config', 'alerts', 'store', 'metrics', 'net', 'version'],
    why: 'HTTP over the control plane; engine routes arrive as plugins, never by import',
  },
  log: { path: '^src/log\\.ts$', may: ['config'], why: 'the process logger (secret redaction from config)' },
  agent: {
    path: '^src/agent\\.ts$',
    may: ['catalog', 'control', 'api', 'engines', 'blocklist', 'alerts', 'store', 'config', 'kernel', 'metrics', 'status', 'http', 'net', 'version', 'log'],
    why: 'composition root: wires the catalog, control plane, API, store and alert pipeline',
  },
  capture: { path: '^src/capture/', may: [], why: 'capture files (pcap, pcapng) and their link types, read frame by frame' },
  replay: {
    path: '^src/replay/',
    may: ['catalog', 'engines', 'blocklist', 'alerts', 'capture', 'config', 'kernel', 'metrics', 'status', 'net', 'version'],
    why: 'composition root of a replay: the catalog\'s engines test-run over a capture, records through the alert pipeline',
  },
  lab: { path: '^src/lab/', may: ['net', 'capture'], why: 'network-namespace labs for the demo and the tests; knows nothing of the agent' },
  doctor: { path: '^src/doctor/', may: ['kernel', 'engines', 'config', 'status', 'net', 'version'], why: 'host checks' },
  demo: {
    path: '^src/demo/',
    may: ['lab', 'catalog', 'engines', 'kernel', 'config', 'status', 'net', 'version'],
    why: 'the demo scenario: drives a real agent in a lab',
  },
  cli: {
    path: '^src/cli/',
    may: ['agent', 'catalog', 'demo', 'doctor', 'lab', 'replay', 'capture', 'engines', 'blocklist', 'alerts', 'config', 'status', 'kernel', 'net', 'version', 'log'],
    why: 'the ebpfsentinel binary, the top',
  },
};

// Files directly under src/engines/ and these folders are what every engine shares (the engine
// contract, attachments, pins, the TC pipeline table, the program runtime); every other folder
// under src/engines/ is one engine and private to it.
const ENGINE_SHARED = '^src/engines/([^/]+\\.ts$|runtime/)';
const ENGINE_FOLDER = '^src/engines/(?!runtime/)[^/]+/';

const layerRules = Object.entries(LAYERS).map(([name, layer]) => ({
  name: `layer-${name}`,
  comment: `${name} (${layer.why}) imports only ${layer.may.length ? layer.may.join(', ') : 'its own folder'}`,
  severity: 'error',
  from: { path: layer.path },
  to: { path: '^src/', pathNot: [layer.path, ...layer.may.map((m) => LAYERS[m].path)] },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'no import cycles, type-only imports included: a cycle makes load order and layering meaningless',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'src-not-to-tests',
      comment: 'the product never imports tests, benchmarks or build scripts',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'unlayered-src',
      comment: 'every file under src/ belongs to a layer of .dependency-cruiser.cjs (a new folder gets its line there)',
      severity: 'error',
      from: { path: '^src/', pathNot: Object.values(LAYERS).map((l) => l.path) },
      to: {},
    },
    ...layerRules,
    {
      name: 'engine-folders-are-private',
      comment: "an engine's files never import another engine's folder",
      severity: 'error',
      from: { path: '^src/engines/([^/]+)/(?!index\\.ts$)' },
      to: { path: ENGINE_FOLDER, pathNot: ['^src/engines/$1/'] },
    },
    {
      name: 'engine-index-names-engines-by-index',
      comment:
        "the one allowance: an engine's index.ts may import another engine's index.ts, to name an engine it depends on " +
        '(dependsOn) by the module the catalog lists; it reaches nothing else of that engine',
      severity: 'error',
      from: { path: '^src/engines/([^/]+)/index\\.ts$' },
      to: { path: ENGINE_FOLDER, pathNot: ['^src/engines/$1/', '^src/engines/[^/]+/index\\.ts$'] },
    },
    {
      name: 'only-the-catalog-names-engines',
      comment:
        'outside src/engines/, only src/catalog.ts (and the commands on top: cli, demo, doctor) import an engine folder; ' +
        'the control plane and the API see engines through the engine contract, the catalog and the routes engines register',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/engines/', '^src/catalog\\.ts$', '^src/(cli|demo|doctor)/'] },
      to: { path: ENGINE_FOLDER },
    },
    {
      name: 'shared-engine-code-names-no-engine',
      comment: 'what engines share (the contract, attachments, pins, the runtime) depends on no particular engine',
      severity: 'error',
      from: { path: ENGINE_SHARED },
      to: { path: ENGINE_FOLDER },
    },
    {
      name: 'no-orphans',
      comment: 'a source file nothing imports and that imports nothing is dead',
      severity: 'error',
      from: { orphan: true, pathNot: ['\\.d\\.ts$'] },
      to: {},
    },
    {
      name: 'not-to-unresolvable',
      comment: 'every import resolves',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-non-package-json',
      comment: 'every npm package imported is listed in package.json (not there only as a dependency of a dependency)',
      severity: 'error',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'src-not-to-dev-deps',
      comment: 'the product does not import devDependencies at run time (npm ci --omit=dev must still run it)',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|build|native)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    // type-only imports are imports: a layer may not name an upper layer's types either
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
