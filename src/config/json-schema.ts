// The config file's JSON Schema for editors (YAML language servers read it), generated from the
// same zod schema the loader validates with, so the two cannot drift. Hand-parsed values
// (custom() in zod-helpers) carry their accepted input shape; cross-field checks (duplicate ids,
// unknown aliases, family mismatches) stay loader-only and `config check` reports them.
import { z } from 'zod';
import { VERSION } from '../version.js';
import { inputJsonSchemas } from './zod-helpers.js';

const CONFIG_SCHEMA_ID = 'https://ebpfsentinel.invalid/schema/config.json';

/** The JSON Schema of a composed config (src/catalog.ts configFormat.schema). */
export function configJsonSchema(configSchema: z.ZodType): Record<string, unknown> {
  const out = z.toJSONSchema(configSchema, {
    io: 'input',
    // A transform with no declared input shape becomes "anything" rather than an error.
    unrepresentable: 'any',
    override: (ctx) => {
      const declared = inputJsonSchemas.get(ctx.zodSchema as unknown as z.ZodType);
      if (!declared) return;
      const target = ctx.jsonSchema as Record<string, unknown>;
      // Keep what zod derived from wrappers (default, description); replace the shape.
      const keep: Record<string, unknown> = {};
      for (const k of ['default', 'description', 'title']) if (k in target) keep[k] = target[k];
      for (const k of Object.keys(target)) delete target[k];
      Object.assign(target, structuredClone(declared), keep);
    },
  }) as Record<string, unknown>;
  return {
    ...out,
    $id: CONFIG_SCHEMA_ID,
    title: 'ebpfsentinel configuration',
    description: `Configuration file of ebpfsentinel ${VERSION}. Unknown keys are errors. Checks across keys (duplicate ids and priorities, unknown aliases, address families) are made by \`ebpfsentinel config check\`.`,
  };
}
