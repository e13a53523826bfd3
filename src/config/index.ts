// Public face of the config machinery. The config file itself (its sections, loadConfigFile,
// parseConfigText, the Config type) is composed in src/catalog.ts from the sections the agent
// and its engines declare.
export { composeConfig, MAX_CONFIG_BYTES, type ConfigFormat, type LoadedConfig, type ParseOptions, type SectionsData } from './compose.js';
export { ConfigError, formatIssue, type ConfigIssue } from './errors.js';
export { defineSection, type ConfigSection, type SectionContext } from './section.js';
export type { AgentConfig } from './sections/agent.js';
