// The STIX 2.1 patterning language (STIX 2.1 part 9): a lexer and a recursive-descent parser of
// the whole grammar, so that a pattern the product cannot enforce is still recognised as valid
// (and skipped with its reason) while a broken one is refused with the column of its fault.
// Only the indicator loader (stix.ts) decides what of a valid pattern becomes an indicator.

/** A pattern that is not valid STIX: `column` is 0-based, as the reference validator counts. */
export class StixPatternError extends Error {
  override name = 'StixPatternError';
  constructor(
    readonly column: number,
    readonly reason: string,
  ) {
    super(`column ${column}: ${reason}`);
  }
}

export type Literal =
  | { kind: 'string'; value: string }
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'binary'; value: string }
  | { kind: 'hex'; value: string }
  | { kind: 'timestamp'; value: string };

export interface ObjectPath {
  objectType: string;
  /** the property path after ':' as written, e.g. `value`, `hashes.'SHA-256'`, `resolves_to_refs[*].value` */
  steps: readonly PathStep[];
}
export type PathStep = { kind: 'key'; name: string } | { kind: 'index'; index: number | '*' };

export type Comparison =
  | { kind: 'test'; path: ObjectPath; negated: boolean; op: string; value: Literal | Literal[] }
  | { kind: 'exists'; path: ObjectPath }
  | { kind: 'and'; left: Comparison; right: Comparison }
  | { kind: 'or'; left: Comparison; right: Comparison };

export type Qualifier = { kind: 'within'; seconds: number } | { kind: 'repeats'; times: number } | { kind: 'startstop'; start: string; stop: string };

export type Observation =
  | { kind: 'observation'; comparison: Comparison; qualifiers: Qualifier[] }
  | { kind: 'and'; left: Observation; right: Observation; qualifiers: Qualifier[] }
  | { kind: 'or'; left: Observation; right: Observation; qualifiers: Qualifier[] }
  | { kind: 'followedby'; left: Observation; right: Observation; qualifiers: Qualifier[] }
  | { kind: 'group'; inner: Observation; qualifiers: Qualifier[] };

// ---------------------------------------------------------------------------------------------
// lexer

type TokKind = 'lbrack' | 'rbrack' | 'lparen' | 'rparen' | 'colon' | 'dot' | 'comma' | 'star' | 'op' | 'ident' | 'string' | 'int' | 'float' | 'binary' | 'hex' | 'timestamp' | 'eof';
interface Tok {
  kind: TokKind;
  text: string;
  at: number;
  /** decoded value of string-like literals */
  value?: string;
}

