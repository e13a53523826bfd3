// The block-list service: the one place where addresses to be blocked are added and removed, by
// any engine (through a BlocklistPort bound to its name) and by people through the API.
//
// Owners: each owner holds an address on its own (reason, expiry); the kernel has one entry per
// address and scope while at least one owner holds it, so one owner's removal or expiry never
// unblocks what another still holds. The bound (blocklist.max_entries) counts holds. Every hold is
// in the repository (the store's SQLite table) before the call returns, so a restarted agent puts
// the same entries back; expired holds are removed by a timer (and at start), and counted.
//
// The kernel side (BlocklistTarget) is written one entry at a time: each insert or delete is one
// atomic map operation, apart from the firewall's policy generations, so a reload never touches
// it and a packet never sees half a change.
import { NetParseError, parseCidr, type Cidr } from '../net/ip.js';
import { ExpiryHeap, systemClock, type ExpiryClock } from './expiry.js';
import { BlocklistKernelFull, type BlocklistTarget } from './kernel.js';
import {
  API_OWNER_PREFIX,
  BLOCK_SCOPES,
  BlocklistError,
  MAX_REASON_LENGTH,
  MAX_TTL_SECS,
  OWNER_RE,
  type AddOutcome,
  type BlockDescription,
  type BlockFilter,
  type BlockHold,
  type BlocklistPort,
  type BlocklistStatus,
  type BlockOwnerView,
  type BlockRequest,
  type BlockScope,
  type BlockView,
} from './types.js';

/** Where holds live between agent runs (the store's BlocklistRepo; MemoryBlocklistRepo without a
 * store). */
export interface BlocklistRepo {
  load(): BlockHold[];
  /** creates or replaces the hold of (owner, cidr, direction) */
  put(h: BlockHold): void;
  delete(owner: string, cidr: string, direction: BlockScope): void;
}

/** The audit trail (the store's AuditRepo), structurally. */
export interface BlocklistAudit {
  record(e: { actor: string; action: string; target: string; before?: unknown; after?: unknown; outcome: 'ok' | 'rejected'; detail?: string }): unknown;
}

export interface BlocklistLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface BlocklistLimits {
  /** holds at most (blocklist.max_entries) */
  maxEntries: number;
  /** an event for the first drop of each entry and one in this many after it */
  sampleEvery: number;
}

export interface BlocklistServiceOptions extends BlocklistLimits {
  target: BlocklistTarget;
  repo: BlocklistRepo;
  clock?: ExpiryClock;
  log?: BlocklistLog;
  /** whether xdp-firewall enforces the list right now, and why not (composition root) */
  enforcement?: () => { enforced: boolean; note?: string };
  audit?: BlocklistAudit;
}

/** What the API deletes: one owner's hold, or (no owner) every hold of the API on the address. */
export interface ApiRemoveRequest {
  cidr: string;
  direction?: BlockScope;
  owner?: string;
}

export interface ApiRemoveOutcome {
  removed: BlockOwnerView[];
  /** the entry as it stands after the removal: null when no owner holds it any more */
  remaining: BlockView | null;
}

interface Address {
  key: string;
  cidr: Cidr;
  scope: BlockScope;
  id: number;
  /** by owner */
  holds: Map<string, BlockHold>;
}

const addressKey = (scope: BlockScope, cidr: Cidr): string => `${scope} ${cidr.toString()}`;
const holdKey = (owner: string, aKey: string): string => `${owner}\n${aKey}`;
const iso = (ms: number): string => new Date(ms).toISOString();

/** A normalised network from people's text: host bits and /0 are refused (a block list is no
 * place to guess what was meant). */
function parseBlockCidr(text: unknown): Cidr {
  if (typeof text !== 'string' || text.trim() === '') throw new BlocklistError('invalid', 'cidr: expected an address or network, e.g. 198.18.0.7, 198.18.0.0/24, 2001:db8::/64');
  let c: Cidr;
  try {
    c = parseCidr(text.trim());
  } catch (e) {
    if (e instanceof NetParseError) throw new BlocklistError('invalid', `cidr: ${e.message}`);
    throw e;
  }
  if (c.hadHostBits) throw new BlocklistError('invalid', `cidr: "${text}" has host bits set past /${c.prefix}; did you mean ${c.toString()}?`);
  if (c.prefix === 0) throw new BlocklistError('invalid', `cidr: "${text}" would block every IPv${c.family} address`);
  return c;
}

