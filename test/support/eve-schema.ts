// Suricata's own JSON Schema for EVE records (shared/testdata/suricata-eve-schema, read in
// place), compiled with ajv: what a SIEM pipeline built for Suricata accepts. The schema's top
// level admits no unknown key, so the in-memory copy adds exactly one: our extension key
// `ebpfsentinel` (any object). Nothing else is loosened.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { SHARED_TESTDATA } from './testdata.js';

const SURICATA_EVE_SCHEMA = path.join(SHARED_TESTDATA, 'suricata-eve-schema', 'schema.json');

export type EveCheck = (record: unknown) => string[];

/** Returns the checker: the problems ajv finds in one EVE record, [] when it validates. */
export function suricataEveValidator(): EveCheck {
  if (!existsSync(SURICATA_EVE_SCHEMA)) throw new Error(`Suricata's EVE schema is missing: ${SURICATA_EVE_SCHEMA} (shared/testdata/suricata-eve-schema)`);
  const schema = JSON.parse(readFileSync(SURICATA_EVE_SCHEMA, 'utf8')) as { additionalProperties?: unknown; properties: Record<string, unknown> };
  if (schema.additionalProperties !== false) throw new Error('Suricata\'s EVE schema no longer closes its top level: the extension-key check below would prove nothing');
  if ('ebpfsentinel' in schema.properties) throw new Error('Suricata\'s EVE schema already has an ebpfsentinel key');
  schema.properties.ebpfsentinel = { type: 'object' };
  // strict: false: the schema carries Suricata's own annotation keywords ("suricata", "desription")
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const validate = ajv.compile(schema);
  return (record) => (validate(record) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`));
}
