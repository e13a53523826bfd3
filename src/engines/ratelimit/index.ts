// xdp-ratelimit (and its TC half, tc_syncookie) as the catalog lists it.
import type { EngineModule } from '../engine.js';
// The one import of another engine (.dependency-cruiser.cjs allows index.ts to index.ts): the
// engine it depends on, named by the module the catalog lists.
import { firewallModule } from '../firewall/index.js';
import { RatelimitEngine, ratelimitEnabled, type RatelimitView } from './engine.js';
import { RATELIMIT_PROGRAM } from './kernel.js';
import { ddosSection, ratelimitSection } from './section.js';

export const ratelimitModule = {
  program: RATELIMIT_PROGRAM,
  sections: [ratelimitSection, ddosSection] as const,
  enabledIn: ratelimitEnabled,
  create: (ctx) => new RatelimitEngine(ctx),
  // it joins xdp-firewall's tail-call chain, or takes the XDP hook itself without it
  dependsOn: [firewallModule.program],
} satisfies EngineModule<RatelimitView>;
