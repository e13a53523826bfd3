// The `ratelimit` and `ddos` config sections, both enforced by xdp-ratelimit.
import { defineSection } from '../../config/section.js';
import { ddosSchema, ratelimitSchema } from './schema.js';

export const ratelimitSection = defineSection({
  key: 'ratelimit',
  schema: ratelimitSchema,
  reload: 'live',
  description: 'xdp-ratelimit: per-source and per-rule token buckets; a reload flips the rules atomically, buckets stay',
});

export const ddosSection = defineSection({
  key: 'ddos',
  schema: ddosSchema,
  reload: 'live',
  description: 'xdp-ratelimit: SYN cookies and SYN/UDP/ICMP flood guards',
});
