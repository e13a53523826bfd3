// EVE JSON lines to a size-rotated file.
import type { EveRenderer } from '../eve.js';
import type { SentinelRecord } from '../records.js';
import { DeliveryError, renderEach, type RejectOne, type SinkTransport } from '../queued-sink.js';
import { RotatingFile, type RotatingFileOptions } from '../rotating-file.js';

export class EveFileTransport implements SinkTransport {
  private constructor(
    readonly file: RotatingFile,
    private readonly eve: EveRenderer,
  ) {}

  /** Opens (creating directories) at once, so a bad path is an error at start-up. */
  static async open(file: string, o: RotatingFileOptions, eve: EveRenderer): Promise<EveFileTransport> {
    return new EveFileTransport(await RotatingFile.open(file, o), eve);
  }

  async deliver(batch: readonly SentinelRecord[], _signal: AbortSignal, reject: RejectOne): Promise<void> {
    const lines = renderEach(batch, (a) => this.eve.line(a), reject);
    try {
      await this.file.appendLines(lines);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new DeliveryError(e.code === 'ENOSPC' ? 'disk_full' : 'write_error', `${this.file.path}: ${e.message}`);
    }
  }

  reopen(): Promise<void> {
    return this.file.reopen();
  }

  close(): Promise<void> {
    return this.file.close();
  }
}