function checkRequest(req: BlockRequest): { cidr: Cidr; scope: BlockScope; reason: string; ttlSecs: number | null } {
  const cidr = parseBlockCidr(req.cidr);
  const scope = req.direction ?? 'src';
  if (!BLOCK_SCOPES.includes(scope)) throw new BlocklistError('invalid', `direction: expected src or dst; got ${JSON.stringify(scope)}`);
  const reason = typeof req.reason === 'string' ? req.reason.trim() : '';
  if (reason === '') throw new BlocklistError('invalid', 'reason: say why the address is blocked (it is shown in alerts and the list)');
  if (reason.length > MAX_REASON_LENGTH) throw new BlocklistError('invalid', `reason: at most ${MAX_REASON_LENGTH} characters; got ${reason.length}`);
  const ttl = req.ttlSecs ?? null;
  if (ttl !== null && !(Number.isInteger(ttl) && ttl >= 1 && ttl <= MAX_TTL_SECS)) {
    throw new BlocklistError('invalid', `ttl: expected whole seconds from 1 to ${MAX_TTL_SECS} (or none: until removed); got ${String(ttl)}`);
  }
  return { cidr, scope, reason, ttlSecs: ttl };
}

function checkOwner(owner: string): void {
  if (!OWNER_RE.test(owner)) throw new BlocklistError('invalid', `owner: expected an engine name (e.g. tc-threatintel) or api:<actor>; got ${JSON.stringify(owner)}`);
}

export class BlocklistService {
  private readonly addresses = new Map<string, Address>();
  private readonly byId = new Map<number, Address>();
  private readonly heap = new ExpiryHeap();
  private readonly clock: ExpiryClock;
  private limits: BlocklistLimits;
  private holds = 0;
  private nextId = 1;
  /** addresses held per scope and family: the kernel looks a scope up only while it holds some */
  private readonly scopeEntries: Record<BlockScope, { 4: number; 6: number }> = { src: { 4: 0, 6: 0 }, dst: { 4: 0, 6: 0 } };
  private timer: { atMs: number; cancel: () => void } | null = null;
  private expired = 0;
  private readonly expiredBy = new Map<string, number>();
  private readonly refused: Record<'full' | 'invalid' | 'failed', number> = { full: 0, invalid: 0, failed: 0 };
  private closed = false;

  constructor(private readonly opts: BlocklistServiceOptions) {
    this.clock = opts.clock ?? systemClock;
    this.limits = { maxEntries: opts.maxEntries, sampleEvery: opts.sampleEvery };
  }

  /** Puts the stored holds back (dropping those that expired meanwhile, counted) and writes the
   * kernel's entries and settings. Throws when the kernel refuses: an agent that cannot enforce
   * its block list must not start. */
  start(): { restored: number; expired: number } {
    const now = this.clock.now();
    let restored = 0;
    let expired = 0;
    for (const h of this.opts.repo.load()) {
      let cidr: Cidr;
      try {
        cidr = parseBlockCidr(h.cidr);
        checkOwner(h.owner);
      } catch (e) {
        // kept in the store for a person to look at; never guessed at
        this.opts.log?.error({ hold: h, err: (e as Error).message }, 'block list: a stored entry is not valid and was not applied');
        continue;
      }
      if (h.expiresMs !== null && h.expiresMs <= now) {
        this.opts.repo.delete(h.owner, h.cidr, h.direction);
        this.countExpired(h);
        expired++;
        continue;
      }
      const a = this.addressFor(cidr, h.direction);
      a.holds.set(h.owner, { ...h, cidr: cidr.toString() });
      this.holds++;
      if (h.expiresMs !== null) this.heap.push({ atMs: h.expiresMs, key: holdKey(h.owner, a.key) });
      restored++;
    }
    for (const a of this.addresses.values()) this.opts.target.insert(a.cidr, a.scope, a.id);
    this.writeSettings();
    this.arm();
    if (this.holds > this.limits.maxEntries) {
      this.opts.log?.warn({ entries: this.holds, max_entries: this.limits.maxEntries }, 'block list: more entries restored than blocklist.max_entries; new entries are refused until some are removed');
    }
    return { restored, expired };
  }

  // --- what every owner can do ----------------------------------------------------------

