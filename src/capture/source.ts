// Bytes of a capture, read forward through a window: a file is read in large chunks (a capture
// may be far larger than memory), a buffer is its own window. Readers ask for `n` bytes at the
// cursor and get them in `buf` at `pos`, valid until the next call.
import { closeSync, openSync, readSync } from 'node:fs';

const CHUNK = 4 << 20;

export class ByteSource {
  /** the window: file bytes [base, base + end) */
  buf: Buffer;
  /** cursor inside buf */
  pos = 0;
  private end: number;
  private base = 0;
  private eof: boolean;

  private constructor(
    readonly name: string,
    private fd: number | null,
    initial: Buffer,
  ) {
    this.buf = initial;
    this.end = fd === null ? initial.length : 0;
    this.eof = fd === null;
  }

  static file(path: string): ByteSource {
    return new ByteSource(path, openSync(path, 'r'), Buffer.allocUnsafe(CHUNK));
  }

  static buffer(buf: Buffer, name = 'buffer'): ByteSource {
    return new ByteSource(name, null, buf);
  }

  /** file offset of the cursor */
  get offset(): number {
    return this.base + this.pos;
  }

  /** Bytes left in the window after the cursor (more may follow in the file). */
  get available(): number {
    return this.end - this.pos;
  }

  /** Makes `n` bytes available at the cursor; false when the input ends before that. */
  ensure(n: number): boolean {
    if (this.end - this.pos >= n) return true;
    if (this.eof || this.fd === null) return false;
    // keep the unread tail, at the start of a buffer big enough for n
    const tail = this.end - this.pos;
    if (n > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(n, this.buf.length * 2));
      this.buf.copy(bigger, 0, this.pos, this.end);
      this.buf = bigger;
    } else if (tail > 0) {
      this.buf.copy(this.buf, 0, this.pos, this.end);
    }
    this.base += this.pos;
    this.pos = 0;
    this.end = tail;
    while (this.end < n && !this.eof) {
      const got = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, null);
      if (got === 0) this.eof = true;
      this.end += got;
    }
    return this.end - this.pos >= n;
  }

  skip(n: number): void {
    this.pos += n;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    this.eof = true;
  }
}
