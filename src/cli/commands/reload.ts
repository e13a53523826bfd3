// `ebpfsentinel reload`: re-read the config file; exit 1 with the reason when it is rejected
// (the running policy stays).
import { type CommonFlags, clientOptions, outputFormat, printJson, SentinelClient } from '../client.js';
import type { ReloadView } from './views.js';

export async function reloadCommand(flags: CommonFlags): Promise<void> {
  const format = outputFormat(flags);
  const r = await new SentinelClient(clientOptions(flags)).request<ReloadView>('POST', '/api/v1/config/reload');
  if (format === 'json') return printJson(r);
  const changes = (r.applied ?? []).filter((a) => a.action !== 'unchanged').map((a) => `${a.program} ${a.action}`);
  process.stdout.write(`reloaded: generation ${r.generation}${changes.length ? `; ${changes.join(', ')}` : '; no program changed'}\n`);
}