const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'FOLLOWEDBY', 'LIKE', 'MATCHES', 'ISSUBSET', 'ISSUPERSET', 'LAST', 'IN', 'START', 'STOP', 'SECONDS', 'true', 'false', 'WITHIN', 'REPEATS', 'TIMES', 'EXISTS']);
const TIMESTAMP = /^([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9]|60)(\.[0-9]+)?Z$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function lex(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const n = src.length;
  const quoted = (start: number, prefixLen: number): { end: number; value: string } => {
    // a quoted body: '\'' and '\\' are the only escapes (the grammar keeps other backslashes)
    let j = start + prefixLen + 1;
    let value = '';
    for (;;) {
      if (j >= n) throw new StixPatternError(start, 'unterminated string literal');
      const c = src[j]!;
      if (c === "'") return { end: j + 1, value };
      if (c === '\\' && (src[j + 1] === "'" || src[j + 1] === '\\')) {
        value += src[j + 1];
        j += 2;
        continue;
      }
      value += c;
      j++;
    }
  };
  while (i < n) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
      continue;
    }
    const at = i;
    const single: Record<string, TokKind> = { '[': 'lbrack', ']': 'rbrack', '(': 'lparen', ')': 'rparen', ':': 'colon', '.': 'dot', ',': 'comma', '*': 'star' };
    if (single[c] && !(c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      toks.push({ kind: single[c], text: c, at });
      i++;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (two === '==' || two === '!=' || two === '<>' || two === '<=' || two === '>=') {
      toks.push({ kind: 'op', text: two === '==' ? '=' : two === '<>' ? '!=' : two, at });
      i += 2;
      continue;
    }
    if (c === '=' || c === '<' || c === '>') {
      toks.push({ kind: 'op', text: c, at });
      i++;
      continue;
    }
    if (c === "'") {
      const q = quoted(i, 0);
      toks.push({ kind: 'string', text: src.slice(i, q.end), at, value: q.value });
      i = q.end;
      continue;
    }
    if ((c === 'b' || c === 'h' || c === 't') && src[i + 1] === "'") {
      const q = quoted(i, 1);
      const kind = c === 'b' ? 'binary' : c === 'h' ? 'hex' : 'timestamp';
      const ok = kind === 'binary' ? BASE64.test(q.value) : kind === 'hex' ? /^([0-9a-fA-F]{2})*$/.test(q.value) : TIMESTAMP.test(q.value);
      if (!ok) throw new StixPatternError(at, `${kind} literal ${src.slice(i, q.end)} is not well formed`);
      toks.push({ kind, text: src.slice(i, q.end), at, value: q.value });
      i = q.end;
      continue;
    }
    const num = /^[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)/.exec(src.slice(i));
    if (num && (/[0-9.]/.test(c) || ((c === '-' || c === '+') && /[0-9.]/.test(src[i + 1] ?? '')))) {
      const t = num[0];
      if (/^[+-]?0[0-9]/.test(t)) throw new StixPatternError(at, `number ${t} has a leading zero`);
      toks.push({ kind: t.includes('.') ? 'float' : 'int', text: t, at });
      i += t.length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i));
    if (id) {
      toks.push({ kind: 'ident', text: id[0], at });
      i += id[0].length;
      continue;
    }
    throw new StixPatternError(at, `unexpected character '${c}'`);
  }
  toks.push({ kind: 'eof', text: '<EOF>', at: n });
  return toks;
}

// ---------------------------------------------------------------------------------------------
// parser

class Parser {
  private i = 0;
  constructor(private readonly toks: Tok[]) {}

  private peek(k = 0): Tok {
    return this.toks[Math.min(this.i + k, this.toks.length - 1)]!;
  }
  private next(): Tok {
    return this.toks[this.i++]!;
  }
  private isKw(word: string, k = 0): boolean {
    const t = this.peek(k);
    return t.kind === 'ident' && t.text === word;
  }
  private fail(t: Tok, why: string): never {
    throw new StixPatternError(t.at, `${why} at '${t.text}'`);
  }
  private expect(kind: TokKind, what: string): Tok {
    const t = this.next();
    if (t.kind !== kind) this.fail(t, `expected ${what}`);
    return t;
  }
  private expectKw(word: string): void {
    const t = this.next();
    if (t.kind !== 'ident' || t.text !== word) this.fail(t, `expected ${word}`);
  }

  pattern(): Observation {
    if (this.peek().kind !== 'lbrack' && this.peek().kind !== 'lparen') this.fail(this.peek(), 'a pattern starts with "[" (input is missing square brackets)');
    const o = this.followedBy();
    if (this.peek().kind !== 'eof') this.fail(this.peek(), 'expected the end of the pattern');
    return o;
  }

