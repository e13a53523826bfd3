// The block list's domain types: what engines, the API and the store see of it. The service
// (service.ts) keeps one entry per owner and address; the kernel holds one entry per address
// while any owner holds it. Its status type lives with the agent's other status types.
export type { BlocklistStatus } from '../status/types.js';
import { bl_limits } from '../kernel/contract.gen.js';

/** BL_MAX_ENTRIES (contract/blocklist.h): each family's trie holds at most this many;
 * blocklist.max_entries can never ask for more. */
export const BLOCKLIST_KERNEL_CAPACITY = bl_limits.BL_MAX_ENTRIES;

/** Which address of a packet an entry blocks. */
export type BlockScope = 'src' | 'dst';
export const BLOCK_SCOPES: readonly BlockScope[] = ['src', 'dst'];

/** Owners: an engine's program name ("tc-threatintel") or "api:<actor>" for people. */
export const API_OWNER_PREFIX = 'api:';
export const OWNER_RE = /^(?:[a-z][a-z0-9-]{0,63}|api:[^\s\x00-\x1f]{1,128})$/;
export const MAX_REASON_LENGTH = 256;
/** ten years: an entry meant to last longer is a permanent one (no ttl) */
export const MAX_TTL_SECS = 10 * 366 * 86_400;

/** Why the service refused a request; the API maps each code to a status. */
export type BlocklistErrorCode = 'invalid' | 'full' | 'not_found' | 'failed';

export class BlocklistError extends Error {
  override name = 'BlocklistError';
  constructor(
    readonly code: BlocklistErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What an owner asks for. */
export interface BlockRequest {
  /** an address ("198.18.0.7", "2001:db8::7") or a network ("198.18.0.0/24", "2001:db8:1::/64");
   * host bits past the prefix are refused */
  cidr: string;
  /** default "src" */
  direction?: BlockScope;
  /** why, for people reading alerts and the list */
  reason: string;
  /** seconds until the entry expires; absent or null = until removed */
  ttlSecs?: number | null;
}

/** One owner's hold on an address, as stored. Times are Unix epoch milliseconds. */
export interface BlockHold {
  cidr: string;
  direction: BlockScope;
  owner: string;
  reason: string;
  createdMs: number;
  updatedMs: number;
  /** null: until removed */
  expiresMs: number | null;
}

/** An owner's hold as the API shows it. */
export interface BlockOwnerView {
  owner: string;
  reason: string;
  created_at: string;
  updated_at: string;
  expires_at: string | null;
}

/** One blocked address or network: what the kernel enforces, with every owner holding it. */
export interface BlockView {
  /** normalised, always with the prefix length */
  cidr: string;
  family: 4 | 6;
  direction: BlockScope;
  /** the id drop events carry (event rule_num); unique while the agent runs */
  id: number;
  /** oldest hold first */
  owners: BlockOwnerView[];
  /** when the last hold expires; null while any hold is permanent */
  expires_at: string | null;
  /** packets dropped by this entry since it was inserted (kernel, all CPUs) */
  hits: number;
}

/** What an add did. */
export interface AddOutcome {
  entry: BlockView;
  /** false: the owner already held this address; its reason and expiry were replaced */
  created: boolean;
  /** whether xdp-firewall enforces the list right now (false: kept, enforced when it starts) */
  enforced: boolean;
}

export interface BlockFilter {
  owner?: string;
  direction?: BlockScope;
  family?: 4 | 6;
  /** entries containing this address, or equal to / inside this network */
  match?: string;
  limit?: number;
  offset?: number;
}

/** What an alert names for a drop by the list. */
export interface BlockDescription {
  cidr: string;
  direction: BlockScope;
  owners: { owner: string; reason: string }[];
}


/** The block list as one engine sees it: every call acts as that engine (the owner is bound by
 * the composition root, so no engine can remove another's holds). */
export interface BlocklistPort {
  add(req: BlockRequest): AddOutcome;
  /** removes this owner's hold; false when it held none */
  remove(cidr: string, direction?: BlockScope): boolean;
  /** this owner's holds */
  list(): BlockHold[];
  /** the entry a drop event names (event rule_num), if it still exists */
  describe(id: number): BlockDescription | undefined;
}
