// Ring-buffer consumer: the bridge hands over one batch at a time (u32 LE length + record,
// repeated, in a buffer it reuses for every batch); this splits it without allocating per record
// and counts what it cannot decode.
import { loadNative } from './native.js';
import { nativeCall } from './errors.js';
import { layouts } from './layouts.gen.js';
import { recordView } from './record-view.js';

/** Smallest valid record: struct sentinel_event_hdr. */
const EVENT_HDR_SIZE = layouts.sentinel_event_hdr.size;
/** sentinel_event_hdr.len (u16): the whole record's length, header included */
const HDR_LEN_OFFSET = layouts.sentinel_event_hdr.fields.len.offset;

/** Called once per record with a view into the shared batch buffer: valid only during the
 * call (copy what must outlive it). Return false to count the record as undecodable. */
export type RecordHandler = (buf: Buffer, offset: number, length: number) => boolean | void;

export interface RingStats {
  batches: number;
  records: number;
  bytes: number;
  /** records too short for the event header, whose header length exceeds the record, that the
   * handler rejected (returned false) or threw on, batches that were cut short, and records the
   * bridge read from the ring but could not keep (out of memory) */
  decodeFailures: number;
}

export interface RingOptions {
  /** minimum record length; default the 16-byte event header. 0 accepts anything. */
  minLength?: number;
  /** check the header's own length field against the record length (default true) */
  checkHeaderLength?: boolean;
  /** told about a handler exception (the reader keeps going either way) */
  onHandlerError?: (err: unknown) => void;
}

export class RingReader {
  readonly stats: RingStats = { batches: 0, records: 0, bytes: 0, decodeFailures: 0 };
  private handle: number;
  private readonly minLength: number;
  private readonly checkHdr: boolean;

  constructor(mapFds: number[], private readonly onRecord: RecordHandler, private readonly opts: RingOptions = {}) {
    this.minLength = opts.minLength ?? EVENT_HDR_SIZE;
    this.checkHdr = opts.checkHeaderLength ?? this.minLength >= EVENT_HDR_SIZE;
    this.handle = nativeCall(() => loadNative().ringOpen(mapFds, (batch, count, length, lost) => this.split(batch, count, length, lost)), 'opening ring reader');
  }

  get open(): boolean {
    return this.handle !== 0;
  }

  /** Drains what is in the rings now (synchronously, batch by batch); returns the record count.
   * Not from inside this reader's own handler (the batch being read would be overwritten). */
  consume(): number {
    if (!this.handle) throw new Error('ring reader is closed');
    const h = this.handle;
    return nativeCall(() => loadNative().ringConsume(h), 'consuming ring');
  }

  /** Stops polling; lets the process exit. Safe to call twice. */
  close(): void {
    if (!this.handle) return;
    const h = this.handle;
    this.handle = 0;
    loadNative().ringClose(h);
  }

  private split(batch: Buffer | null, count: number, length: number, lost: number): void {
    const s = this.stats;
    s.batches++;
    if (lost) {
      s.records += lost;
      s.decodeFailures += lost;
    }
    if (!batch) return;
    const end = Math.min(length, batch.length);
    const v = recordView(batch);
    let off = 0;
    for (let i = 0; i < count; i++) {
      if (off + 4 > end) {
        s.decodeFailures += count - i;
        return;
      }
      const len = v.getUint32(off, true);
      off += 4;
      if (off + len > end) {
        s.decodeFailures += count - i;
        return;
      }
      s.records++;
      s.bytes += len;
      if (len < this.minLength || (this.checkHdr && v.getUint16(off + HDR_LEN_OFFSET, true) > len)) {
        s.decodeFailures++;
      } else {
        try {
          if (this.onRecord(batch, off, len) === false) s.decodeFailures++;
        } catch (err) {
          s.decodeFailures++;
          this.opts.onHandlerError?.(err);
        }
      }
      off += len;
    }
  }
}
