// xdp-firewall as the catalog lists it.
import type { EngineModule } from '../engine.js';
import { FirewallEngine, type FirewallView } from './engine.js';
import { FIREWALL_PROGRAM } from './kernel.js';
import { firewallSection } from './section.js';

export const firewallModule = {
  program: FIREWALL_PROGRAM,
  sections: [firewallSection] as const,
  enabledIn: (c) => c.firewall.enabled,
  create: (ctx) => new FirewallEngine(ctx),
  enforcesBlocklist: true,
} satisfies EngineModule<FirewallView>;