  /** Adds (or renews) `owner`'s hold on an address. Persisted and in the kernel before it returns. */
  add(owner: string, req: BlockRequest): AddOutcome {
    let checked: ReturnType<typeof checkRequest>;
    try {
      if (this.closed) throw new BlocklistError('failed', 'the block list is closed (the agent is stopping)');
      checkOwner(owner);
      checked = checkRequest(req);
    } catch (e) {
      throw this.refuse(e);
    }
    const { cidr, scope, reason, ttlSecs } = checked;
    const key = addressKey(scope, cidr);
    const existing = this.addresses.get(key);
    const prev = existing?.holds.get(owner);
    if (!prev && this.holds >= this.limits.maxEntries) {
      throw this.refuse(new BlocklistError('full', `the block list is full: ${this.holds} entries of blocklist.max_entries ${this.limits.maxEntries}; remove entries (or let them expire) or raise the limit`));
    }
    const now = this.clock.now();
    const hold: BlockHold = {
      cidr: cidr.toString(),
      direction: scope,
      owner,
      reason,
      createdMs: prev?.createdMs ?? now,
      updatedMs: now,
      expiresMs: ttlSecs === null ? null : now + ttlSecs * 1000,
    };
    const a = existing ?? this.newAddress(cidr, scope);
    if (!existing) {
      try {
        this.opts.target.insert(cidr, scope, a.id);
      } catch (e) {
        this.byId.delete(a.id);
        if (e instanceof BlocklistKernelFull) throw this.refuse(new BlocklistError('full', `${e.message}: nothing was added`, { cause: e }));
        throw this.refuse(new BlocklistError('failed', `the kernel refused ${cidr.toString()}: ${(e as Error).message}; nothing was added`, { cause: e }));
      }
    }
    try {
      this.opts.repo.put(hold);
    } catch (e) {
      if (!existing) this.dropKernelEntry(a);
      throw this.refuse(new BlocklistError('failed', `storing the entry failed: ${(e as Error).message}; nothing was added`, { cause: e }));
    }
    if (!existing) {
      this.addresses.set(key, a);
      this.adjustScope(scope, cidr.family, +1);
    }
    a.holds.set(owner, hold);
    if (!prev) this.holds++;
    if (hold.expiresMs !== null) {
      this.heap.push({ atMs: hold.expiresMs, key: holdKey(owner, key) });
      this.arm();
    }
    return { entry: this.view(a), created: !prev, enforced: this.enforcement().enforced };
  }

  /** Removes `owner`'s hold; the kernel entry goes with the last one. false: it held none. */
  remove(owner: string, cidrText: string, direction: BlockScope = 'src'): boolean {
    let cidr: Cidr;
    try {
      checkOwner(owner);
      cidr = parseBlockCidr(cidrText);
    } catch (e) {
      throw this.refuse(e);
    }
    const a = this.addresses.get(addressKey(direction, cidr));
    if (!a?.holds.has(owner)) return false;
    this.dropHold(a, owner);
    return true;
  }

  /** Entries (one per address and direction) in insertion order, filtered and paged. */
  list(filter: BlockFilter = {}): { entries: BlockView[]; total: number } {
    const match = filter.match !== undefined ? parseBlockCidrOrAddress(filter.match) : undefined;
    const picked: Address[] = [];
    for (const a of this.addresses.values()) {
      if (filter.direction && a.scope !== filter.direction) continue;
      if (filter.family && a.cidr.family !== filter.family) continue;
      if (filter.owner && !a.holds.has(filter.owner)) continue;
      if (match && !overlaps(a.cidr, match)) continue;
      picked.push(a);
    }
    const offset = filter.offset ?? 0;
    const page = picked.slice(offset, filter.limit !== undefined ? offset + filter.limit : undefined);
    return { entries: page.map((a) => this.view(a)), total: picked.length };
  }

  /** One entry, or null. */
  get(cidrText: string, direction: BlockScope = 'src'): BlockView | null {
    const a = this.addresses.get(addressKey(direction, parseBlockCidr(cidrText)));
    return a ? this.view(a) : null;
  }

  /** Holds of one owner (what an engine reconciles its own list against). */
  holdsOf(owner: string): BlockHold[] {
    const out: BlockHold[] = [];
    for (const a of this.addresses.values()) {
      const h = a.holds.get(owner);
      if (h) out.push({ ...h });
    }
    return out;
  }

