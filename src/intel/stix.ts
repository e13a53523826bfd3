// STIX 2.1 content (a bundle, a TAXII envelope, a list or one object) into indicators.
//
// Two kinds of fault, treated differently:
// - a broken object (not an object, no valid type or id, a required property missing, a timestamp
//   that is not a real date, `modified` before `created`, an indicator without pattern, a stix
//   pattern that does not parse) makes the whole content invalid: FeedFormatError naming the object
//   and the fault, and the caller keeps the indicators it had;
// - a valid indicator the kernel cannot enforce (observation AND/FOLLOWEDBY, qualifiers, AND
//   inside a bracket, NOT, LIKE/MATCHES, terms over other object types, another pattern_type,
//   revoked, expired, not yet valid) is skipped whole and counted by reason, never half-applied;
//   a value that is not an address, network, name or URL is skipped and reported by itself (the
//   other values of its OR still apply, since each alone matches the indicator).
import { Cidr } from '../net/ip.js';
import { FeedFormatError, normaliseDomain, parseJsonFeed, normaliseUrl, parseIpIndicator, SkipLog, type FeedContent, type Indicator, type IndicatorValue, type KillChainPhase } from './indicator.js';
import { hashAlgorithm, parseStixPattern, propertyTests, StixPatternError, type Comparison, type Literal, type Observation } from './stix-pattern.js';

export interface StixOptions {
  /** confidence of an indicator without one */
  defaultConfidence: number;
  /** ms since the epoch: what "expired" and "not yet valid" are judged against */
  now: number;
}

type Obj = Record<string, unknown>;

