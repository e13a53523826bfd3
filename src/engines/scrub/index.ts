// tc-scrub as the catalog lists it.
import type { EngineModule } from '../engine.js';
import { ScrubEngine, type ScrubView } from './engine.js';
import { SCRUB_PROGRAM } from './kernel.js';
import { scrubSection } from './section.js';

export const scrubModule = {
  program: SCRUB_PROGRAM,
  sections: [scrubSection] as const,
  enabledIn: (c) => c.scrub.enabled,
  create: (ctx) => new ScrubEngine(ctx),
} satisfies EngineModule<ScrubView>;
