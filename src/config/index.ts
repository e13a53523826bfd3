// Public face of the config module.
export { loadConfigFile, parseConfigText, MAX_CONFIG_BYTES, type Config, type ParseOptions } from './load.js';
export { ConfigError, formatIssue, type ConfigIssue } from './errors.js';
export type { ConfigData } from './schema.js';
export type { AgentConfig } from './sections/agent.js';
export type { AlertingConfig } from './sections/alerting.js';
export type { FirewallConfig, FirewallRuleConfig, FirewallAliasConfig } from '../engines/firewall/schema.js';
