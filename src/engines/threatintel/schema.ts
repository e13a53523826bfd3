// Config schema of the `threatintel` section (tc-threatintel), in the reference's shape: `mode`,
// and `feeds[]` with id, name, url, format, refresh_interval_secs, max_iocs, default_action,
// min_confidence, auth_header and the CSV/JSON field mapping. Ours besides: feeds from files
// (`url` may be a path), STIX and TAXII 2.1 formats, quarantine, per-feed confidence thresholds
// for the action, limits on what a fetch may cost, and a CA file to trust for a feed's HTTPS.
import type { z } from 'zod';
import { secret } from '../../config/secrets.js';
import { show } from '../../config/messages.js';
import { bool, custom, intIn, keyword, strictObject } from '../../config/zod-helpers.js';

const text = (what: string, max = 4096, pattern?: RegExp, hint?: string) =>
  custom((v, fail): string => {
    if (typeof v !== 'string' || v.length === 0 || v.length > max) fail(`expected ${what} (1-${max} characters); got ${show(v)}`);
    else if (pattern && !pattern.test(v)) fail(`${show(v)} is not ${hint ?? what}`);
    return v as string;
  }, { type: 'string', minLength: 1, maxLength: max });

const FEED_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** `Name: value`, the reference's form; never echoed in messages (secret). */
const authHeader = secret(
  custom((v, fail): string => {
    if (typeof v !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:\s*\S/.test(v)) fail('expected "Header-Name: value"');
    else if (/[\r\n\0]/.test(v)) fail('must not contain CR, LF or NUL');
    return v as string;
  }, { type: 'string' }),
);

/** What a feed does with its indicators: `block` is the reference's word for drop. */
const action = keyword({ alert: 'alert', drop: 'drop', block: 'drop', quarantine: 'quarantine' } as const);

const format = keyword({ plaintext: 'plaintext', txt: 'plaintext', text: 'plaintext', csv: 'csv', json: 'json', stix: 'stix', taxii: 'taxii' } as const);

const valueType = keyword({ auto: 'auto', ip: 'ip', domain: 'domain', url: 'url' } as const);

const ipFieldHint = 'the value column is `value_field` here (it may hold addresses, names or URLs)';

export const feedSchema = strictObject(
  {
    id: text('a feed id', 64, FEED_ID, 'a feed id: letters, digits, ".", "_" and "-", starting with a letter or digit'),
    name: text('a name', 200).optional(),
    /** https://..., or a file path (relative to the config file) */
    url: text('an https:// URL or a file path', 4096),
    format: format.default('plaintext'),
    enabled: bool().default(true),
    refresh_interval_secs: intIn(10, 604_800, 'seconds').default(3600),
    /** indicators beyond this are not loaded (counted) */
    max_iocs: intIn(1, 10_000_000, 'indicators').default(1_000_000),
    /** the feed's action; absent: the section's `mode` */
    default_action: action.optional(),
    /** indicators below it are not enforced */
    min_confidence: intIn(0, 100, 'a confidence').default(0),
    /** a drop or quarantine feed's indicators below it only alert */
    action_min_confidence: intIn(0, 100, 'a confidence').default(0),
    /** confidence of indicators the feed gives none for */
    default_confidence: intIn(0, 100, 'a confidence').default(100),
    auth_header: authHeader.optional(),
    /** PEM file of the CA (or certificate) to trust for this feed's HTTPS, besides the system's */
    ca_file: text('a file path').optional(),
    value_type: valueType.default('auto'),
    /** CSV: column name (with skip_header) or 0-based number; JSON: dotted path in each item */
    value_field: text('a column or field path', 256).optional(),
    confidence_field: text('a column or field path', 256).optional(),
    category_field: text('a column or field path', 256).optional(),
    id_field: text('a column or field path', 256).optional(),
    name_field: text('a field path', 256).optional(),
    separator: text('one character', 1).default(','),
    comment_prefix: text('a comment prefix', 8).default('#'),
    skip_header: bool().default(false),
    /** JSON: dotted path to the list of items ("" or absent: the document is the list) */
    items_path: custom((v, fail): string => {
      if (typeof v !== 'string' || v.length > 256) fail(`expected a dotted path; got ${show(v)}`);
      return v as string;
    }, { type: 'string', maxLength: 256 }).default(''),
    /** TAXII: only objects added after this time (RFC 3339) on the first fetch */
    added_after: text('an RFC 3339 timestamp', 64, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/, 'an RFC 3339 UTC timestamp like 2024-01-01T00:00:00Z').optional(),
  },
  { ip_field: ipFieldHint },
);

export type FeedConfig = z.output<typeof feedSchema>;

export const threatintelSchema = strictObject(
  {
    enabled: bool().default(false),
    /** the action of feeds that name none: the reference's `alert` | `block` */
    mode: action.default('alert'),
    /** where quarantined packets go: pushed a VLAN tag, redirected out of this interface */
    quarantine: strictObject({
      interface: text('an interface name', 15),
      vlan_id: intIn(1, 4094, 'a VLAN id'),
    }).optional(),
    /** a fetched feed larger than this is refused (the previous indicators stay) */
    max_feed_bytes: intIn(1024, 1_073_741_824, 'bytes').default(104_857_600),
    fetch_timeout_secs: intIn(1, 600, 'seconds').default(30),
    feeds: feedSchema.array().max(255, 'at most 255 feeds').default([]),
  },
  { country_confidence_boost: 'GeoIP is not implemented' },
);

export type ThreatintelConfig = z.output<typeof threatintelSchema>;
