// What this agent is made of: its engines, in start order, and the config file their sections
// and the agent's own make up. A new program is its folder under src/engines/ plus one line in
// ENGINE_MODULES; everything else (config loading, JSON Schema, `config check`, reloads, status)
// is generic over this list.
import { blocklistSection } from './blocklist/section.js';
import { composeConfig, type LoadedConfig, type SectionsData } from './config/compose.js';
import { agentSection, apiExposureProblem } from './config/sections/agent.js';
import { alertingSection } from './alerts/section.js';
import { authSection } from './config/sections/auth.js';
import { storageSection } from './config/sections/storage.js';
import { UNSUPPORTED_SECTIONS } from './config/sections/unsupported.js';
import { conntrackModule } from './engines/conntrack/index.js';
import type { EngineModule } from './engines/engine.js';
import { firewallModule } from './engines/firewall/index.js';
import { natModule } from './engines/nat/index.js';
import { ratelimitModule } from './engines/ratelimit/index.js';
import { scrubModule } from './engines/scrub/index.js';
import { threatintelModule } from './engines/threatintel/index.js';

/** Every engine, in start order (stopped in reverse). An engine runs when its config enables it,
 * or when the API switched it on at runtime. */
export const ENGINE_MODULES = [firewallModule, conntrackModule, ratelimitModule, scrubModule, natModule, threatintelModule] as const;

type EngineSection = (typeof ENGINE_MODULES)[number]['sections'][number];
type Section = typeof agentSection | EngineSection | typeof blocklistSection | typeof alertingSection | typeof authSection | typeof storageSection;

/** Every section of the file, in the order `config schema` and error messages list them. */
export const CONFIG_SECTIONS: readonly Section[] = [agentSection, ...ENGINE_MODULES.flatMap((m): readonly Section[] => m.sections), blocklistSection, alertingSection, authSection, storageSection];

export const configFormat = composeConfig(CONFIG_SECTIONS, {
  unsupported: UNSUPPORTED_SECTIONS,
  crossChecks: [
    // TCP only with auth on (or an explicit opt-out)
    (c) => {
      const problem = apiExposureProblem(c.agent, c.auth.enabled);
      return problem ? { path: ['agent', problem.key], message: problem.message } : null;
    },
  ],
});

/** The validated file, defaults filled in. */
export type ConfigData = SectionsData<typeof CONFIG_SECTIONS>;
/** A loaded config: the validated file with every section resolved. */
export type Config = LoadedConfig<typeof CONFIG_SECTIONS>;

export const loadConfigFile = configFormat.loadConfigFile;
export const parseConfigText = configFormat.parseConfigText;

/** The engines as the control plane takes them: each one's view of the config is part of it. */
export const ENGINES: readonly EngineModule<Config>[] = ENGINE_MODULES;

// Firewall rules added through the API (src/control/api-rules.ts) are the firewall's own rules:
// the control plane parses them with the firewall's rule schema and checks the merged policy with
// its compiler. It reaches them here, so that this file stays the only one outside src/engines/
// (and the commands on top) that imports an engine folder (.dependency-cruiser.cjs).
export { compileFirewall, FirewallCompileError } from './engines/firewall/compile.js';
export { protocolName, ruleSchema, type FirewallRuleConfig } from './engines/firewall/schema.js';