  /** The entry a drop event names; undefined once it is gone. */
  describe(id: number): BlockDescription | undefined {
    const a = this.byId.get(id);
    if (!a) return undefined;
    return { cidr: a.cidr.toString(), direction: a.scope, owners: [...a.holds.values()].map((h) => ({ owner: h.owner, reason: h.reason })) };
  }

  /** The list as one engine sees it: every call acts as `owner`. */
  forOwner(owner: string): BlocklistPort {
    checkOwner(owner);
    return {
      add: (req) => this.add(owner, req),
      remove: (cidr, direction) => this.remove(owner, cidr, direction),
      list: () => this.holdsOf(owner),
      describe: (id) => this.describe(id),
    };
  }

  // --- the API: people, audited -----------------------------------------------------------

  /** An operator's add: owner api:<actor>, recorded in the audit trail whatever the outcome. */
  apiAdd(actor: string, req: BlockRequest): AddOutcome {
    const owner = `${API_OWNER_PREFIX}${actor}`;
    const target = describeTarget(req.cidr, req.direction);
    try {
      const out = this.add(owner, req);
      const after = out.entry.owners.find((o) => o.owner === owner);
      this.audit({ actor, action: 'blocklist.add', target, after, outcome: 'ok', detail: out.enforced ? undefined : this.enforcement().note });
      return out;
    } catch (e) {
      this.audit({ actor, action: 'blocklist.add', target, after: req, outcome: 'rejected', detail: (e as Error).message });
      throw e;
    }
  }

  /** An operator's delete: one owner's hold when `owner` is given (an engine's too: it may add it
   * again), else every hold the API has on the address. Audited whatever the outcome. */
  apiRemove(actor: string, req: ApiRemoveRequest): ApiRemoveOutcome {
    const direction = req.direction ?? 'src';
    const target = describeTarget(req.cidr, direction);
    try {
      if (req.owner !== undefined) checkOwner(req.owner);
      const cidr = parseBlockCidr(req.cidr);
      const a = this.addresses.get(addressKey(direction, cidr));
      const owners = a ? [...a.holds.keys()].filter((o) => (req.owner !== undefined ? o === req.owner : o.startsWith(API_OWNER_PREFIX))) : [];
      if (!a || owners.length === 0) {
        const held = a ? ` (held by ${[...a.holds.keys()].join(', ')}: name one with owner=... to remove its hold)` : '';
        throw new BlocklistError('not_found', `${req.owner !== undefined ? `${req.owner} holds` : 'the API holds'} no ${direction} entry for ${cidr.toString()}${held}`);
      }
      const removed = owners.map((o) => this.ownerView(a.holds.get(o)!));
      for (const o of owners) this.dropHold(a, o);
      const remaining = this.addresses.get(a.key) ? this.view(a) : null;
      this.audit({ actor, action: 'blocklist.remove', target, before: removed, outcome: 'ok', detail: remaining ? `still held by ${remaining.owners.map((o) => o.owner).join(', ')}` : undefined });
      return { removed, remaining };
    } catch (e) {
      if (e instanceof BlocklistError && e.code === 'invalid') this.refused.invalid++;
      this.audit({ actor, action: 'blocklist.remove', target, outcome: 'rejected', detail: (e as Error).message });
      throw e;
    }
  }

  // --- reloads, status, shutdown ----------------------------------------------------------

  /** Checks new limits against what is held; commit() applies them. */
  prepareLimits(next: BlocklistLimits): { commit(): void } | null {
    if (next.maxEntries === this.limits.maxEntries && next.sampleEvery === this.limits.sampleEvery) return null;
    if (next.maxEntries < this.holds) {
      throw new Error(`blocklist.max_entries: ${next.maxEntries} is below the ${this.holds} entries held now; remove entries first (or keep the limit)`);
    }
    if (next.maxEntries > this.opts.target.capacity) {
      throw new Error(`blocklist.max_entries: ${next.maxEntries} is more than the kernel's ${this.opts.target.capacity} per family`);
    }
    return {
      commit: () => {
        this.limits = { ...next };
        this.writeSettings();
      },
    };
  }

