// Block-list holds (src/blocklist): one row per owner, address and direction, so a restarted
// agent puts back exactly what was held, with each owner's reason and expiry. Written row by row
// as holds change; the service deletes expired rows itself.
import type { Database, Statement } from 'better-sqlite3';
import type { BlockHold, BlockScope } from '../blocklist/types.js';

interface Row {
  owner: string;
  cidr: string;
  direction: BlockScope;
  reason: string;
  created_ms: number;
  updated_ms: number;
  expires_ms: number | null;
}

export class BlocklistRepo {
  private readonly upsert: Statement<[string, string, string, string, number, number, number | null]>;
  private readonly remove: Statement<[string, string, string]>;

  constructor(private readonly db: Database) {
    this.upsert = db.prepare(
      `INSERT INTO blocklist (owner, cidr, direction, reason, created_ms, updated_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (owner, cidr, direction) DO UPDATE SET reason = excluded.reason, updated_ms = excluded.updated_ms, expires_ms = excluded.expires_ms`,
    );
    this.remove = db.prepare('DELETE FROM blocklist WHERE owner = ? AND cidr = ? AND direction = ?');
  }

  /** Every hold, oldest first. */
  load(): BlockHold[] {
    return this.db
      .prepare<[], Row>('SELECT * FROM blocklist ORDER BY created_ms, rowid')
      .all()
      .map((r) => ({ owner: r.owner, cidr: r.cidr, direction: r.direction, reason: r.reason, createdMs: r.created_ms, updatedMs: r.updated_ms, expiresMs: r.expires_ms }));
  }

  put(h: BlockHold): void {
    this.upsert.run(h.owner, h.cidr, h.direction, h.reason, h.createdMs, h.updatedMs, h.expiresMs);
  }

  delete(owner: string, cidr: string, direction: BlockScope): void {
    this.remove.run(owner, cidr, direction);
  }

  count(): number {
    return this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM blocklist').get()?.n ?? 0;
  }
}
