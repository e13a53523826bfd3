// The config file made of sections: YAML -> every section's schema -> every section's resolve
// (files it names, checks across its keys) -> checks across sections. A file that loads is a file
// the agent can enforce; every problem is reported at once with file:line:column and the key
// path. Nothing here knows a section by name: the catalog (src/catalog.ts) lists them.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { isSeq, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError, formatKeyPath, type ConfigIssue } from './errors.js';
import { configErrorMap } from './messages.js';
import { permissionAdvice, readableByOthers } from './secret-sources.js';
import { knownSecrets, secretFields, secretsInData, type SecretField } from './secrets.js';
import type { ConfigSection, CrossCheck, SectionContext, SourcePosition } from './section.js';
import { YamlSource } from './yaml-source.js';
import { strictObject, UNKNOWN_KEYS_TAG } from './zod-helpers.js';

const MAX_CONFIG_BYTES = 10 * 1024 * 1024;
const MAX_WARNINGS = 50;

/** Any section: a list of them keeps each element's own types through the mapped types below. */
export type AnySection = ConfigSection<string, z.ZodType, unknown>;

/** The validated file, section by section, defaults filled in. */
export type SectionsData<T extends readonly AnySection[]> = {
  -readonly [S in T[number] as S['key']]: z.output<S['schema']>;
};

/** What each section's resolve() returned (undefined for sections without one). */
export type SectionsResolved<T extends readonly AnySection[]> = {
  readonly [S in T[number] as S['key']]: S extends ConfigSection<string, z.ZodType, infer R> ? R : never;
};

/** A validated config with defaults filled in and every section resolved. */
export type LoadedConfig<T extends readonly AnySection[]> = SectionsData<T> & {
  readonly source: {
    /** the file as named by the caller */
    readonly file: string;
    /** its directory (absolute): relative paths in the file are relative to it */
    readonly dir: string;
    /** SHA-256 (hex) of the text this config was parsed from: a file event whose content has
     * this digest changes nothing (src/control/control-plane.ts) */
    readonly sha256: string;
  };
  readonly resolved: SectionsResolved<T>;
  /** things that load but are probably not what was meant (host bits set, dead entries) */
  readonly warnings: readonly ConfigIssue[];
};

export interface ParseOptions {
  /** base for relative paths (alias files, eve path); default: the directory of fileName */
  baseDir?: string;
}

export interface ComposeOptions<T extends readonly AnySection[]> {
  /** top-level keys of the public reference this version does not implement, with a hint each */
  unsupported: Readonly<Record<string, string>>;
  crossChecks?: readonly CrossCheck<SectionsData<T>>[];
}

/** A config format: the sections it is made of and everything that reads or describes it. */
export interface ConfigFormat<T extends readonly AnySection[]> {
  readonly sections: T;
  readonly schema: z.ZodType<SectionsData<T>>;
  /** the marked secret fields of every section (secrets.ts) */
  secretFields(): readonly SecretField[];
  /** key paths of the credentials written in the file itself (not *_file, *_env or digests) */
  inlineSecretPaths(c: LoadedConfig<T>): readonly string[];
  /** Parses and validates config text. `fileName` names the file in messages and anchors
   * relative paths. Throws ConfigError with every problem found. */
  parseConfigText(text: string, fileName: string, opts?: ParseOptions): LoadedConfig<T>;
  /** Loads a config file. A file that holds a credential must be readable by its owner only:
   * anyone who can read it could call the API with the key or post to the webhook. */
  loadConfigFile(file: string): Promise<LoadedConfig<T>>;
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

export function composeConfig<const T extends readonly AnySection[]>(sections: T, opts: ComposeOptions<T>): ConfigFormat<T> {
  const keys = new Set<string>();
  for (const s of sections) {
    if (keys.has(s.key)) throw new Error(`config section ${s.key} is declared twice`);
    keys.add(s.key);
  }
  const unsupported = Object.fromEntries(Object.entries(opts.unsupported).filter(([k]) => !keys.has(k)));
  const shape = Object.fromEntries(sections.map((s) => [s.key, s.required ? s.schema : (s.schema as z.ZodType & { prefault(v: unknown): z.ZodType }).prefault({})]));
  const schema = strictObject(shape, unsupported).superRefine((c, ctx) => {
    for (const check of opts.crossChecks ?? []) {
      const problem = check(c as SectionsData<T>);
      if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
    }
  }) as unknown as z.ZodType<SectionsData<T>>;

  let fields: SecretField[] | undefined;
  const secretFieldList = (): SecretField[] => (fields ??= secretFields(schema));
  const inlineCredentials = new WeakMap<object, readonly string[]>();

  const parseConfigText = (text: string, fileName: string, po: ParseOptions = {}): LoadedConfig<T> => {
    const baseDir = path.resolve(po.baseDir ?? path.dirname(fileName));
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
    const secretsHere = secretsInData(data, secretFieldList());
    for (const s of secretsHere) knownSecrets.add(s.value);

    const parsed = schema.safeParse(data, { error: configErrorMap, reportInput: true });
    if (!parsed.success) {
      throw new ConfigError(sortByPosition(parsed.error.issues.flatMap((i) => issueFromZod(i, fileName, src))));
    }
    const cfg = parsed.data as Record<string, unknown>;

    // Each section resolves what it names; problems of every section are reported together.
    const issues: ConfigIssue[] = [];
    const warnings: ConfigIssue[] = [];
    const where = (p: readonly PropertyKey[], at?: SourcePosition): ConfigIssue => {
      const pos = at ?? { file: fileName, ...src.positionOf(p) };
      return { file: pos.file, path: formatKeyPath(p), line: pos.line, column: pos.column, message: '' };
    };
    const ctx: SectionContext = {
      file: fileName,
      baseDir,
      issue: (p, message, at) => void issues.push({ ...where(p, at), message }),
      warn: (p, message, at) => {
        if (warnings.length < MAX_WARNINGS) warnings.push({ ...where(p, at), message });
      },
      isList: (p) => isSeq(doc.getIn([...p], true)),
    };
    const resolved: Record<string, unknown> = {};
    for (const s of sections) {
      if (!s.resolve) continue;
      const before = issues.length;
      const r = s.resolve(cfg[s.key], ctx);
      // a section whose own problems stop it says so once, after everything it found
      if (issues.length === before) resolved[s.key] = r;
    }
    if (issues.length) {
      // Problems in the config file in reading order; those in files it names (alias lists) as
      // their section reported them, which is already line order, with a count of the rest last.
      const own = sortByPosition(issues.filter((i) => i.file === fileName));
      throw new ConfigError([...own, ...issues.filter((i) => i.file !== fileName)]);
    }

    const config = Object.assign(cfg, {
      source: { file: fileName, dir: baseDir, sha256: createHash('sha256').update(text).digest('hex') },
      resolved,
      warnings,
    }) as unknown as LoadedConfig<T>;
    inlineCredentials.set(config, secretsHere.filter((s) => s.kind !== 'digest').map((s) => s.path));
    return config;
  };

  const inlineSecretPaths = (c: LoadedConfig<T>): readonly string[] => inlineCredentials.get(c) ?? [];

  return {
    sections,
    schema,
    secretFields: secretFieldList,
    inlineSecretPaths,
    parseConfigText,
    async loadConfigFile(file: string): Promise<LoadedConfig<T>> {
      let text: string;
      let mode: number;
      try {
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
    },
  };
}
