// IPv4/IPv6 addresses and CIDRs as the kernel sees them: 16-byte network-order buffers, IPv4 in
// bytes 0..3 and the rest zero (the layout of sn_pkt.src and fw_rule.src_addr). Parsing is strict
// because these strings come from people and block lists: an ambiguous form is an error, never a
// guess.

export type IpFamily = 4 | 6;

/** Thrown by the strict parsers; `message` says what is wrong with the input. */
export class NetParseError extends Error {
  override name = 'NetParseError';
}

/** One address: 16 bytes, network order, IPv4 in bytes 0..3. */
export interface IpAddress {
  readonly family: IpFamily;
  readonly addr: Buffer;
}

/** A network: address already masked to `prefix` bits. */
export class Cidr {
  constructor(
    readonly family: IpFamily,
    /** 16 bytes, network order, host bits cleared; IPv4 in bytes 0..3 */
    readonly addr: Buffer,
    readonly prefix: number,
    /** the input had bits set beyond the prefix (they were cleared) */
    readonly hadHostBits: boolean = false,
  ) {}

  /** Normalised text: dotted quad or RFC 5952, always with the prefix length. */
  toString(): string {
    return `${formatAddress(this.family, this.addr)}/${this.prefix}`;
  }

  /** Config objects are serialised to JSON for the API and logs: show the normalised text. */
  toJSON(): string {
    return this.toString();
  }

  /** Network mask as 16 network-order bytes (IPv4 mask in bytes 0..3). */
  mask(): Buffer {
    return prefixMask(this.prefix);
  }

  /** Whether `address` (16 bytes, same family) lies inside this network. */
  contains(family: IpFamily, address: Uint8Array): boolean {
    if (family !== this.family) return false;
    const full = this.prefix >> 3;
    for (let i = 0; i < full; i++) if (address[i] !== this.addr[i]) return false;
    const rest = this.prefix & 7;
    if (rest === 0) return true;
    const m = (0xff << (8 - rest)) & 0xff;
    return (address[full]! & m) === this.addr[full];
  }
}

const maxPrefix = (family: IpFamily): number => (family === 4 ? 32 : 128);

/** `prefix` leading one bits in a 16-byte buffer. */
export function prefixMask(prefix: number): Buffer {
  const m = Buffer.alloc(16);
  const full = prefix >> 3;
  m.fill(0xff, 0, full);
  const rest = prefix & 7;
  if (rest) m[full] = (0xff << (8 - rest)) & 0xff;
  return m;
}

/** Clears every bit past `prefix`; returns whether any was set. */
function maskInPlace(addr: Buffer, prefix: number): boolean {
  let had = false;
  const full = prefix >> 3;
  const rest = prefix & 7;
  let i = full;
  if (rest) {
    const keep = (0xff << (8 - rest)) & 0xff;
    if (addr[i]! & ~keep & 0xff) had = true;
    addr[i] = addr[i]! & keep;
    i++;
  }
  for (; i < 16; i++) {
    if (addr[i]) {
      had = true;
      addr[i] = 0;
    }
  }
  return had;
}

const DEC = /^(0|[1-9][0-9]{0,2})$/;

/** Parses a dotted quad into `out` at `offset`; returns an error text or null. Leading zeros
 * are refused because some tools read "010" as octal 8 and others as decimal 10. */
