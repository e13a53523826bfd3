// Prints the programs at a TCX hook of this namespace in the order the kernel runs them (prog
// and link ids from BPF_PROG_QUERY), as one JSON line: `ip netns exec NS node tc-hook-query.js
// IFNAME ingress|egress`. The test names the programs with bpftool, not with our code.
import { queryTcHook, type TcDirection } from '../../src/kernel/link.js';

const [ifname, dir] = process.argv.slice(2);
if (!ifname || (dir !== 'ingress' && dir !== 'egress')) throw new Error('usage: tc-hook-query IFNAME ingress|egress');
const hook = queryTcHook(ifname, dir as TcDirection);
process.stdout.write(`${JSON.stringify({ progIds: hook ? hook.programs.map((p) => p.progId) : null })}\n`);
