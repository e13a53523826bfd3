// A real API over real components for the API tests: the live control plane (with no kernel
// engines: the policy path, validation, conflicts, audit and history are all its own), the
// SQLite store, and authentication with an API key for each role.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Alert } from '../../src/alerts/model.js';
import { apiAuth } from '../../src/api/auth/index.js';
import { buildApiServer } from '../../src/api/server.js';
import type { ApiDeps } from '../../src/api/types.js';
import type { AgentStatus } from '../../src/status/types.js';
import { loadConfigFile, type Config } from '../../src/catalog.js';
import { LiveControlPlane } from '../../src/control/control-plane.js';
import { EngineSet } from '../../src/control/engine-set.js';
import { createLogger, type LineSink } from '../../src/log.js';
import { AgentMetrics } from '../../src/metrics/agent-metrics.js';
import { Store } from '../../src/store/index.js';

export const KEYS = {
  viewer: 'viewer-key-0123456789abcdef',
  operator: 'operator-key-0123456789abcdef',
  admin: 'admin-key-0123456789abcdef0123',
} as const;

export const CONFIG = `
agent:
  interfaces: [eth1]
firewall:
  default_policy: pass
  rules:
    - { id: file-ssh, priority: 10, action: drop, protocol: tcp, dst_port: 22, src_ip: [198.18.0.0/24, "2001:db8:1::/64"] }
auth:
  enabled: true
  api_keys:
    - { name: ops-viewer, key: ${KEYS.viewer}, role: viewer }
    - { name: ops-operator, key: ${KEYS.operator}, role: operator }
    - { name: ops-admin, key: ${KEYS.admin}, role: admin }
`;

export function alert(i: number, over: Partial<Alert> = {}): Alert {
  const v6 = i % 2 === 1;
  return {
    kind: 'alert',
    timestampNs: BigInt(Date.UTC(2026, 10, 26, 14, 0, 0)) * 1_000_000n + BigInt(i) * 1_000_000n,
    severity: (['low', 'medium', 'high', 'critical'] as const)[i % 4]!,
    engine: 'firewall',
    program: 'xdp-firewall',
    ruleId: i % 3 === 0 ? 'file-ssh' : 'default-policy',
    ruleName: 'test rule',
    signatureId: 1000 + (i % 3),
    action: 'blocked',
    reason: 'rule',
    flow: v6
      ? { srcIp: `2001:db8:1::${(i % 250) + 1}`, dstIp: '2001:db8:2::1', proto: 6, srcPort: 40000 + i, dstPort: 22 }
      : { srcIp: `198.18.0.${(i % 250) + 1}`, dstIp: '198.18.1.1', proto: 6, srcPort: 40000 + i, dstPort: 22 },
    ...over,
  };
}

export interface RouteFixture {
  app: FastifyInstance;
  store: Store;
  control: LiveControlPlane;
  config: Config;
  dir: string;
  close(): Promise<void>;
}

/** The API over a real control plane and store; `opts` configures the server; `logTo` collects
 * the agent's log lines (JSON, level debug) instead of discarding them. */
export async function routeFixture(
  configText = CONFIG,
  opts: Parameters<typeof buildApiServer>[1] = {},
  fixture: { logTo?: LineSink; engineRoutes?: ApiDeps['engineRoutes'] } = {},
): Promise<RouteFixture> {
  const dir = mkdtempSync(path.join(tmpdir(), 'esn-api-'));
  const file = path.join(dir, 'config.yaml');
  // the file holds API keys: owner-only, as the loader requires
  writeFileSync(file, configText, { mode: 0o600 });
  const config = await loadConfigFile(file);
  const log = fixture.logTo ? createLogger({ level: 'debug', destination: fixture.logTo }) : createLogger({ level: 'silent' });
  const metrics = new AgentMetrics({ version: 'test', defaultMetrics: false });
  const store = Store.open({ path: path.join(dir, 'sentinel.db'), pruneIntervalMs: 0 });
  const status = (): AgentStatus => ({ programs: [], events: { received: 0, lost: {} }, config: { path: file, loaded_at: new Date() } });
  const engines = new EngineSet([], () => {
    throw new Error('no engines in this test');
  }, log);
  const control = new LiveControlPlane({ file, initial: config, load: loadConfigFile, engines, rules: store.rules, audit: store.audit, log, registry: metrics.registry, status });
  const app = await buildApiServer(
    {
      status,
      registry: metrics.registry,
      logger: log,
      version: 'test',
      control,
      alerts: store.alerts,
      records: store.records,
      audit: store.audit,
      ruleHistory: store.rules,
      auth: apiAuth(config.auth, { log }),
      ...(fixture.engineRoutes ? { engineRoutes: fixture.engineRoutes } : {}),
    },
    opts,
  );
  return {
    app,
    store,
    control,
    config,
    dir,
    close: async () => {
      await app.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

