// tc-threatintel as the catalog lists it.
import type { EngineModule } from '../engine.js';
import { ThreatIntelEngine, type ThreatintelView } from './engine.js';
import { THREATINTEL_PROGRAM } from './kernel.js';
import { threatintelRoutes } from './routes.js';
import { threatintelSection } from './section.js';

export const threatintelModule = {
  program: THREATINTEL_PROGRAM,
  sections: [threatintelSection] as const,
  enabledIn: (c) => c.threatintel.enabled,
  create: (ctx) => new ThreatIntelEngine(ctx),
  routes: threatintelRoutes,
} satisfies EngineModule<ThreatintelView>;
