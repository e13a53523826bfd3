// The agent's logger: pino everywhere, JSON by default (what log shippers want), or a compact
// one-line text form for people at a terminal. The text form is a pino destination that
// rewrites each JSON line, so every call site stays the same whatever the format.
import { pino, type DestinationStream, type Logger } from 'pino';
import { knownSecrets, type SecretRedactor } from './config/secrets.js';

export type { Logger } from 'pino';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Anything with a string write(): process.stderr, a file stream, a test collector. */
export interface LineSink {
  write(chunk: string): unknown;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** where lines go; default: stderr, so stdout stays free for command output (doctor, --output json) */
  destination?: LineSink;
  /** bound on every line, e.g. { component: 'agent' } */
  bindings?: Record<string, unknown>;
  /** secrets cut out of every line before it is written; default: every secret the config
   * loader has read in this process */
  redactor?: SecretRedactor;
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

// Keys pino writes itself; everything else on a line is a field the caller attached.
const RESERVED = new Set(['level', 'time', 'msg', 'pid', 'hostname']);
const ERROR_KEYS = new Set(['err', 'error']);

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v);
}

/**
 * Turns one pino JSON line into `TIME LEVEL msg key=value ...`. A line that is not JSON (should
 * not happen) is passed through rather than lost. Errors get their message inline and their
 * stack and any multi-line detail (verifier logs) indented below, where a person looks for them.
 */
export function formatLogLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const time = typeof rec.time === 'number' ? new Date(rec.time).toISOString() : String(rec.time ?? '');
  const level = LEVEL_NAMES[Number(rec.level)] ?? String(rec.level);
  let out = `${time} ${level.padEnd(5)} ${typeof rec.msg === 'string' ? rec.msg : ''}`;
  const tail: string[] = [];
  const formatError = (key: string, e: Record<string, unknown>): void => {
    out += ` ${key}=${formatValue(String(e.message ?? ''))}`;
    for (const [k, v] of Object.entries(e)) {
      if (k === 'message' || k === 'stack' || k === 'type' || v === undefined || v === '') continue;
      if (typeof v === 'string' && v.includes('\n')) tail.push(`  ${key}.${k}:\n${indent(v)}`);
      else out += ` ${key}.${k}=${formatValue(v)}`;
    }
    if (typeof e.stack === 'string') tail.push(indent(e.stack));
  };
  for (const [k, v] of Object.entries(rec)) {
    if (RESERVED.has(k) || v === undefined) continue;
    if (ERROR_KEYS.has(k) && v !== null && typeof v === 'object') {
      formatError(k, v as Record<string, unknown>);
      continue;
    }
    if (typeof v === 'string' && v.includes('\n')) {
      tail.push(`  ${k}:\n${indent(v)}`);
      continue;
    }
    out += ` ${k}=${formatValue(v)}`;
  }
  return `${out}\n${tail.map((t) => `${t}\n`).join('')}`;
}

function indent(s: string): string {
  return s
    .replace(/\n+$/, '')
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

/** A pino destination that writes formatLogLine() of each record to `sink`. */
function textDestination(sink: LineSink): DestinationStream {
  return {
    write(chunk: string): void {
      sink.write(formatLogLine(chunk));
    },
  };
}

export function parseLogLevel(value: string): LogLevel {
  if ((LOG_LEVELS as readonly string[]).includes(value)) return value as LogLevel;
  throw new Error(`invalid log level "${value}": expected one of ${LOG_LEVELS.join(', ')}`);
}

export function parseLogFormat(value: string): LogFormat {
  if ((LOG_FORMATS as readonly string[]).includes(value)) return value as LogFormat;
  throw new Error(`invalid log format "${value}": expected one of ${LOG_FORMATS.join(', ')}`);
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = parseLogLevel(opts.level ?? 'info');
  const format = parseLogFormat(opts.format ?? 'json');
  const options = {
    level,
    base: opts.bindings ?? {},
    // errors are serialized under `err` whatever key the caller used for them
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
  };
  const redactor = opts.redactor ?? knownSecrets;
  let out: DestinationStream;
  if (format === 'text') {
    out = textDestination(opts.destination ?? process.stderr);
  } else if (opts.destination) {
    const sink = opts.destination;
    out = { write: (chunk: string) => void sink.write(chunk) };
  } else {
    // synchronous: the last lines before a crash or exit are the ones that matter
    out = pino.destination({ dest: 2, sync: true });
  }
  // Redaction by value, on the finished line: a secret is cut out whichever field, message or
  // error text carries it (pino's own `redact` needs the key paths in advance).
  const dest: DestinationStream = { write: (chunk: string) => void out.write(redactor.redact(chunk)) };
  return pino(options, dest);
}
