// Public face of the config machinery: the error every loader throws. The config file itself
// (its sections, loadConfigFile, parseConfigText, the Config type) is composed in src/catalog.ts
// from the sections the agent and its engines declare (src/config/section.ts, compose.ts).
export { ConfigError, formatIssue, type ConfigIssue } from './errors.js';
