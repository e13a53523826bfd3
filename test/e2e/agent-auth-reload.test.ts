// API keys change with the config file, without a restart: a reload that replaces a key revokes
// the old one at once and admits the new one; a reload with a bad auth section is refused whole
// and the running keys stay.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { buildGatewayLab, type GatewayLab } from '../../src/lab/gateway.js';
import { agentPrerequisites, SharedBpffs, startAgent, type RunningAgent } from './agent-support.js';

const skip = agentPrerequisites();

const KEY_A = 'a'.repeat(8) + '-first-admin-key-0001';
const KEY_B = 'b'.repeat(8) + '-second-admin-key-002';

const policy = (keys: string): string => `
agent:
  interfaces: [@IFACE@]
  pin_root: @PIN@
  http_port: @PORT@
storage:
  path: sentinel.db
alerting:
  eve: { path: "@EVE@" }
firewall:
  default_policy: pass
auth:
  enabled: true
  api_keys:
${keys}`;

describe('e2e: API keys reloaded with the config file', { skip: skip ?? false }, () => { // process.env.CI: agentPrerequisites() throws instead of skipping
  let g: GatewayLab;
  let bpffs: SharedBpffs;
  let a: RunningAgent;
  const sub = (s: string): string => s.replaceAll('@IFACE@', g.gw.outside.ifname).replaceAll('@PIN@', a.pinRoot).replaceAll('@EVE@', a.evePath).replaceAll('@PORT@', '8080');
  const call = async (method: string, p: string, key: string): Promise<{ status: number; body: string }> => {
    const r = await fetch(`${a.api.baseUrl}${p}`, { method, headers: { authorization: `Bearer ${key}` } });
    return { status: r.status, body: await r.text() };
  };

  before(async () => {
    bpffs = SharedBpffs.mount();
    g = await buildGatewayLab();
    a = await startAgent(g, policy(`    - { name: first, key: "${KEY_A}", role: admin }\n`), { pinRoot: `${bpffs.dir}/esn-authreload`, name: 'authreload' });
  });

  after(async () => {
    if (a) await a.stop();
    await g?.destroy();
    bpffs?.unmount();
  });

  test('a replaced key is revoked by the reload that replaces it; a bad auth section changes nothing', async () => {
    assert.equal((await call('GET', '/api/v1/status', KEY_A)).status, 200);
    assert.equal((await call('GET', '/api/v1/status', KEY_B)).status, 401);

    writeFileSync(a.configPath, sub(policy(`    - { name: second, key: "${KEY_B}", role: admin }\n`)));
    const r = await call('POST', '/api/v1/config/reload', KEY_A); // the caller's key is the one being replaced
    assert.equal(r.status, 200, r.body);
    assert.equal((await call('GET', '/api/v1/status', KEY_A)).status, 401, 'the old key is revoked');
    assert.equal((await call('GET', '/api/v1/status', KEY_B)).status, 200, 'the new key works');

    // too short a key: refused by validation, the running key stays
    writeFileSync(a.configPath, sub(policy('    - { name: third, key: "short", role: admin }\n')));
    const bad = await call('POST', '/api/v1/config/reload', KEY_B);
    assert.equal(bad.status, 400, bad.body);
    assert.match(bad.body, /auth\.api_keys\[0\]\.key/);
    assert.doesNotMatch(bad.body, /short/, 'the refused key is not echoed');
    assert.equal((await call('GET', '/api/v1/status', KEY_B)).status, 200);
  });
});
