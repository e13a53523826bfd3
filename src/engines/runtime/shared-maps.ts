// Maps shared between objects (`pinning LIBBPF_PIN_BY_NAME`: libbpf pins the first object's map
// under <pin_root>/maps and every later object reuses the pin). A reused map keeps the size it
// was created with, so every object naming it must be opened with that size: the size comes from
// this one table, read from the config by the agent and handed to every engine
// (EngineContext.sharedMapSizes). A program that shares a new map adds its line here.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { nativeCall } from '../../kernel/errors.js';
import { bl_limits, nat_limits } from '../../kernel/contract.gen.js';
import { loadNative, type NativeMapInfo } from '../../kernel/native.js';

/** What the table reads of the config. */
export interface SharedMapsView {
  readonly conntrack: { readonly max_entries: number };
}

export interface SharedMap {
  /** the program whose config sizes it */
  readonly owner: string;
  /** the config key of its size, for messages */
  readonly sizedBy: string;
  readonly maxEntries: (c: SharedMapsView) => number;
}

export const SHARED_MAPS: Readonly<Record<string, SharedMap>> = {
  // the flow table: written by tc-conntrack, read by xdp-firewall's fast path (and later NAT)
  ct_table: { owner: 'tc-conntrack', sizedBy: 'conntrack.max_entries', maxEntries: (c) => c.conntrack.max_entries },
  // the dynamic block list (src/blocklist): created by the agent's service, read by xdp-firewall;
  // fixed sizes (the service's own bound, blocklist.max_entries, is what the config sets)
  bl_v4: { owner: 'blocklist', sizedBy: 'BL_MAX_ENTRIES (contract/blocklist.h)', maxEntries: () => bl_limits.BL_MAX_ENTRIES },
  bl_v6: { owner: 'blocklist', sizedBy: 'BL_MAX_ENTRIES (contract/blocklist.h)', maxEntries: () => bl_limits.BL_MAX_ENTRIES },
  bl_config: { owner: 'blocklist', sizedBy: 'its one entry (contract/blocklist.h)', maxEntries: () => 1 },
  // NAT: the translation table, read by tc-conntrack too (a translated reply is filed under its
  // flow); the policy, the masquerade addresses and the scratch both NAT programs share
  nat_flows: { owner: 'tc-nat', sizedBy: 'NAT_DEFAULT_MAX_FLOWS (contract/nat.h)', maxEntries: () => nat_limits.NAT_DEFAULT_MAX_FLOWS },
  nat_policy: { owner: 'tc-nat', sizedBy: 'NAT_POLICY_SLOTS (contract/nat.h)', maxEntries: () => nat_limits.NAT_POLICY_SLOTS },
  nat_active: { owner: 'tc-nat', sizedBy: 'its one entry (contract/nat.h)', maxEntries: () => 1 },
  nat_ifaddr: { owner: 'tc-nat', sizedBy: 'NAT_MAX_IFACES (contract/nat.h)', maxEntries: () => nat_limits.NAT_MAX_IFACES },
  nat_scratch: { owner: 'tc-nat', sizedBy: 'its one per-CPU entry (lib/nat_xlat.h)', maxEntries: () => 1 },
};

/** Every shared map's size under `config`. */
export function sharedMapSizes(config: SharedMapsView): Record<string, number> {
  return Object.fromEntries(Object.entries(SHARED_MAPS).map(([name, m]) => [name, m.maxEntries(config)]));
}

/** A map already pinned at `pin` can be reused by an object whose map `want` describes only when
 * both have the same geometry; libbpf would refuse with EINVAL and no word of why. Throws a
 * message that says what differs and what to do. No pin: nothing to check. */
export function checkPinnedShared(pin: string, want: Pick<NativeMapInfo, 'name' | 'keySize' | 'valueSize' | 'maxEntries'>): void {
  if (!existsSync(pin)) return;
  const native = loadNative();
  const fd = nativeCall(() => native.objGet(pin), `opening pinned ${pin}`);
  let have: ReturnType<typeof native.mapInfo>;
  try {
    have = nativeCall(() => native.mapInfo(fd), `map ${pin}`);
  } finally {
    native.closeFd(fd);
  }
  if (have.maxEntries === want.maxEntries && have.keySize === want.keySize && have.valueSize === want.valueSize) return;
  const sizedBy = SHARED_MAPS[want.name]?.sizedBy ?? `the size of ${want.name}`;
  throw new Error(
    `the pinned map ${pin} holds ${have.maxEntries} entries of ${have.keySize}+${have.valueSize} bytes, ` +
      `but ${sizedBy} is ${want.maxEntries} (entries of ${want.keySize}+${want.valueSize} bytes): ` +
      `set ${sizedBy} back to ${have.maxEntries}, or stop every program using it and remove ${path.basename(pin)}'s pin to start it anew`,
  );
}
