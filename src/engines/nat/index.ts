// tc-nat-ingress and tc-nat-egress (one engine) as the catalog lists them.
import type { EngineModule } from '../engine.js';
import { NatEngine, type NatView } from './engine.js';
import { NAT_INGRESS_PROGRAM } from './kernel.js';
import { natRoutes } from './routes.js';
import { natSection } from './section.js';

export const natModule = {
  program: NAT_INGRESS_PROGRAM,
  sections: [natSection] as const,
  enabledIn: (c) => c.nat.enabled,
  create: (ctx) => new NatEngine(ctx),
  routes: natRoutes,
  // translations live with conntrack state: started and stopped around it
  dependsOn: ['tc-conntrack'],
} satisfies EngineModule<NatView>;
