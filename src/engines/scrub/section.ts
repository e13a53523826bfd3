// The `scrub` config section (tc-scrub).
import { defineSection } from '../../config/section.js';
import { scrubSchema } from './schema.js';

export const scrubSection = defineSection({
  key: 'scrub',
  schema: scrubSchema,
  reload: 'live',
  description: 'tc-scrub: packet normalisation per interface and network (TTL/hop limit, MSS clamp, DF, IP ID, DSCP/ECN, TCP flags); a reload replaces the profiles in place',
});