function parseV4Into(text: string, out: Buffer, offset: number): string | null {
  const parts = text.split('.');
  if (parts.length !== 4) return 'an IPv4 address has four dot-separated numbers';
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!DEC.test(p)) {
      if (/^0[0-9]+$/.test(p)) return `"${p}" has a leading zero (ambiguous: octal or decimal?)`;
      return `"${p}" is not a decimal number 0-255`;
    }
    const n = Number(p);
    if (n > 255) return `${p} is greater than 255`;
    out[offset + i] = n;
  }
  return null;
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Parses IPv6 text (with ::, and a trailing dotted quad) into 16 bytes; error text or null. */
function parseV6Into(text: string, out: Buffer): string | null {
  if (text.includes('%')) return 'zone ids ("%eth0") are not allowed here';
  const dbl = text.indexOf('::');
  if (dbl !== -1 && text.indexOf('::', dbl + 1) !== -1) return '"::" may appear only once';
  let head: string[];
  let tail: string[];
  if (dbl === -1) {
    head = text.split(':');
    tail = [];
  } else {
    const h = text.slice(0, dbl);
    const t = text.slice(dbl + 2);
    head = h === '' ? [] : h.split(':');
    tail = t === '' ? [] : t.split(':');
  }
  // An embedded IPv4 address takes the place of the last two groups.
  const groups: number[] = [];
  const last = dbl === -1 ? head : tail;
  let v4: Buffer | null = null;
  if (last.length > 0 && last[last.length - 1]!.includes('.')) {
    v4 = Buffer.alloc(4);
    const err = parseV4Into(last.pop()!, v4, 0);
    if (err) return `embedded IPv4: ${err}`;
  }
  const v4Groups = v4 ? 2 : 0;
  for (const g of [...head, ...tail]) {
    if (!HEX_GROUP.test(g)) return g === '' ? 'empty group (single ":" where "::" was meant?)' : `"${g}" is not a 1-4 digit hex group`;
  }
  const explicit = head.length + tail.length + v4Groups;
  if (dbl === -1) {
    if (explicit !== 8) return `an IPv6 address has 8 groups (got ${explicit})`;
  } else if (explicit > 7) {
    return `too many groups for "::" to stand for at least one zero group`;
  }
  for (const g of head) groups.push(parseInt(g, 16));
  const zeros = 8 - explicit;
  for (let i = 0; i < (dbl === -1 ? 0 : zeros); i++) groups.push(0);
  for (const g of tail) groups.push(parseInt(g, 16));
  let o = 0;
  for (const g of groups) {
    out[o++] = g >> 8;
    out[o++] = g & 0xff;
  }
  if (v4) v4.copy(out, 12);
  return null;
}

/** the groups of the IPv6 address being read by addressInto */
const readGroups = new Uint16Array(8);

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Writes the bytes of the address spelled by `text` into `out` at `at` (4 for IPv4, 16 for
 * IPv6) without allocating, and returns its family; 0 when the text is not one of the plain
 * spellings this reads (a dotted quad; hex groups with at most one "::" and no embedded IPv4 or
 * zone) or not an address at all: parseAddress then reads it, or says what is wrong. For paths
 * that read addresses this program wrote itself, once per event.
 */
export function addressInto(text: string, out: Uint8Array, at: number): 0 | IpFamily {
  const n = text.length;
  if (text.indexOf(':') < 0) {
    // a.b.c.d: 1-3 digits each, no leading zero, at most 255
    let part = 0;
    let value = 0;
    let digits = 0;
    for (let i = 0; i <= n; i++) {
      const c = i < n ? text.charCodeAt(i) : 46;
      if (c >= 48 && c <= 57) {
        if (digits === 1 && value === 0) return 0;
        value = value * 10 + (c - 48);
        if (++digits > 3 || value > 255) return 0;
      } else if (c === 46 && digits > 0 && part < 4) {
        out[at + part++] = value;
        value = 0;
        digits = 0;
      } else return 0;
    }
    return part === 4 ? 4 : 0;
  }
  // groups before "::" fill from the left, the ones after it are moved right at the end
  const g = readGroups;
  let count = 0;
  let gap = -1;
  let i = 0;
  if (n >= 2 && text.charCodeAt(0) === 58 && text.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
  }
  while (i < n) {
    let value = 0;
    let j = i;
    for (let d; j < n && j - i < 5 && (d = hexDigit(text.charCodeAt(j))) >= 0; j++) value = (value << 4) | d;
    if (j === i || j - i > 4 || count === 8) return 0;
    g[count++] = value;
    if (j === n) break;
    if (text.charCodeAt(j) !== 58) return 0;
    if (j + 1 < n && text.charCodeAt(j + 1) === 58) {
      if (gap >= 0) return 0;
      gap = count;
      i = j + 2;
    } else {
      i = j + 1;
      if (i === n) return 0; // a single trailing ":"
    }
  }
  if (gap < 0 ? count !== 8 : count > 7) return 0;
  const zeros = 8 - count;
  for (let k = 0, src = 0; k < 8; k++) {
    const v = gap >= 0 && k >= gap && k < gap + zeros ? 0 : g[src++]!;
    out[at + 2 * k] = v >> 8;
    out[at + 2 * k + 1] = v & 0xff;
  }
  return 6;
}

