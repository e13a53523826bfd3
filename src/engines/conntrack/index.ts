// tc-conntrack as the catalog lists it.
import type { EngineModule } from '../engine.js';
import { ConntrackEngine, type ConntrackView } from './engine.js';
import { CONNTRACK_PROGRAM } from './kernel.js';
import { conntrackRoutes } from './routes.js';
import { conntrackSection } from './section.js';

export const conntrackModule = {
  program: CONNTRACK_PROGRAM,
  sections: [conntrackSection] as const,
  enabledIn: (c) => c.conntrack.enabled,
  create: (ctx) => new ConntrackEngine(ctx),
  routes: conntrackRoutes,
} satisfies EngineModule<ConntrackView>;