  private followedBy(): Observation {
    let left = this.obsOr();
    while (this.isKw('FOLLOWEDBY')) {
      this.next();
      left = { kind: 'followedby', left, right: this.obsOr(), qualifiers: [] };
    }
    return left;
  }
  private obsOr(): Observation {
    let left = this.obsAnd();
    while (this.isKw('OR')) {
      this.next();
      left = { kind: 'or', left, right: this.obsAnd(), qualifiers: [] };
    }
    return left;
  }
  private obsAnd(): Observation {
    let left = this.obsQualified();
    while (this.isKw('AND')) {
      this.next();
      left = { kind: 'and', left, right: this.obsQualified(), qualifiers: [] };
    }
    return left;
  }
  private obsQualified(): Observation {
    const o = this.obsPrimary();
    const seen = new Set<string>();
    for (;;) {
      const t = this.peek();
      let q: Qualifier;
      if (this.isKw('WITHIN')) {
        this.next();
        const v = this.next();
        if ((v.kind !== 'int' && v.kind !== 'float') || v.text.startsWith('-') || Number(v.text) <= 0) this.fail(v, 'WITHIN takes a positive number of seconds');
        this.expectKw('SECONDS');
        q = { kind: 'within', seconds: Number(v.text) };
      } else if (this.isKw('REPEATS')) {
        this.next();
        const v = this.next();
        if (v.kind !== 'int' || v.text.startsWith('-') || Number(v.text) <= 0) this.fail(v, 'REPEATS takes a positive integer');
        this.expectKw('TIMES');
        q = { kind: 'repeats', times: Number(v.text) };
      } else if (this.isKw('START')) {
        this.next();
        const a = this.expect('timestamp', "a timestamp t'...'");
        this.expectKw('STOP');
        const b = this.expect('timestamp', "a timestamp t'...'");
        q = { kind: 'startstop', start: a.value!, stop: b.value! };
      } else break;
      // the reference validator refuses a qualifier type repeated on one bracketed observation
      // (a parenthesised group may carry one of each on top of its members')
      if (o.kind === 'observation' && seen.has(q.kind)) throw new StixPatternError(t.at, `duplicate qualifier type encountered: ${q.kind.toUpperCase()}`);
      seen.add(q.kind);
      o.qualifiers.push(q);
    }
    return o;
  }
  private obsPrimary(): Observation {
    const t = this.peek();
    if (t.kind === 'lbrack') {
      this.next();
      const comparison = this.cmpOr();
      this.expect('rbrack', '"]"');
      return { kind: 'observation', comparison, qualifiers: [] };
    }
    if (t.kind === 'lparen') {
      this.next();
      const inner = this.followedBy();
      this.expect('rparen', '")"');
      return { kind: 'group', inner, qualifiers: [] };
    }
    this.fail(t, 'expected "[" or "("');
  }

  private cmpOr(): Comparison {
    let left = this.cmpAnd();
    while (this.isKw('OR')) {
      this.next();
      left = { kind: 'or', left, right: this.cmpAnd() };
    }
    return left;
  }
  private cmpAnd(): Comparison {
    let left = this.propTest();
    while (this.isKw('AND')) {
      this.next();
      left = { kind: 'and', left, right: this.propTest() };
    }
    return left;
  }
  private propTest(): Comparison {
    const t = this.peek();
    if (t.kind === 'lparen') {
      this.next();
      const c = this.cmpOr();
      this.expect('rparen', '")"');
      return c;
    }
    if (this.isKw('EXISTS')) {
      this.next();
      return { kind: 'exists', path: this.objectPath() };
    }
    const path = this.objectPath();
    let negated = false;
    if (this.isKw('NOT')) {
      this.next();
      negated = true;
    }
    const o = this.next();
    if (o.kind === 'op') {
      const v = this.literal();
      if (o.text !== '=' && o.text !== '!=' && (v.kind === 'bool')) this.fail(o, `${o.text} needs an orderable value`);
      return { kind: 'test', path, negated, op: o.text, value: v };
    }
    if (o.kind === 'ident' && o.text === 'IN') {
      this.expect('lparen', '"(" after IN');
      const values: Literal[] = [this.literal()];
      while (this.peek().kind === 'comma') {
        this.next();
        values.push(this.literal());
      }
      this.expect('rparen', '")"');
      return { kind: 'test', path, negated, op: 'IN', value: values };
    }
    if (o.kind === 'ident' && (o.text === 'LIKE' || o.text === 'MATCHES' || o.text === 'ISSUBSET' || o.text === 'ISSUPERSET')) {
      const v = this.next();
      if (v.kind !== 'string') this.fail(v, `${o.text} expects a string literal`);
      return { kind: 'test', path, negated, op: o.text, value: { kind: 'string', value: v.value! } };
    }
    this.fail(o, 'expected a comparison operator');
  }
  private objectPath(): ObjectPath {
    const t = this.next();
    if (t.kind !== 'ident' || KEYWORDS.has(t.text)) this.fail(t, 'expected an object type');
    const c = this.peek();
    if (c.kind !== 'colon') this.fail(c, `no viable alternative at input '${t.text}${c.text}' (expected "type:property")`);
    this.next();
    const steps: PathStep[] = [];
    const first = this.next();
    if (first.kind === 'ident' && !first.text.includes('-')) steps.push({ kind: 'key', name: first.text });
    else if (first.kind === 'string') steps.push({ kind: 'key', name: first.value! });
    else this.fail(first, 'expected a property name');
    for (;;) {
      const p = this.peek();
      if (p.kind === 'dot') {
        this.next();
        const k = this.next();
        if (k.kind === 'ident' && !k.text.includes('-')) steps.push({ kind: 'key', name: k.text });
        else if (k.kind === 'string') steps.push({ kind: 'key', name: k.value! });
        else this.fail(k, 'expected a property name after "."');
      } else if (p.kind === 'lbrack') {
        this.next();
        const k = this.next();
        if (k.kind === 'star') steps.push({ kind: 'index', index: '*' });
        else if (k.kind === 'int') steps.push({ kind: 'index', index: Number(k.text) });
        else this.fail(k, 'expected an index or "*"');
        this.expect('rbrack', '"]"');
      } else break;
    }
    return { objectType: t.text, steps };
  }
  private literal(): Literal {
    const t = this.next();
    switch (t.kind) {
      case 'string':
        return { kind: 'string', value: t.value! };
      case 'int':
        return { kind: 'int', value: Number(t.text) };
      case 'float':
        return { kind: 'float', value: Number(t.text) };
      case 'binary':
        return { kind: 'binary', value: t.value! };
      case 'hex':
        return { kind: 'hex', value: t.value! };
      case 'timestamp':
        return { kind: 'timestamp', value: t.value! };
      case 'ident':
        if (t.text === 'true' || t.text === 'false') return { kind: 'bool', value: t.text === 'true' };
        this.fail(t, 'expected a literal (a quoted string needs single quotes)');
      // falls through: fail never returns
      default:
        this.fail(t, 'expected a literal');
    }
  }
}

