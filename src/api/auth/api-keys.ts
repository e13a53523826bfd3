// API keys held as SHA-256 digests: the config gives either the key (inline, from a file or the
// environment; digested at load) or its digest (`key_sha256`), and the plain key is never kept
// in the running state. A presented key is digested and compared with every stored digest in
// constant time (crypto.timingSafeEqual over equal-length digests, no early exit), so neither
// the match nor its position leaks through timing.
import crypto from 'node:crypto';
import type { ApiKeyConfig, Role } from '../../config/sections/auth.js';

interface Entry {
  name: string;
  role: Role;
  digest: Buffer;
}

export class ApiKeyStore {
  private readonly entries: Entry[];

  constructor(keys: readonly ApiKeyConfig[]) {
    this.entries = keys.map((k) => ({ name: k.name, role: k.role, digest: Buffer.from(k.key_sha256, 'hex') }));
  }

  get size(): number {
    return this.entries.length;
  }

  /** The key's owner, or undefined. Time does not depend on which entry (if any) matches. */
  verify(presented: string): { name: string; role: Role } | undefined {
    const d = crypto.createHash('sha256').update(presented, 'utf8').digest();
    let hit: Entry | undefined;
    for (const e of this.entries) {
      // every entry is compared, even after a hit
      if (crypto.timingSafeEqual(d, e.digest) && hit === undefined) hit = e;
    }
    return hit ? { name: hit.name, role: hit.role } : undefined;
  }
}
