// Where programs would attach, collected instead of attached: `ebpfsentinel replay` starts the
// engines of a config as the agent does (objects loaded, maps filled, policy written) and runs
// captured frames through the programs with test runs, in the order live traffic meets them.
import type { Program } from '../../kernel/object.js';
import type { TcDirection } from '../../kernel/tc-order.js';
import { tcRank } from '../tc-pipeline.js';

export interface HookedProgram {
  /** the program as users see it (xdp-firewall, tc-conntrack, ...) */
  readonly program: string;
  readonly prog: Program;
}

export interface HookedTcProgram extends HookedProgram {
  readonly rank: number;
}

/** What engines hand their attachments to in a replay. */
export class ReplayHooks {
  private readonly xdpList: HookedProgram[] = [];
  private readonly tcLists: Record<TcDirection, HookedTcProgram[]> = { ingress: [], egress: [] };

  /** The program at the XDP hook (an engine chained behind another by tail call never comes here). */
  addXdp(program: string, prog: Program): void {
    this.xdpList.push({ program, prog });
  }

  /** A program at a TC hook, at its rank in the TC pipeline (src/engines/tc-pipeline.ts). */
  addTc(program: string, direction: TcDirection, prog: Program): void {
    this.tcLists[direction].push({ program, prog, rank: tcRank(program, direction) });
  }

  /** The XDP program; two at once cannot both own the hook, as on an interface. */
  xdp(): HookedProgram | undefined {
    if (this.xdpList.length > 1) throw new Error(`more than one program wants the XDP hook: ${this.xdpList.map((h) => h.program).join(', ')}`);
    return this.xdpList[0];
  }

  /** The programs of a TC hook in pipeline order (equal ranks: the order they came in). */
  tc(direction: TcDirection): HookedTcProgram[] {
    return [...this.tcLists[direction]].sort((a, b) => a.rank - b.rank);
  }
}
