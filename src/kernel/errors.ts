// Every failure of the native bridge becomes a BpfError: the errno and symbolic code for
// programs, libbpf's own words and the verifier log for people.
import type { NativeErrorFields } from './native.js';

export class BpfError extends Error implements NativeErrorFields {
  override readonly name = 'BpfError';
  readonly errno: number;
  readonly code: string;
  readonly libbpfMessage: string;
  readonly verifierLog: string;
  readonly syscall: string;

  constructor(message: string, fields: NativeErrorFields, options?: { cause?: unknown }) {
    super(message, options);
    this.errno = fields.errno;
    this.code = fields.code;
    this.libbpfMessage = fields.libbpfMessage;
    this.verifierLog = fields.verifierLog;
    this.syscall = fields.syscall;
  }

  /** True when the native error is "no such entry" (missing pin, map key, map name). */
  get isNotFound(): boolean {
    return this.code === 'ENOENT';
  }
}

function isNativeError(e: unknown): e is Error & NativeErrorFields {
  if (!(e instanceof Error)) return false;
  const r = e as unknown as Record<string, unknown>;
  return typeof r.errno === 'number' && typeof r.syscall === 'string' && typeof r.code === 'string';
}

/** Converts a native error into a BpfError; anything else (TypeErrors for bad arguments,
 * bugs) is returned unchanged so it keeps its own type and stack. */
export function toBpfError(e: unknown, context?: string): unknown {
  if (e instanceof BpfError || !isNativeError(e)) return e;
  const msg = context ? `${context}: ${e.message}` : e.message;
  return new BpfError(msg, {
    errno: e.errno,
    code: e.code,
    libbpfMessage: typeof e.libbpfMessage === 'string' ? e.libbpfMessage : '',
    verifierLog: typeof e.verifierLog === 'string' ? e.verifierLog : '',
    syscall: e.syscall,
  }, { cause: e });
}

/** Runs a native call, rethrowing its failure as a BpfError. */
export function nativeCall<T>(fn: () => T, context?: string): T {
  try {
    return fn();
  } catch (e) {
    throw toBpfError(e, context);
  }
}
