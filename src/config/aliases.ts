// Alias list files: one address or CIDR per line, '#' starts a comment, blank lines are
// ignored. These are often large block lists, so parsing is a single pass without regexes per
// line beyond the address parser, and a broken file reports its first problems (by line), not
// thousands of them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { tryParseCidr, type Cidr } from '../net/ip.js';

export interface ListLineIssue {
  line: number;
  column: number;
  message: string;
}

export interface ParsedList {
  cidrs: Cidr[];
  issues: ListLineIssue[];
  /** issues beyond the ones kept */
  moreIssues: number;
  /** lines whose CIDR had host bits set (they were cleared) */
  hostBitLines: { line: number; cidr: Cidr }[];
}

const MAX_ISSUES_PER_FILE = 20;

export function parseCidrList(text: string): ParsedList {
  const cidrs: Cidr[] = [];
  const issues: ListLineIssue[] = [];
  const hostBitLines: { line: number; cidr: Cidr }[] = [];
  let moreIssues = 0;
  let lineNo = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    lineNo++;
    let line = text.slice(start, end);
    start = end + 1;
    const hash = line.indexOf('#');
    if (hash !== -1) line = line.slice(0, hash);
    const trimmed = line.trim();
    if (trimmed === '') continue;
    const c = tryParseCidr(trimmed);
    if (typeof c === 'string') {
      if (issues.length < MAX_ISSUES_PER_FILE) issues.push({ line: lineNo, column: line.indexOf(trimmed) + 1, message: c });
      else moreIssues++;
      continue;
    }
    if (c.hadHostBits) hostBitLines.push({ line: lineNo, cidr: c });
    cidrs.push(c);
  }
  return { cidrs, issues, moreIssues, hostBitLines };
}

/** Reads a list file named in the config; relative names are relative to the config's dir. */
export function readListFile(file: string, configDir: string): { absPath: string; text: string } {
  const absPath = path.resolve(configDir, file);
  return { absPath, text: readFileSync(absPath, 'utf8') };
}
