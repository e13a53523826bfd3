// The `threatintel` config section (tc-threatintel). Resolving it makes feed file paths absolute,
// reads each feed's CA file (a missing one is a config error, not a fetch error at 3 a.m.), and
// checks across keys: feed ids unique, quarantine configured when a feed quarantines.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { defineSection } from '../../config/section.js';
import { isHttps } from '../../intel/fetch.js';
import { threatintelSchema } from './schema.js';

export interface ThreatintelResolved {
  /** PEM text of each feed's ca_file, by feed id */
  readonly ca: ReadonlyMap<string, string>;
}

export const threatintelSection = defineSection({
  key: 'threatintel',
  schema: threatintelSchema,
  reload: 'live',
  description: 'tc-threatintel: IOC feeds (plain, CSV, JSON, STIX 2.1, TAXII 2.1) matched in the kernel with alert, drop or VLAN quarantine per feed; a reload or a feed refresh swaps the whole indicator set atomically',
  resolve(ti, ctx): ThreatintelResolved {
    const ca = new Map<string, string>();
    const seen = new Map<string, number>();
    ti.feeds.forEach((f, i) => {
      const at = ['threatintel', 'feeds', i];
      const first = seen.get(f.id);
      if (first !== undefined) ctx.issue([...at, 'id'], `feed id "${f.id}" is already used by feeds[${first}]`);
      seen.set(f.id, i);
      if (!isHttps(f.url)) {
        if (/^[a-z][a-z0-9+.-]*:\/\//i.test(f.url)) ctx.issue([...at, 'url'], `"${f.url}": a feed is an https:// URL or a file path`);
        else f.url = path.resolve(ctx.baseDir, f.url);
        if (f.format === 'taxii') ctx.issue([...at, 'format'], 'a TAXII collection is an https:// URL');
        if (f.auth_header !== undefined) ctx.warn([...at, 'auth_header'], 'a file feed sends no header');
      }
      if ((f.default_action ?? ti.mode) === 'quarantine' && !ti.quarantine) ctx.issue([...at, 'default_action'], 'quarantine needs threatintel.quarantine (interface and vlan_id)');
      if (f.format === 'csv' && f.value_field === undefined) ctx.issue([...at, 'value_field'], 'a CSV feed needs value_field (a column name with skip_header, or a 0-based column number)');
      if (f.ca_file !== undefined) {
        const file = path.resolve(ctx.baseDir, f.ca_file);
        try {
          ca.set(f.id, readFileSync(file, 'utf8'));
        } catch (e) {
          ctx.issue([...at, 'ca_file'], `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
      }
    });
    if (ti.mode === 'quarantine' && !ti.quarantine) ctx.issue(['threatintel', 'mode'], 'quarantine needs threatintel.quarantine (interface and vlan_id)');
    return { ca };
  },
});