/** Parses a STIX 2.1 pattern; throws StixPatternError naming the column of the first fault. */
export function parseStixPattern(pattern: string): Observation {
  const o = new Parser(lex(pattern)).pattern();
  checkHashes(o);
  return o;
}

const HASH_LENGTHS: Readonly<Record<string, number>> = { md5: 32, 'sha-1': 40, sha1: 40, 'sha-256': 64, sha256: 64, 'sha-512': 128, sha512: 128, 'sha3-256': 64, 'sha3-512': 128 };

/** The hash algorithm a `file:hashes.<algo>` path names, lower-cased, or null. */
export function hashAlgorithm(path: ObjectPath): string | null {
  if (path.steps.length !== 2) return null;
  const [a, b] = path.steps;
  return a!.kind === 'key' && a!.name === 'hashes' && b!.kind === 'key' ? b!.name.toLowerCase() : null;
}

/** A hash value of the wrong length for its named algorithm is an invalid pattern, as the
 * reference validator says ('f00' is not a valid SHA-256 hash). */
function checkHashes(o: Observation): void {
  for (const c of propertyTests(o)) {
    if (c.kind !== 'test' || c.op !== '=') continue;
    const algo = hashAlgorithm(c.path);
    const want = algo ? HASH_LENGTHS[algo] : undefined;
    if (want === undefined || Array.isArray(c.value) || c.value.kind !== 'string') continue;
    if (!new RegExp(`^[0-9a-fA-F]{${want}}$`).test(c.value.value)) throw new StixPatternError(0, `'${c.value.value}' is not a valid ${algo!.toUpperCase()} hash`);
  }
}

/** Every property test (comparison or EXISTS) of a pattern, in writing order. */
export function propertyTests(o: Observation): Extract<Comparison, { kind: 'test' | 'exists' }>[] {
  const out: Extract<Comparison, { kind: 'test' | 'exists' }>[] = [];
  const c = (x: Comparison): void => {
    if (x.kind === 'and' || x.kind === 'or') {
      c(x.left);
      c(x.right);
    } else out.push(x);
  };
  const walk = (x: Observation): void => {
    if (x.kind === 'observation') c(x.comparison);
    else if (x.kind === 'group') walk(x.inner);
    else {
      walk(x.left);
      walk(x.right);
    }
  };
  walk(o);
  return out;
}
