// `blocklist`: the dynamic block list that engines and the API fill at runtime and xdp-firewall
// enforces. Only its bounds are configured here; its entries come from the API and the engines
// and live in the store, so a reload never adds or removes one.
import type { z } from 'zod';
import { defineSection } from '../config/section.js';
import { intIn, strictObject } from '../config/zod-helpers.js';
import { BLOCKLIST_KERNEL_CAPACITY } from './types.js';

const blocklistSchema = strictObject({
  /** holds (one per owner, address and direction) at most; adds beyond it are refused */
  max_entries: intIn(1, BLOCKLIST_KERNEL_CAPACITY, 'entries').default(65_536),
  /** events for an entry's first drop and then one in this many (drops are all counted) */
  event_sample_every: intIn(1, 1_000_000, 'drops').default(100),
});

export type BlocklistConfig = z.output<typeof blocklistSchema>;

export const blocklistSection = defineSection({
  key: 'blocklist',
  schema: blocklistSchema,
  reload: 'live',
  description: 'the dynamic block list (entries come from the API and engines): its bound and event sampling, both live on reload',
});
