// Lines encoded one after the other into one byte buffer kept for its owner, where each ends:
// what the EVE file sink fills with a batch before writing it in a few big writes. One native
// UTF-8 write per line (encoding piece by piece from JS costs several times that) and no buffer
// allocated per batch once it has grown to the largest batch.

export class LineBuffer {
  buf: Buffer;
  /** bytes in use */
  len = 0;
  /** where each line ends (exclusive), in order */
  readonly ends: number[] = [];

  constructor(size = 1 << 16) {
    this.buf = Buffer.allocUnsafe(size);
  }

  get count(): number {
    return this.ends.length;
  }

  /** Forgets the lines (the buffer is kept). */
  reset(): void {
    this.len = 0;
    this.ends.length = 0;
  }

  /** Appends one line; a "\n" is added unless it ends in one. */
  push(line: string): void {
    // a UTF-16 unit takes at most 3 bytes in UTF-8 (a surrogate pair, two units, takes 4)
    const most = line.length * 3 + 1;
    if (this.len + most > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + most));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    this.len += this.buf.write(line, this.len);
    if (line.charCodeAt(line.length - 1) !== 0x0a) this.buf[this.len++] = 0x0a;
    this.ends.push(this.len);
  }
}