  status(): BlocklistStatus {
    const byOwner: Record<string, number> = {};
    const fam = { ipv4: 0, ipv6: 0 };
    for (const a of this.addresses.values()) {
      if (a.cidr.family === 4) fam.ipv4++;
      else fam.ipv6++;
      for (const o of a.holds.keys()) byOwner[o] = (byOwner[o] ?? 0) + 1;
    }
    const e = this.enforcement();
    return {
      enforced: e.enforced,
      ...(e.note !== undefined ? { note: e.note } : {}),
      entries: this.holds,
      max_entries: this.limits.maxEntries,
      addresses: fam,
      by_owner: byOwner,
      expired: this.expired,
      refused: { ...this.refused },
      event_sample_every: this.limits.sampleEvery,
    };
  }

  /** Counters for metrics: holds expired per owner, refusals per reason. */
  counters(): { expiredBy: ReadonlyMap<string, number>; refused: Readonly<Record<string, number>> } {
    return { expiredBy: this.expiredBy, refused: this.refused };
  }

  /** Stops the expiry timer and releases the kernel maps (their pins stay with the agent's). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.timer?.cancel();
    this.timer = null;
    this.opts.target.close();
  }

  /** Removes every hold whose time has come; runs on the timer, callable for tests. */
  expireDue(): number {
    const now = this.clock.now();
    let n = 0;
    for (;;) {
      const top = this.heap.peek();
      if (!top || top.atMs > now) break;
      this.heap.pop();
      const [owner, aKey] = top.key.split('\n') as [string, string];
      const a = this.addresses.get(aKey);
      const h = a?.holds.get(owner);
      // stale: removed, or renewed with another expiry since this item was pushed
      if (!a || !h || h.expiresMs !== top.atMs) continue;
      try {
        this.dropHold(a, owner);
      } catch (e) {
        // kept, and tried again on the next pass
        this.opts.log?.error({ owner, cidr: h.cidr, err: (e as Error).message }, 'block list: removing an expired entry failed; retrying in 5 s');
        this.heap.push({ atMs: now + 5000, key: top.key });
        h.expiresMs = now + 5000;
        break;
      }
      this.countExpired(h);
      if (owner.startsWith(API_OWNER_PREFIX)) {
        this.audit({ actor: 'blocklist:expiry', action: 'blocklist.expire', target: describeTarget(h.cidr, h.direction), before: this.ownerView(h), outcome: 'ok' });
      }
      n++;
    }
    if (this.heap.size > 2 * this.holds + 1024) this.compactHeap();
    this.arm();
    return n;
  }

  // --- internals ------------------------------------------------------------------------

  private enforcement(): { enforced: boolean; note?: string } {
    return this.opts.enforcement?.() ?? { enforced: true };
  }

  private refuse(e: unknown): unknown {
    if (e instanceof BlocklistError) {
      if (e.code === 'full') this.refused.full++;
      else if (e.code === 'invalid') this.refused.invalid++;
      else if (e.code === 'failed') this.refused.failed++;
    }
    return e;
  }

  private countExpired(h: BlockHold): void {
    this.expired++;
    this.expiredBy.set(h.owner, (this.expiredBy.get(h.owner) ?? 0) + 1);
  }

  private newAddress(cidr: Cidr, scope: BlockScope): Address {
    // ids run up while the agent runs (the maps are new at each start); skipping live ones keeps
    // them unique should 2^32 adds ever wrap
    let id = this.nextId;
    while (id === 0 || this.byId.has(id)) id = (id + 1) >>> 0;
    this.nextId = (id + 1) >>> 0;
    const a: Address = { key: addressKey(scope, cidr), cidr, scope, id, holds: new Map() };
    this.byId.set(id, a);
    return a;
  }

  /** The address for a restored hold, created in memory only (start() writes the kernel). */
  private addressFor(cidr: Cidr, scope: BlockScope): Address {
    const key = addressKey(scope, cidr);
    let a = this.addresses.get(key);
    if (!a) {
      a = this.newAddress(cidr, scope);
      this.addresses.set(key, a);
      this.scopeEntries[scope][cidr.family]++;
    }
    return a;
  }

  /** Removes one hold: the kernel entry first when it is the last (so a failure changes
   * nothing), then the store, then memory. */
  private dropHold(a: Address, owner: string): void {
    const h = a.holds.get(owner);
    if (!h) return;
    const last = a.holds.size === 1;
    if (last) this.dropKernelEntry(a);
    try {
      this.opts.repo.delete(owner, h.cidr, h.direction);
    } catch (e) {
      if (last) this.opts.target.insert(a.cidr, a.scope, a.id);
      throw new BlocklistError('failed', `removing the stored entry failed: ${(e as Error).message}; nothing was removed`, { cause: e });
    }
    a.holds.delete(owner);
    this.holds--;
    if (last) {
      this.addresses.delete(a.key);
      this.byId.delete(a.id);
      this.adjustScope(a.scope, a.cidr.family, -1);
    }
  }