const TYPE = /^[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const TIMESTAMP = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?Z$/;

const SCO = new Set(['artifact', 'autonomous-system', 'directory', 'domain-name', 'email-addr', 'email-message', 'file', 'ipv4-addr', 'ipv6-addr', 'mac-addr', 'mutex', 'network-traffic', 'process', 'software', 'url', 'user-account', 'windows-registry-key', 'x509-certificate']);
/** pattern types of the STIX 2.1 vocabulary (pattern-type-ov) */
const PATTERN_TYPES = new Set(['stix', 'pcre', 'sigma', 'snort', 'suricata', 'yara']);

/** ms since the epoch of a STIX timestamp, or the reason it is not one (a real date in UTC). */
export function stixTime(v: unknown): number | string {
  if (typeof v !== 'string') return 'is not a string';
  const m = TIMESTAMP.exec(v);
  if (!m) return `"${v}" is not a timestamp of the form YYYY-MM-DDTHH:MM:SS[.s]Z`;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const t = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(t);
  if (mo < 1 || mo > 12 || back.getUTCDate() !== d || back.getUTCMonth() !== mo - 1 || h > 23 || mi > 59 || s > 60) return `"${v}" is not a real date and time`;
  return t + (m[7] ? Math.floor(Number(m[7]) * 1000) : 0);
}

/** The objects of STIX content: a bundle, a TAXII 2.1 envelope ({objects}), an array, or one object. */
export function stixObjects(doc: unknown): Obj[] {
  if (Array.isArray(doc)) return doc as Obj[];
  if (doc && typeof doc === 'object') {
    const o = doc as Obj;
    if (o.type === 'bundle') {
      if (o.objects === undefined) return [];
      if (!Array.isArray(o.objects)) throw new FeedFormatError(`bundle ${String(o.id)}: "objects" is not a list`);
      return o.objects as Obj[];
    }
    if (o.type === undefined && Array.isArray(o.objects)) return o.objects as Obj[];
    return [o];
  }
  throw new FeedFormatError('STIX content is neither a bundle, an envelope, a list of objects nor an object');
}

function describe(o: Obj, index: number): string {
  return typeof o.id === 'string' ? o.id : `object #${index}${typeof o.type === 'string' ? ` (${o.type})` : ''}`;
}

/** Checks the properties every STIX 2.1 object shares; throws naming the object and the fault. */
function checkCommon(o: unknown, index: number): asserts o is Obj {
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new FeedFormatError(`object #${index} is not a JSON object`);
  const obj = o as Obj;
  const name = describe(obj, index);
  const fault = (what: string): never => {
    throw new FeedFormatError(`${name}: ${what}`);
  };
  if (typeof obj.type !== 'string') fault('has no "type"');
  const type = obj.type as string;
  if (type.length < 3 || type.length > 250 || !TYPE.test(type)) fault(`type "${type}" is not 3-250 characters of a-z, 0-9 and single hyphens`);
  if (typeof obj.id !== 'string') fault('has no "id"');
  const [idType, uuid, extra] = (obj.id as string).split('--');
  if (idType !== type || !uuid || extra !== undefined || !UUID.test(uuid)) fault(`id "${String(obj.id)}" is not "${type}--<UUID>"`);
  const sco = SCO.has(type);
  if (!sco && obj.spec_version === undefined) fault('has no "spec_version"');
  if (obj.spec_version !== undefined && obj.spec_version !== '2.1') fault(`spec_version "${String(obj.spec_version)}" is not "2.1"`);
  if (sco) return;
  const created = stixTime(obj.created);
  if (obj.created === undefined) fault('has no "created" (required)');
  if (typeof created === 'string') fault(`"created" ${created}`);
  if (type === 'marking-definition') return; // a marking definition never changes: no modified
  if (obj.modified === undefined) fault('has no "modified" (required)');
  const modified = stixTime(obj.modified);
  if (typeof modified === 'string') fault(`"modified" ${modified}`);
  if ((modified as number) < (created as number)) fault(`"modified" (${String(obj.modified)}) is earlier than "created" (${String(obj.created)})`);
}

/** Loads STIX content: indicators with `pattern_type: stix` whose values can be enforced. */
export function parseStix(text: string, opts: StixOptions): FeedContent {
  const objects = stixObjects(parseJsonFeed(text));
  // several versions of an object: the latest `modified` is the object
  const latest = new Map<string, { o: Obj; modified: number }>();
  objects.forEach((o, i) => {
    checkCommon(o, i);
    if (o.type !== 'indicator') return;
    checkIndicator(o);
    const modified = stixTime(o.modified) as number;
    const prev = latest.get(o.id as string);
    if (!prev || modified >= prev.modified) latest.set(o.id as string, { o, modified });
  });
  const skipped = new SkipLog();
  const indicators: Indicator[] = [];
  for (const { o } of latest.values()) indicatorsOf(o, opts, indicators, skipped);
  return { indicators, skipped };
}

function checkIndicator(o: Obj): void {
  const id = o.id as string;
  const fault = (what: string): never => {
    throw new FeedFormatError(`${id}: ${what}`);
  };
  if (typeof o.pattern !== 'string') fault('indicator has no "pattern"');
  if (typeof o.pattern_type !== 'string') fault('indicator has no "pattern_type"');
  const from = stixTime(o.valid_from);
  if (o.valid_from === undefined) fault('indicator has no "valid_from"');
  if (typeof from === 'string') fault(`"valid_from" ${from}`);
  if (o.valid_until !== undefined) {
    const until = stixTime(o.valid_until);
    if (typeof until === 'string') fault(`"valid_until" ${until}`);
    if ((until as number) <= (from as number)) fault(`"valid_until" (${String(o.valid_until)}) is not later than "valid_from" (${String(o.valid_from)})`);
  }
  if (o.confidence !== undefined && (!Number.isInteger(o.confidence) || (o.confidence as number) < 0 || (o.confidence as number) > 100)) fault(`"confidence" ${JSON.stringify(o.confidence)} is not an integer 0-100`);
  if (o.revoked !== undefined && typeof o.revoked !== 'boolean') fault('"revoked" is not true or false');
  if (o.pattern_type !== 'stix') return;
  let ast: Observation;
  try {
    ast = parseStixPattern(o.pattern as string);
  } catch (e) {
    if (e instanceof StixPatternError) fault(`pattern ${JSON.stringify(o.pattern)} is invalid: ${e.message}`);
    throw e;
  }
  for (const t of propertyTests(ast).map((x) => x.path.objectType)) {
    if (t.length < 3 || t.length > 250 || !/^[a-z0-9-]+$/.test(t)) fault(`pattern ${JSON.stringify(o.pattern)} names object type "${t}", not 3-250 characters of a-z, 0-9 and "-"`);
  }
}

/** Why a valid pattern cannot be enforced per packet, thrown while walking it. */
class Unenforceable extends Error {}

interface Term {
  value: IndicatorValue | { error: string };
  raw: string;
}

function indicatorsOf(o: Obj, opts: StixOptions, out: Indicator[], skipped: SkipLog): void {
  const id = o.id as string;
  if (o.pattern_type !== 'stix') {
    skipped.add(PATTERN_TYPES.has(o.pattern_type as string) ? `pattern_type ${String(o.pattern_type)} (only stix patterns are enforced)` : `pattern_type ${String(o.pattern_type)} is not in the STIX vocabulary`, id);
    return;
  }
  if (o.revoked === true) return skipped.add('revoked', id);
  const until = o.valid_until === undefined ? undefined : (stixTime(o.valid_until) as number);
  if (until !== undefined && until <= opts.now) return skipped.add('expired (valid_until has passed)', id);
  if ((stixTime(o.valid_from) as number) > opts.now) return skipped.add('not yet valid (valid_from is in the future)', id);
  let terms: Term[];
  try {
    terms = observationTerms(parseStixPattern(o.pattern as string));
  } catch (e) {
    if (e instanceof Unenforceable) return skipped.add(e.message, id);
    throw e;
  }
  const name = typeof o.name === 'string' ? o.name : undefined;
  const killChain = Array.isArray(o.kill_chain_phases)
    ? (o.kill_chain_phases as unknown[]).filter((k): k is KillChainPhase => !!k && typeof (k as KillChainPhase).kill_chain_name === 'string' && typeof (k as KillChainPhase).phase_name === 'string').map((k) => ({ kill_chain_name: k.kill_chain_name, phase_name: k.phase_name }))
    : undefined;
  const category = Array.isArray(o.indicator_types) && typeof o.indicator_types[0] === 'string' ? (o.indicator_types[0] as string) : undefined;
  const confidence = typeof o.confidence === 'number' ? o.confidence : opts.defaultConfidence;
  for (const t of terms) {
    if ('error' in t.value) {
      skipped.add('invalid value', `${id}: ${t.value.error}`);
      continue;
    }
    out.push({ value: t.value, id, confidence, ...(name !== undefined && { name }), ...(killChain?.length && { killChain }), ...(category !== undefined && { category }), ...(until !== undefined && { validUntil: until }) });
  }
}

function observationTerms(o: Observation): Term[] {
  if (o.qualifiers.length) throw new Unenforceable(`qualifier ${o.qualifiers.map((q) => q.kind.toUpperCase()).join(', ')} (not enforceable per packet)`);
  switch (o.kind) {
    case 'group':
      return observationTerms(o.inner);
    case 'or':
      return [...observationTerms(o.left), ...observationTerms(o.right)];
    case 'and':
    case 'followedby':
      throw new Unenforceable(`observation ${o.kind.toUpperCase()} (needs several observations, not enforceable per packet)`);
    case 'observation':
      return comparisonTerms(o.comparison);
  }
}

function pathText(c: Extract<Comparison, { kind: 'test' | 'exists' }>): string {
  return `${c.path.objectType}:${c.path.steps.map((s) => (s.kind === 'key' ? s.name : `[${s.index}]`)).join('.')}`;
}

function comparisonTerms(c: Comparison): Term[] {
  if (c.kind === 'or') return [...comparisonTerms(c.left), ...comparisonTerms(c.right)];
  if (c.kind === 'and') throw new Unenforceable('AND inside an observation (several properties of one object, not enforceable per packet)');
  if (c.kind === 'exists') throw new Unenforceable(`EXISTS ${pathText(c)}`);
  if (c.negated) throw new Unenforceable(`NOT ${c.op} on ${pathText(c)}`);
  const type = c.path.objectType;
  const single = c.path.steps.length === 1 && c.path.steps[0]!.kind === 'key' && c.path.steps[0]!.name === 'value';
  const algo = type === 'file' ? hashAlgorithm(c.path) : null;
  if (!(single && (type === 'ipv4-addr' || type === 'ipv6-addr' || type === 'domain-name' || type === 'url')) && !algo) {
    throw new Unenforceable(`terms over ${pathText(c)} (only ipv4-addr, ipv6-addr, domain-name, url values and file hashes are indicators)`);
  }
  let literals: Literal[];
  if (c.op === '=') literals = [c.value as Literal];
  else if (c.op === 'IN') literals = c.value as Literal[];
  else if (c.op === 'ISSUBSET' && (type === 'ipv4-addr' || type === 'ipv6-addr')) literals = [c.value as Literal];
  else throw new Unenforceable(`${c.op} on ${pathText(c)}`);
  return literals.map((l): Term => {
    if (l.kind !== 'string') return { raw: String(l.value), value: { error: `${pathText(c)} compared with a ${l.kind}, not a string` } };
    return { raw: l.value, value: termValue(type, l.value, algo) };
  });
}

/** STIX writes IPv4 the way python-stix2 reads it: leading zeros are decimal ("01.02.03.04" is
 * 1.2.3.4, the reference library's equivalence), the prefix length strict. */
function stixIpv4(text: string): string {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  if (!/^[0-9]{1,3}(\.[0-9]{1,3}){3}$/.test(addr)) return text;
  return addr.split('.').map((p) => String(Number(p))).join('.') + (slash < 0 ? '' : text.slice(slash));
}

function termValue(type: string, text: string, algo: string | null): IndicatorValue | { error: string } {
  if (algo) return /^[0-9a-fA-F]+$/.test(text) || algo === 'ssdeep' || algo === 'tlsh' ? { type: 'hash', algorithm: algo, hash: text.toLowerCase() } : { error: `"${text}" is not a hex ${algo} hash` };
  if (type === 'ipv4-addr' || type === 'ipv6-addr') {
    const c = parseIpIndicator(type === 'ipv4-addr' ? stixIpv4(text) : text, type === 'ipv4-addr' ? 4 : 6);
    return c instanceof Cidr ? { type: 'ip', cidr: c } : { error: `${type} ${c.error}` };
  }
  if (type === 'domain-name') {
    const d = normaliseDomain(text);
    return typeof d === 'string' ? { type: 'domain', name: d } : d;
  }
  const u = normaliseUrl(text);
  return typeof u === 'string' ? { type: 'url', url: u } : u;
}
