// Holds kept for the process's life only: an agent run without a store (storage off in tests).
import type { BlocklistRepo } from './service.js';
import type { BlockHold, BlockScope } from './types.js';

export class MemoryBlocklistRepo implements BlocklistRepo {
  private readonly rows = new Map<string, BlockHold>();

  load(): BlockHold[] {
    return [...this.rows.values()].map((h) => ({ ...h }));
  }

  put(h: BlockHold): void {
    this.rows.set(`${h.owner}\n${h.cidr}\n${h.direction}`, { ...h });
  }

  delete(owner: string, cidr: string, direction: BlockScope): void {
    this.rows.delete(`${owner}\n${cidr}\n${direction}`);
  }
}