  private dropKernelEntry(a: Address): void {
    try {
      this.opts.target.remove(a.cidr, a.scope);
    } catch (e) {
      throw new BlocklistError('failed', `the kernel refused to remove ${a.cidr.toString()}: ${(e as Error).message}; nothing was removed`, { cause: e });
    }
  }

  /** The kernel's lookups are gated per scope and family on the count of their entries: the gate
   * opens after the first entry is in and closes after the last is out. */
  private adjustScope(scope: BlockScope, family: 4 | 6, by: number): void {
    const n = this.scopeEntries[scope];
    const was = n[family];
    n[family] += by;
    if ((was === 0) !== (n[family] === 0)) this.writeSettings();
  }

  private writeSettings(): void {
    const { src, dst } = this.scopeEntries;
    this.opts.target.configure({ srcEntries: { ...src }, dstEntries: { ...dst }, sampleEvery: this.limits.sampleEvery });
  }

  private arm(): void {
    if (this.closed) return;
    const top = this.heap.peek();
    if (this.timer && top && this.timer.atMs === top.atMs) return;
    this.timer?.cancel();
    this.timer = null;
    if (!top) return;
    const atMs = top.atMs;
    this.timer = {
      atMs,
      cancel: this.clock.at(atMs, () => {
        this.timer = null;
        try {
          this.expireDue();
        } catch (e) {
          this.opts.log?.error({ err: (e as Error).message }, 'block list: the expiry pass failed');
          this.arm();
        }
      }),
    };
  }

  private compactHeap(): void {
    const live = [];
    for (const a of this.addresses.values()) {
      for (const h of a.holds.values()) if (h.expiresMs !== null) live.push({ atMs: h.expiresMs, key: holdKey(h.owner, a.key) });
    }
    this.heap.reset(live);
  }

  private ownerView(h: BlockHold): BlockOwnerView {
    return { owner: h.owner, reason: h.reason, created_at: iso(h.createdMs), updated_at: iso(h.updatedMs), expires_at: h.expiresMs === null ? null : iso(h.expiresMs) };
  }

  private view(a: Address): BlockView {
    const holds = [...a.holds.values()].sort((x, y) => x.createdMs - y.createdMs);
    const permanent = holds.some((h) => h.expiresMs === null);
    const last = permanent ? null : Math.max(...holds.map((h) => h.expiresMs ?? 0));
    let hits = 0;
    try {
      hits = Number(this.opts.target.packets(a.cidr, a.scope) ?? 0n);
    } catch {
      hits = 0; // a view never fails on a counter read
    }
    return {
      cidr: a.cidr.toString(),
      family: a.cidr.family,
      direction: a.scope,
      id: a.id,
      owners: holds.map((h) => this.ownerView(h)),
      expires_at: last === null ? null : iso(last),
      hits,
    };
  }

  private audit(e: Parameters<BlocklistAudit['record']>[0]): void {
    if (!this.opts.audit) return;
    const entry = { ...e };
    if (entry.detail === undefined) delete entry.detail;
    try {
      this.opts.audit.record(entry);
    } catch (err) {
      this.opts.log?.error({ err: (err as Error).message, action: e.action, target: e.target }, 'audit trail write failed');
    }
  }
}

function describeTarget(cidr: unknown, direction: BlockScope | undefined): string {
  return `${typeof cidr === 'string' ? cidr.trim() : JSON.stringify(cidr)} ${direction ?? 'src'}`;
}

/** A filter's address or network: like parseBlockCidr, but host bits are fine (an address inside
 * a network is what one searches for). */
function parseBlockCidrOrAddress(text: string): Cidr {
  try {
    return parseCidr(text.trim());
  } catch (e) {
    if (e instanceof NetParseError) throw new BlocklistError('invalid', `match: ${e.message}`);
    throw e;
  }
}

function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  return a.prefix <= b.prefix ? a.contains(b.family, b.addr) : b.contains(a.family, a.addr);
}

