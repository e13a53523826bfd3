// API keys held as HMAC-SHA256 digests under a random per-process key: the plain keys are not
// kept in memory after start, and a presented key is digested and compared with every stored
// digest in constant time (crypto.timingSafeEqual over equal-length digests, no early exit), so
// neither the match nor its position leaks through timing.
import crypto from 'node:crypto';
import type { ApiKeyConfig, Role } from '../../config/sections/auth.js';

interface Entry {
  name: string;
  role: Role;
  digest: Buffer;
}

export class ApiKeyStore {
  private readonly secret = crypto.randomBytes(32);
  private readonly entries: Entry[];

  constructor(keys: readonly ApiKeyConfig[]) {
    this.entries = keys.map((k) => ({ name: k.name, role: k.role, digest: this.digest(k.key) }));
  }

  get size(): number {
    return this.entries.length;
  }

  /** The key's owner, or undefined. Time does not depend on which entry (if any) matches. */
  verify(presented: string): { name: string; role: Role } | undefined {
    const d = this.digest(presented);
    let hit: Entry | undefined;
    for (const e of this.entries) {
      // every entry is compared, even after a hit
      if (crypto.timingSafeEqual(d, e.digest) && hit === undefined) hit = e;
    }
    return hit ? { name: hit.name, role: hit.role } : undefined;
  }

  private digest(key: string): Buffer {
    return crypto.createHmac('sha256', this.secret).update(key, 'utf8').digest();
  }
}
