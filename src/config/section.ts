// A config section: one top-level key of the file, declared next to what it configures (an
// engine declares its own in src/engines/<domain>/section.ts). The loader (compose.ts) knows no
// section by name: it validates each with its schema, then lets the section read the files it
// names, check across its keys and warn, and keeps what the section resolved for its engine.
import type { z } from 'zod';

/** Where in the config (or in a file it names) something is. */
export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

/** What a section may do once its schema passed. Key paths are from the file's root. */
export interface SectionContext {
  /** the config file as named by the caller */
  readonly file: string;
  /** its directory (absolute): relative paths in the file are relative to it */
  readonly baseDir: string;
  /** a problem: the load fails with every problem of every section */
  issue(keyPath: readonly PropertyKey[], message: string, at?: SourcePosition): void;
  /** loads, but is probably not what was meant */
  warn(keyPath: readonly PropertyKey[], message: string, at?: SourcePosition): void;
  /** whether the value at keyPath was written as a YAML list (for pointing at one item) */
  isList(keyPath: readonly PropertyKey[]): boolean;
}

/** What a change of the section does to the running agent on reload. `live`: applied in place,
 * atomically with every other section; `restart`: needs an agent restart to take effect (the
 * reload says so and keeps the running value). */
export type ReloadSemantics = 'live' | 'restart';

export interface ConfigSection<K extends string = string, S extends z.ZodType = z.ZodType, R = unknown> {
  readonly key: K;
  /** the section's schema, defaults filled in when the key is absent (the loader prefaults {}) */
  readonly schema: S;
  readonly reload: ReloadSemantics;
  /** the file must have this key (no defaults stand in for it); default false */
  readonly required?: boolean;
  /** one line for `config schema` and the docs */
  readonly description: string;
  /** after the schema passed: read files the section names, make relative paths absolute (in
   * place), check across keys; what it returns is kept in `config.resolved[key]` for the engine.
   * Report problems through ctx.issue (the load fails once every section has run). */
  resolve?(value: z.output<S>, ctx: SectionContext): R;
}

/** Declares a section with its key as a literal type, so the composed config is typed. */
export function defineSection<const K extends string, S extends z.ZodType, R = undefined>(s: ConfigSection<K, S, R>): ConfigSection<K, S, R> {
  return s;
}

/** A check across sections (the API may listen on TCP only with auth on, ...). */
export type CrossCheck<D> = (data: D) => { path: PropertyKey[]; message: string } | null;
