// An append-only file that rotates by size: when the next line would take it past maxBytes,
// eve.json becomes eve.json.1 (eve.json.1 -> .2 ... up to `keep`; the oldest is deleted) and a
// fresh eve.json is opened. Lines are never split across files. reopen() re-opens by path for
// external rotation (logrotate + SIGHUP), picking up the new file's size.
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { LineBuffer } from './line-buffer.js';

const CHUNK_BYTES = 1 << 16;

/** An append that failed: `lines` of its lines (the first ones) are in the files, the others
 * are not. `code` is the system error's (ENOSPC, EFBIG, ...). */
export class AppendError extends Error {
  constructor(
    message: string,
    readonly lines: number,
    readonly code: string | undefined,
    cause: unknown,
  ) {
    super(message, { cause });
    this.name = 'AppendError';
  }
}

export interface RotatingFileOptions {
  /** 0 = never rotate */
  maxBytes: number;
  /** rotated files kept (eve.json.1 .. eve.json.N); 0 = the old file is deleted on rotation */
  keep: number;
  mode?: number;
}

export class RotatingFile {
  private fh: FileHandle | null = null;
  /** where appendLines() encodes its lines */
  private scratch: LineBuffer | null = null;
  private size = 0;
  private rotations = 0;

  private constructor(
    readonly path: string,
    private readonly o: RotatingFileOptions,
  ) {}

  static async open(file: string, o: RotatingFileOptions): Promise<RotatingFile> {
    if (!Number.isInteger(o.maxBytes) || o.maxBytes < 0) throw new RangeError(`${file}: max size must be an integer number of bytes >= 0, got ${o.maxBytes}`);
    if (!Number.isInteger(o.keep) || o.keep < 0) throw new RangeError(`${file}: keep must be an integer >= 0, got ${o.keep}`);
    const f = new RotatingFile(path.resolve(file), o);
    try {
      await f.openFile();
    } catch (err) {
      throw new Error(`EVE alert file ${f.path}: cannot open for appending: ${(err as Error).message}`, { cause: err });
    }
    return f;
  }

  get rotated(): number {
    return this.rotations;
  }

  get bytes(): number {
    return this.size;
  }

  /** Appends whole lines (each ending in \n), rotating between lines as needed. */
  async appendLines(lines: readonly string[]): Promise<void> {
    const b = (this.scratch ??= new LineBuffer(CHUNK_BYTES));
    b.reset();
    for (const line of lines) b.push(line);
    await this.append(b);
  }

  /**
   * Appends the lines encoded in `lines` (each ending in \n at one of its `ends`), rotating
   * between lines as needed, in as few writes as rotation allows. On failure it throws an
   * AppendError saying how many of the lines are in the files: a line the failure cut is taken
   * back out of the file (truncated to the end of the line before it) when the file lets it.
   */
  async append(lines: LineBuffer): Promise<void> {
    const { buf, ends } = lines;
    // bytes before `start` are in the files; `reached` is where a failed write stopped
    let start = 0;
    let reached = 0;
    const writeTo = async (end: number): Promise<void> => {
      const before = this.size;
      try {
        await this.write(buf, start, end);
      } finally {
        reached = start + (this.size - before);
      }
      start = end;
    };
    try {
      if (!this.fh) await this.openFile();
      for (let i = 0; i < ends.length; i++) {
        const lineStart = i === 0 ? 0 : ends[i - 1]!;
        const pending = lineStart - start;
        if (this.o.maxBytes > 0 && this.size + pending + (ends[i]! - lineStart) > this.o.maxBytes && this.size + pending > 0) {
          if (pending > 0) await writeTo(lineStart);
          await this.rotate();
        }
      }
      const end = ends.length ? ends[ends.length - 1]! : 0;
      if (end > start) await writeTo(end);
    } catch (err) {
      throw await this.failed(err, ends, reached);
    }
  }

  /** What a failed append() leaves: the lines wholly written before byte `reached` of the
   * batch, and no cut line if the file can be truncated. */
  private async failed(err: unknown, ends: readonly number[], reached: number): Promise<AppendError> {
    let whole = 0;
    while (whole < ends.length && ends[whole]! <= reached) whole++;
    const boundary = whole === 0 ? 0 : ends[whole - 1]!;
    let cut = reached > boundary;
    if (cut && this.fh) {
      try {
        await this.fh.truncate(this.size - (reached - boundary));
        this.size -= reached - boundary;
        cut = false;
      } catch {
        // the cut line stays; the error says so
      }
    }
    const e = err as NodeJS.ErrnoException;
    return new AppendError(`${this.path}: ${e?.message ?? String(err)}${cut ? ' (a cut line was left at the end of the file)' : ''}`, whole, e?.code, err);
  }

  async reopen(): Promise<void> {
    await this.closeFile();
    await this.openFile();
  }

  async close(): Promise<void> {
    await this.closeFile();
  }

  /** One write per chunk (appendFile would cut it into 512 KiB writes, each a trip through the
   * event loop while the ring reader keeps it busy); a short write continues where it stopped. */
  private async write(buf: Buffer, start: number, end: number): Promise<void> {
    let off = start;
    while (off < end) {
      const { bytesWritten } = await this.fh!.write(buf, off, end - off, null);
      if (bytesWritten <= 0) throw new Error('the write made no progress');
      off += bytesWritten;
      this.size += bytesWritten;
    }
  }

  private async rotate(): Promise<void> {
    await this.closeFile();
    const name = (i: number): string => (i === 0 ? this.path : `${this.path}.${i}`);
    if (this.o.keep === 0) {
      await rm(this.path, { force: true });
    } else {
      await rm(name(this.o.keep), { force: true });
      for (let i = this.o.keep - 1; i >= 0; i--) {
        await rename(name(i), name(i + 1)).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw e;
        });
      }
    }
    this.rotations++;
    await this.openFile();
  }

  private async openFile(): Promise<void> {
    await mkdir(path.dirname(this.path), { recursive: true });
    this.fh = await open(this.path, 'a', this.o.mode ?? 0o640);
    this.size = (await this.fh.stat()).size;
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    await fh?.close();
  }
}
