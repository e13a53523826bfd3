// Holds a pass-everything XDP program on one interface until SIGTERM (run with `ip netns exec NS
// node xdp-pass-holder.js IFNAME`). A veth only takes frames another veth sends with XDP_TX when
// it runs XDP itself, so the SYN-flood demo puts this on the switch port facing the protected
// server. The program is xdp-ratelimit with an empty policy: it passes everything.
import path from 'node:path';
import { compileRatelimit } from '../engines/ratelimit/compile.js';
import { RatelimitKernel, RATELIMIT_ENTRY, RATELIMIT_OBJECT_FILE } from '../engines/ratelimit/kernel.js';
import { ddosSchema, ratelimitSchema } from '../engines/ratelimit/schema.js';
import { ifindexOf } from '../kernel/link.js';
import { REPO_ROOT } from '../version.js';

const ifname = process.argv[2];
if (!ifname) throw new Error('usage: xdp-pass-holder IFNAME');
const k = RatelimitKernel.load({ objectPath: path.join(REPO_ROOT, 'build', 'bpf', RATELIMIT_OBJECT_FILE) });
k.apply(compileRatelimit(ratelimitSchema.parse({}), ddosSchema.parse({})));
const link = k.obj.program(RATELIMIT_ENTRY).attachXdp(ifindexOf(ifname), 'native');
process.stdout.write(`attached ${ifname}\n`);
process.on('SIGTERM', () => {
  link.destroy();
  k.close();
  process.exit(0);
});
setInterval(() => undefined, 1 << 30);
