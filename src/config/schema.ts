// The whole config file: one schema per section, composed here. A section's schema lives next
// to what it configures (an engine's lives in src/engines/<domain>/schema.ts); adding a section
// means adding one line here and removing its name from UNSUPPORTED_SECTIONS.
import type { z } from 'zod';
import { conntrackSchema } from '../engines/conntrack/schema.js';
import { firewallSchema } from '../engines/firewall/schema.js';
import { ddosSchema, ratelimitSchema } from '../engines/ratelimit/schema.js';
import { agentSchema, apiExposureProblem } from './sections/agent.js';
import { alertingSchema } from './sections/alerting.js';
import { authSchema } from './sections/auth.js';
import { storageSchema } from './sections/storage.js';
import { UNSUPPORTED_SECTIONS } from './sections/unsupported.js';
import { strictObject } from './zod-helpers.js';

export const configSchema = strictObject(
  {
    agent: agentSchema,
    firewall: firewallSchema.prefault({}),
    ratelimit: ratelimitSchema.prefault({}),
    ddos: ddosSchema.prefault({}),
    conntrack: conntrackSchema.prefault({}),
    alerting: alertingSchema.prefault({}),
    auth: authSchema.prefault({}),
    storage: storageSchema.prefault({}),
  },
  UNSUPPORTED_SECTIONS,
).superRefine((c, ctx) => {
  // cross-section: TCP only with auth on (or an explicit opt-out)
  const problem = apiExposureProblem(c.agent, c.auth.enabled);
  if (problem) ctx.addIssue({ code: 'custom', path: ['agent', problem.key], message: problem.message });
});

/** The validated file, defaults filled in. */
export type ConfigData = z.output<typeof configSchema>;
