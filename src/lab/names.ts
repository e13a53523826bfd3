// Names for namespaces and interfaces. Every name a lab creates starts with its run prefix
// ("esn" + 4 random base-36 chars), so parallel runs never collide and a leak check can find
// exactly one run's leftovers.
import { randomBytes } from 'node:crypto';

/** Linux IFNAMSIZ is 16 including the NUL. */
export const IFNAME_MAX = 15;
const LAB_PREFIX = 'esn';
const SUFFIX_LEN = 4;
export const RUN_PREFIX_LEN = LAB_PREFIX.length + SUFFIX_LEN;

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

export function newRunPrefix(random: (n: number) => Buffer = randomBytes): string {
  const bytes = random(SUFFIX_LEN);
  let s = '';
  // 256 % 36 leaves a tiny bias; names need uniqueness, not uniformity.
  for (let i = 0; i < SUFFIX_LEN; i++) s += ALPHABET[bytes[i]! % ALPHABET.length];
  return LAB_PREFIX + s;
}

export function isRunPrefix(s: string): boolean {
  return new RegExp(`^${LAB_PREFIX}[0-9a-z]{${SUFFIX_LEN}}$`).test(s);
}

const ROLE_RE = /^[a-z][a-z0-9]*$/;

/** Host (namespace) role names: short lowercase words, e.g. "client", "gw". */
export function checkHostName(host: string): void {
  if (!ROLE_RE.test(host) || host.length > 12) {
    throw new Error(`lab host name "${host}" must be 1-12 chars of [a-z0-9], starting with a letter`);
  }
}

export function nsName(prefix: string, host: string): string {
  checkHostName(host);
  return `${prefix}-${host}`;
}

/** Interface name for a role inside the run, e.g. ("esnab12", "gwout") -> "esnab12gwout". */
export function ifName(prefix: string, role: string): string {
  if (!ROLE_RE.test(role)) throw new Error(`interface role "${role}" must be [a-z0-9], starting with a letter`);
  const name = prefix + role;
  if (name.length > IFNAME_MAX) {
    throw new Error(`interface name "${name}" is ${name.length} chars; Linux allows ${IFNAME_MAX} (role "${role}" may have at most ${IFNAME_MAX - prefix.length})`);
  }
  return name;
}

/** A VLAN sub-interface name "<parent>.<vid>", shortening the parent's role part to fit 15 chars. */
export function vlanIfName(parent: string, vid: number): string {
  if (!Number.isInteger(vid) || vid < 1 || vid > 4094) throw new Error(`VLAN id ${vid} is outside 1..4094`);
  const suffix = `.${vid}`;
  const room = IFNAME_MAX - suffix.length;
  return parent.slice(0, room) + suffix;
}

export function checkIfName(name: string): void {
  if (name.length === 0 || name.length > IFNAME_MAX || /[\s/:]/.test(name)) {
    throw new Error(`interface name "${name}" is not valid (1-${IFNAME_MAX} chars, no spaces, '/' or ':')`);
  }
}