function familyOf(text: string): IpFamily {
  return text.includes(':') ? 6 : 4;
}

/** Parses one address; throws NetParseError with the reason. */
export function parseAddress(text: string): IpAddress {
  const addr = Buffer.alloc(16);
  const family = familyOf(text);
  const err = family === 4 ? parseV4Into(text, addr, 0) : parseV6Into(text, addr);
  if (err) throw new NetParseError(`"${text}" is not a valid IPv${family} address: ${err}`);
  return { family, addr };
}

/** Parses "addr" or "addr/len"; a bare address is a host (/32 or /128). Host bits past the
 * prefix are accepted and cleared (hadHostBits tells), so "10.1.2.3/8" means 10.0.0.0/8. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const a = slash === -1 ? text : text.slice(0, slash);
  const { family, addr } = parseAddress(a);
  let prefix = maxPrefix(family);
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) {
      throw new NetParseError(`"${text}": prefix length "${p}" is not a decimal number without leading zeros`);
    }
    prefix = Number(p);
    if (prefix > maxPrefix(family)) {
      throw new NetParseError(`"${text}": prefix length ${prefix} is longer than ${maxPrefix(family)} for IPv${family}`);
    }
  }
  const had = maskInPlace(addr, prefix);
  return new Cidr(family, addr, prefix, had);
}

/** Parse without throwing: the CIDR or the reason it is invalid (fast path for big lists). */
export function tryParseCidr(text: string): Cidr | string {
  try {
    return parseCidr(text);
  } catch (e) {
    if (e instanceof NetParseError) return e.message;
    throw e;
  }
}

// Formatting runs once per address of every alert (the ring-buffer path), so it builds no arrays
// and joins: decimal octets come from a table, hex groups from one filled as they are first met.
const DEC_OCTET: readonly string[] = Array.from({ length: 256 }, (_, i) => String(i));
const HEX16: string[] = new Array<string>(65536);
const hex16 = (x: number): string => HEX16[x] ?? (HEX16[x] = x.toString(16));
/** the eight groups of the address being formatted */
const groups = new Uint16Array(8);

function formatV4(b: Uint8Array, o: number): string {
  return DEC_OCTET[b[o]!]! + '.' + DEC_OCTET[b[o + 1]!]! + '.' + DEC_OCTET[b[o + 2]!]! + '.' + DEC_OCTET[b[o + 3]!]!;
}

/** RFC 5952: lowercase, no leading zeros, the longest run (first on a tie) of two or more zero
 * groups as "::", and IPv4-mapped addresses with a dotted quad. */
function formatV6(b: Uint8Array): string {
  const g = groups;
  for (let i = 0; i < 8; i++) g[i] = (b[2 * i]! << 8) | b[2 * i + 1]!;
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return '::ffff:' + formatV4(b, 12);
  }
  let bestStart = -1;
  let bestLen = 1; // a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  let out = '';
  if (bestStart < 0) {
    out = hex16(g[0]!);
    for (let i = 1; i < 8; i++) out += ':' + hex16(g[i]!);
    return out;
  }
  for (let i = 0; i < bestStart; i++) out += (i ? ':' : '') + hex16(g[i]!);
  out += '::';
  for (let i = bestStart + bestLen; i < 8; i++) out += (i > bestStart + bestLen ? ':' : '') + hex16(g[i]!);
  return out;
}

/** Text form of a 16-byte address of the given family. */
export function formatAddress(family: IpFamily, addr: Uint8Array): string {
  return family === 4 ? formatV4(addr, 0) : formatV6(addr);
}

/** True for 127.0.0.0/8 and ::1 (and ::ffff:127.x.x.x). */
export function isLoopback(a: IpAddress): boolean {
  if (a.family === 4) return a.addr[0] === 127;
  const b = a.addr;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  if (b[10] === 0xff && b[11] === 0xff) return b[12] === 127;
  if (b[10] !== 0 || b[11] !== 0) return false;
  for (let i = 12; i < 15; i++) if (b[i] !== 0) return false;
  return b[15] === 1;
}

/** A compact key for dedup maps: family, prefix and the significant bytes. */
export function cidrKey(c: Cidr): string {
  const n = c.family === 4 ? 4 : 16;
  return `${c.family}/${c.prefix}/${c.addr.toString('hex', 0, n)}`;
}
