// The `conntrack` config section (tc-conntrack).
import { defineSection } from '../../config/section.js';
import { conntrackSchema } from './schema.js';

export const conntrackSection = defineSection({
  key: 'conntrack',
  schema: conntrackSchema,
  reload: 'live',
  description: 'tc-conntrack: per-state timeouts and GC interval apply live; the table size only at agent start (the table is shared by every program)',
});
