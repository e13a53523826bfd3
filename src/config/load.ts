// Loading a config file: YAML -> schema -> alias files -> the firewall compiler as the last
// check. A file that loads is a file the agent can enforce; every problem is reported at once
// with file:line:column and the key path.
import { open } from 'node:fs/promises';
import path from 'node:path';
import { isSeq, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { compileFirewall, FirewallCompileError, type ResolvedAliases } from '../engines/firewall/compile.js';
import type { Cidr } from '../net/ip.js';
import { parseCidrList, readListFile } from './aliases.js';
import { ConfigError, formatKeyPath, type ConfigIssue } from './errors.js';
import { configErrorMap } from './messages.js';
import { configSchema, type ConfigData } from './schema.js';
import { permissionAdvice, readableByOthers } from './secret-sources.js';
import { knownSecrets, secretFields, secretsInData, type SecretField } from './secrets.js';
import { YamlSource } from './yaml-source.js';
import { UNKNOWN_KEYS_TAG } from './zod-helpers.js';

export const MAX_CONFIG_BYTES = 10 * 1024 * 1024;
const MAX_WARNINGS = 50;

/** A validated config with defaults filled in and alias files read. */
export interface Config extends ConfigData {
  readonly source: {
    /** the file as named by the caller */
    readonly file: string;
    /** its directory (absolute): relative paths in the file are relative to it */
    readonly dir: string;
  };
  readonly resolved: {
    /** every firewall alias's addresses: inline values followed by its file's lines */
    readonly firewallAliases: ResolvedAliases;
  };
  /** things that load but are probably not what was meant (host bits set, dead entries) */
  readonly warnings: readonly ConfigIssue[];
}

export interface ParseOptions {
  /** base for relative paths (alias files, eve path); default: the directory of fileName */
  baseDir?: string;
}

let secretFieldList: SecretField[] | undefined;
/** The config's secret-bearing fields, from the marks in its schema. */
export function configSecretFields(): readonly SecretField[] {
  secretFieldList ??= secretFields(configSchema);
  return secretFieldList;
}

/** Key paths of the credentials written in the file itself (not *_file, *_env or digests). */
const inlineCredentials = new WeakMap<Config, readonly string[]>();
export function inlineSecretPaths(c: Config): readonly string[] {
  return inlineCredentials.get(c) ?? [];
}

/** Loads a config file. A file that holds a credential must be readable by its owner only:
 * anyone who can read it could call the API with the key or post to the webhook. */
export async function loadConfigFile(file: string): Promise<Config> {
  let text: string;
  let mode: number;
  try {
    // mode and content from one descriptor: what was judged is what was read
    const fh = await open(file, 'r');
    try {
      mode = (await fh.stat()).mode;
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ConfigError([{ file, path: '', line: 0, column: 0, message: `cannot read the config file: ${err.code ?? ''} ${err.message}`.trim() }]);
  }
  const config = parseConfigText(text, file);
  const inline = inlineSecretPaths(config);
  if (inline.length && readableByOthers(mode)) {
    throw new ConfigError([{ file, path: '', line: 0, column: 0, message: `holds secrets (${inline.join(', ')}) but ${permissionAdvice(file, mode)}; or move them out of the file with key_file / key_env / key_sha256 (API keys) and *_headers_file / *_headers_env (headers)` }]);
  }
  return config;
}

function issueFromZod(iss: z.core.$ZodIssue, file: string, src: YamlSource): ConfigIssue[] {
  if (iss.code === 'unrecognized_keys' && iss.message.startsWith(UNKNOWN_KEYS_TAG)) {
    const perKey = JSON.parse(iss.message.slice(UNKNOWN_KEYS_TAG.length)) as Record<string, string>;
    return Object.entries(perKey).map(([key, message]) => {
      const p = [...iss.path, key];
      return { file, path: formatKeyPath(p), ...src.positionOf(p), message };
    });
  }
  return [{ file, path: formatKeyPath(iss.path), ...src.positionOf(iss.path), message: iss.message }];
}

/** Reading order: a person fixes the file top to bottom. Stable for equal positions. */
function sortByPosition(issues: ConfigIssue[]): ConfigIssue[] {
  return issues
    .map((i, n) => ({ i, n }))
    .sort((a, b) => a.i.line - b.i.line || a.i.column - b.i.column || a.n - b.n)
    .map(({ i }) => i);
}

/** Parses and validates config text. `fileName` names the file in messages and anchors
 * relative paths. Throws ConfigError with every problem found. */
export function parseConfigText(text: string, fileName: string, opts: ParseOptions = {}): Config {
  const baseDir = path.resolve(opts.baseDir ?? path.dirname(fileName));
  const issue = (message: string, line = 0, column = 0, keyPath = ''): ConfigIssue => ({ file: fileName, path: keyPath, line, column, message });

  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) {
    throw new ConfigError([issue(`the file is larger than ${MAX_CONFIG_BYTES} bytes; put big address lists in alias files`)]);
  }

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const at = e.linePos?.[0];
        // prettyErrors appends a code excerpt after the first line; the position says where.
        const msg = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        const lineText = at ? (text.split('\n')[at.line - 1] ?? '') : '';
        // An unquoted IPv6 address starting with "::" reads as YAML mapping syntax.
        const hint = /(^|[\s,[{])::/.test(lineText.replace(/"[^"]*"|'[^']*'/g, '')) ? ' (quote IPv6 addresses: "::1")' : '';
        return issue(`YAML syntax error: ${msg}${hint}`, at?.line ?? 0, at?.col ?? 0);
      }),
    );
  }
  const src = new YamlSource(doc, lineCounter);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    throw new ConfigError([issue(`YAML error: ${(e as Error).message}`, 1, 1)]);
  }
  if (data === null || data === undefined) {
    throw new ConfigError([issue('the file is empty: at least agent.interfaces is required', 1, 1)]);
  }
  // Secrets are known before anything can fail: no message about this file may carry one.
  const secretsHere = secretsInData(data, configSecretFields());
  for (const s of secretsHere) knownSecrets.add(s.value);

  const parsed = configSchema.safeParse(data, { error: configErrorMap, reportInput: true });
  if (!parsed.success) {
    throw new ConfigError(sortByPosition(parsed.error.issues.flatMap((i) => issueFromZod(i, fileName, src))));
  }
  const cfg = parsed.data;
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const warn = (w: ConfigIssue): void => {
    if (warnings.length < MAX_WARNINGS) warnings.push(w);
  };
  const at = (p: PropertyKey[]): { path: string; line: number; column: number } => ({ path: formatKeyPath(p), ...src.positionOf(p) });

  // Alias files.
  const firewallAliases = new Map<string, readonly Cidr[]>();
  for (const [name, alias] of Object.entries(cfg.firewall.aliases)) {
    let cidrs: Cidr[] = [...alias.values];
    alias.values.forEach((c, i) => {
      if (c.hadHostBits) warn({ file: fileName, ...at(['firewall', 'aliases', name, 'values', i]), message: `host bits set: using ${c}` });
    });
    if (alias.file !== undefined) {
      const keyPath = ['firewall', 'aliases', name, 'file'];
      let listFile: { absPath: string; text: string };
      try {
        listFile = readListFile(alias.file, baseDir);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        issues.push({ file: fileName, ...at(keyPath), message: `cannot read alias file ${path.resolve(baseDir, alias.file)}: ${err.code ?? err.message}` });
        continue;
      }
      const list = parseCidrList(listFile.text);
      for (const li of list.issues) issues.push({ file: listFile.absPath, path: formatKeyPath(keyPath), line: li.line, column: li.column, message: li.message });
      if (list.moreIssues) {
        issues.push({ file: listFile.absPath, path: formatKeyPath(keyPath), line: 0, column: 0, message: `... and ${list.moreIssues} more bad lines` });
      }
      for (const { line, cidr } of list.hostBitLines.slice(0, 5)) {
        warn({ file: listFile.absPath, path: formatKeyPath(keyPath), line, column: 1, message: `host bits set: using ${cidr}` });
      }
      if (list.hostBitLines.length > 5) {
        warn({ file: listFile.absPath, path: formatKeyPath(keyPath), line: 0, column: 0, message: `${list.hostBitLines.length} lines have host bits set` });
      }
      cidrs = cidrs.length ? cidrs.concat(list.cidrs) : list.cidrs;
    }
    firewallAliases.set(name, cidrs);
  }
  cfg.firewall.rules.forEach((r, i) => {
    for (const k of ['src_ip', 'dst_ip'] as const) {
      r[k]?.forEach((c, j) => {
        if (!c.hadHostBits) return;
        const p: PropertyKey[] = ['firewall', 'rules', i, k];
        if (isSeq(doc.getIn(p, true))) p.push(j);
        warn({ file: fileName, ...at(p), message: `host bits set: using ${c}` });
      });
    }
  });
  if (issues.length) throw new ConfigError(issues);

  // The compiler is the last check: family mismatches through aliases, empty aliases, limits.
  try {
    const compiled = compileFirewall(cfg.firewall, firewallAliases);
    for (const w of compiled.warnings) warn({ file: fileName, ...at(['firewall', ...w.path]), message: w.message });
  } catch (e) {
    if (!(e instanceof FirewallCompileError)) throw e;
    throw new ConfigError(sortByPosition(e.issues.map((i) => ({ file: fileName, ...at(['firewall', ...i.path]), message: i.message }))));
  }

  const eve = cfg.alerting.eve;
  eve.path = path.resolve(baseDir, eve.path);
  cfg.storage.path = path.resolve(baseDir, cfg.storage.path);

  const config: Config = Object.assign(cfg, {
    source: { file: fileName, dir: baseDir },
    resolved: { firewallAliases },
    warnings,
  });
  inlineCredentials.set(config, secretsHere.filter((s) => s.kind !== 'digest').map((s) => s.path));
  return config;
}
