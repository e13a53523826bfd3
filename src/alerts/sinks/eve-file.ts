// EVE JSON lines to a size-rotated file. A batch is encoded into one buffer kept for the sink
// and written in as few writes as rotation allows; when a write fails part-way, the lines
// already in the file count as delivered and only the others as lost.
import { EveLineWriter } from '../eve-line.js';
import type { EveOptions } from '../eve.js';
import { LineBuffer } from '../line-buffer.js';
import type { SentinelRecord } from '../records.js';
import { DeliveryError, type RejectOne, type SinkTransport } from '../queued-sink.js';
import { AppendError, RotatingFile, type RotatingFileOptions } from '../rotating-file.js';

export class EveFileTransport implements SinkTransport {
  private readonly writer: EveLineWriter;
  /** the batch being written, encoded; it grows to the largest batch and stays */
  private readonly out = new LineBuffer(1 << 20);
  /** the record of each line in `out` */
  private readonly lineRecords: SentinelRecord[] = [];

  private constructor(
    readonly file: RotatingFile,
    eve: EveOptions,
  ) {
    this.writer = new EveLineWriter(eve);
  }

  /** Opens (creating directories) at once, so a bad path is an error at start-up. */
  static async open(file: string, o: RotatingFileOptions, eve: EveOptions): Promise<EveFileTransport> {
    return new EveFileTransport(await RotatingFile.open(file, o), eve);
  }

  async deliver(batch: readonly SentinelRecord[], _signal: AbortSignal, reject: RejectOne): Promise<void> {
    const out = this.out;
    const recs = this.lineRecords;
    out.reset();
    recs.length = 0;
    for (const r of batch) {
      try {
        out.push(this.writer.line(r));
        recs.push(r);
      } catch (err) {
        reject(r, err);
      }
    }
    try {
      await this.file.append(out);
    } catch (err) {
      const e = err as Partial<AppendError> & Error;
      const written = err instanceof AppendError ? recs.slice(0, err.lines) : [];
      throw new DeliveryError(e.code === 'ENOSPC' ? 'disk_full' : 'write_error', err instanceof AppendError ? e.message : `${this.file.path}: ${e.message}`, true, written);
    } finally {
      recs.length = 0;
    }
  }

  reopen(): Promise<void> {
    return this.file.reopen();
  }

  close(): Promise<void> {
    return this.file.close();
  }
}
