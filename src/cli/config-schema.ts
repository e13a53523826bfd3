// `ebpfsentinel config schema [--output FILE]`: the config file's JSON Schema for editors, from
// the same source the loader validates with.
import { writeFile } from 'node:fs/promises';
import { configFormat } from '../catalog.js';
import { configJsonSchema } from '../config/json-schema.js';

export async function configSchemaCommand(opts: { output?: string }): Promise<number> {
  const text = `${JSON.stringify(configJsonSchema(configFormat.schema), null, 2)}\n`;
  if (opts.output === undefined || opts.output === '-') {
    process.stdout.write(text);
    return 0;
  }
  try {
    await writeFile(opts.output, text);
  } catch (err) {
    process.stderr.write(`ebpfsentinel: cannot write ${opts.output}: ${(err as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`JSON Schema written to ${opts.output}\n`);
  return 0;
}
