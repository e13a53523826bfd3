// How Suricata spells DNS numbers in EVE: record types by their IANA mnemonic (the ones it
// knows; any other as its number), response codes by name (from the header's 4 bits), and
// A/AAAA addresses (IPv6 written out whole: eight groups of four hex digits, no "::").
import { NetParseError, parseAddress } from '../net/ip.js';

// IANA "Resource Record (RR) TYPEs" mnemonics for the types Suricata names.
const RRTYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [1, 'A'], [2, 'NS'], [3, 'MD'], [4, 'MF'], [5, 'CNAME'], [6, 'SOA'], [7, 'MB'], [8, 'MG'], [9, 'MR'], [10, 'NULL'],
  [11, 'WKS'], [12, 'PTR'], [13, 'HINFO'], [14, 'MINFO'], [15, 'MX'], [16, 'TXT'], [17, 'RP'], [18, 'AFSDB'], [19, 'X25'],
  [20, 'ISDN'], [21, 'RT'], [22, 'NSAP'], [23, 'NSAPPTR'], [24, 'SIG'], [25, 'KEY'], [26, 'PX'], [27, 'GPOS'], [28, 'AAAA'],
  [29, 'LOC'], [30, 'NXT'], [33, 'SRV'], [34, 'ATMA'], [35, 'NAPTR'], [36, 'KX'], [37, 'CERT'], [38, 'A6'], [39, 'DNAME'],
  [41, 'OPT'], [42, 'APL'], [43, 'DS'], [44, 'SSHFP'], [45, 'IPSECKEY'], [46, 'RRSIG'], [47, 'NSEC'], [48, 'DNSKEY'],
  [49, 'DHCID'], [50, 'NSEC3'], [51, 'NSEC3PARAM'], [52, 'TLSA'], [55, 'HIP'], [59, 'CDS'], [60, 'CDNSKEY'], [65, 'HTTPS'],
  [99, 'SPF'], [249, 'TKEY'], [250, 'TSIG'], [254, 'MAILA'], [255, 'ANY'], [256, 'URI'],
]);

// RFC 1035 and RFC 2136 codes; the header holds 4 bits, so the extended ones (16+) never show here.
const RCODE_NAMES: readonly string[] = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

export function dnsRrtypeName(rrtype: number): string {
  return RRTYPE_NAMES.get(rrtype) ?? String(rrtype);
}

/** The rcode from the header's low 4 bits. */
export function dnsRcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? String(rcode);
}

/** An A or AAAA record's address as Suricata prints it. Text that is not an address is kept as
 * given (the decoder already said what it was). */
export function dnsAddressText(text: string): string {
  let a;
  try {
    a = parseAddress(text);
  } catch (e) {
    if (e instanceof NetParseError) return text;
    throw e;
  }
  if (a.family === 4) return `${a.addr[0]}.${a.addr[1]}.${a.addr[2]}.${a.addr[3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(a.addr.subarray(i, i + 2).toString('hex'));
  return groups.join(':');
}
