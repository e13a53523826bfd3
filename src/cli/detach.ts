// `ebpfsentinel detach`: removes everything an agent left under a pin root — every pinned link
// is detached (even one another process holds open), every clsact filter the manifest names is
// removed, the map pins and the manifest go. What an agent with agent.on_exit: keep (the
// default) leaves enforcing after it exits is removed this way. Refused while an agent runs on
// that pin root.
import { detachPinRoot } from '../engines/runtime/adoption.js';
import { bpffsFor } from '../kernel/bpffs.js';
import { existsSync, rmdirSync } from 'node:fs';
import path from 'node:path';

export async function detachCommand(opts: { pinRoot: string; json?: boolean }): Promise<number> {
  const root = path.resolve(opts.pinRoot);
  if (!bpffsFor(root)) {
    process.stderr.write(`ebpfsentinel detach: ${root} is not on a bpffs mount\n`);
    return 2;
  }
  if (!existsSync(root)) {
    process.stdout.write(opts.json ? `${JSON.stringify({ pin_root: root, links: [], filters: [], maps: 0, problems: [] })}\n` : `nothing under ${root}\n`);
    return 0;
  }
  let r;
  try {
    r = detachPinRoot(root);
  } catch (err) {
    process.stderr.write(`ebpfsentinel detach: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    rmdirSync(root);
  } catch {
    // other tools' pins may share the directory: left as it is
  }
  if (opts.json) process.stdout.write(`${JSON.stringify({ pin_root: root, ...r })}\n`);
  else {
    process.stdout.write(`detached ${r.links.length} link(s)${r.links.length ? ` (${r.links.join(', ')})` : ''}, ${r.filters.length} clsact filter(s), removed ${r.maps} map pin(s) under ${root}\n`);
    for (const p of r.problems) process.stdout.write(`problem: ${p}\n`);
  }
  return r.problems.length ? 1 : 0;
}
