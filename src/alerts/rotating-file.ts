// An append-only file that rotates by size: when the next line would take it past maxBytes,
// eve.json becomes eve.json.1 (eve.json.1 -> .2 ... up to `keep`; the oldest is deleted) and a
// fresh eve.json is opened. Lines are never split across files. reopen() re-opens by path for
// external rotation (logrotate + SIGHUP), picking up the new file's size.
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export interface RotatingFileOptions {
  /** 0 = never rotate */
  maxBytes: number;
  /** rotated files kept (eve.json.1 .. eve.json.N); 0 = the old file is deleted on rotation */
  keep: number;
  mode?: number;
}

export class RotatingFile {
  private fh: FileHandle | null = null;
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
    if (!this.fh) await this.openFile();
    let chunk = '';
    let chunkBytes = 0;
    for (const line of lines) {
      const n = Buffer.byteLength(line);
      if (this.o.maxBytes > 0 && this.size + chunkBytes + n > this.o.maxBytes && this.size + chunkBytes > 0) {
        if (chunk) await this.write(chunk, chunkBytes);
        chunk = '';
        chunkBytes = 0;
        await this.rotate();
      }
      chunk += line;
      chunkBytes += n;
    }
    if (chunk) await this.write(chunk, chunkBytes);
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
  private async write(chunk: string, bytes: number): Promise<void> {
    const buf = Buffer.from(chunk, 'utf8');
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await this.fh!.write(buf, off, buf.length - off, null);
      if (bytesWritten <= 0) throw new Error(`${this.path}: the write made no progress`);
      off += bytesWritten;
    }
    this.size += bytes;
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
