// Config schema of the `conntrack` section (tc-conntrack). The reference's section carries only
// `enabled` plus flood thresholds; the thresholds are a DDoS concern here and are refused with a
// pointer to where they go. Table size and per-state timeouts are ours (docs/configuration.md).
import type { z } from 'zod';
import { bool, intIn, strictObject } from '../../config/zod-helpers.js';
import { DEFAULT_TIMEOUTS, type TimeoutKey } from './states.js';

const CT_MIN_ENTRIES = 1024;
/** 16 Mi entries of 144 bytes (key + value) is ~2.4 GiB of kernel memory: more is a typo */
const CT_MAX_ENTRIES = 16_777_216;
const CT_DEFAULT_ENTRIES = 262_144;
/** one year: keeps seconds × 1e9 far inside the kernel's u64 nanoseconds */
const MAX_TIMEOUT_SECS = 31_536_000;

const floodHint = (k: string): string => `flood thresholds belong to DDoS protection: use ddos.connection_tracking.${k}`;

const timeoutShape = Object.fromEntries(
  (Object.keys(DEFAULT_TIMEOUTS) as TimeoutKey[]).map((k) => [k, intIn(1, MAX_TIMEOUT_SECS, 'seconds').default(DEFAULT_TIMEOUTS[k])]),
) as Record<TimeoutKey, z.ZodDefault<ReturnType<typeof intIn>>>;

const conntrackTimeoutsSchema = strictObject(timeoutShape);

export const conntrackSchema = strictObject(
  {
    enabled: bool().default(false),
    max_entries: intIn(CT_MIN_ENTRIES, CT_MAX_ENTRIES, 'a table size').default(CT_DEFAULT_ENTRIES),
    /** how often the agent sweeps expired entries out of the table */
    gc_interval_secs: intIn(1, 3600, 'seconds').default(30),
    timeouts: conntrackTimeoutsSchema.prefault({}),
  },
  {
    half_open_threshold: floodHint('half_open_threshold'),
    rst_threshold: floodHint('rst_threshold'),
    fin_threshold: floodHint('fin_threshold'),
    ack_threshold: floodHint('ack_threshold'),
  },
);

export type ConntrackConfig = z.output<typeof conntrackSchema>;
