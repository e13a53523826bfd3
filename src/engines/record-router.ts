// Ring-buffer records to the engine whose program wrote them (the event header's `program`),
// counted per program: decoded, undecodable (the engine said no), or from a program no running
// engine owns. The agent's one handler of its ring reader; the ring bench (bench/ring.ts) drives
// the very same object, so what it times is the agent's path. Per record: one byte read, one
// array index, the engine's decoder, one counter bump; no allocation of its own.
import { layouts } from '../kernel/layouts.gen.js';

const HDR_PROGRAM_OFFSET = layouts.sentinel_event_hdr.fields.program.offset;
/** the header's `program` is a u8 */
const PROGRAM_IDS = 256;

/** What the router needs of an engine. */
export interface RecordSink {
  readonly program: string;
  readonly programId: number;
  /** one record; false when it cannot be decoded */
  onRecord(buf: Buffer, offset: number, length: number): boolean;
}

export interface RouterCounts {
  /** program name -> records decoded since the last take() */
  received: Map<string, number>;
  /** program name ("unknown" for an id no engine owns) -> records not decoded since then */
  undecodable: Map<string, number>;
}

export class RecordRouter {
  private readonly byId: (RecordSink | undefined)[] = new Array<RecordSink | undefined>(PROGRAM_IDS).fill(undefined);
  private readonly received = new Float64Array(PROGRAM_IDS);
  private readonly failed = new Float64Array(PROGRAM_IDS);
  private unknown = 0;

  constructor(engines: readonly RecordSink[]) {
    for (const e of engines) {
      if (!Number.isInteger(e.programId) || e.programId < 0 || e.programId >= PROGRAM_IDS) throw new RangeError(`${e.program}: program id ${e.programId} is outside 0..${PROGRAM_IDS - 1}`);
      if (this.byId[e.programId]) throw new Error(`${e.program} and ${this.byId[e.programId]!.program} both claim program id ${e.programId}`);
      this.byId[e.programId] = e;
    }
  }

  /** The RingReader handler. Counts every record itself, so it always answers true; an engine
   * that throws leaves the count to the reader (its decodeFailures). */
  readonly handle = (buf: Buffer, offset: number, length: number): boolean => {
    const id = buf[offset + HDR_PROGRAM_OFFSET]!;
    const e = this.byId[id];
    if (e === undefined) this.unknown++;
    else if (e.onRecord(buf, offset, length)) this.received[id]!++;
    else this.failed[id]!++;
    return true;
  };

  /** The counts since the last call, by program name; the router starts again from zero. */
  take(): RouterCounts {
    const out: RouterCounts = { received: new Map(), undecodable: new Map() };
    for (let id = 0; id < PROGRAM_IDS; id++) {
      const e = this.byId[id];
      if (!e) continue;
      if (this.received[id]) out.received.set(e.program, this.received[id]!);
      if (this.failed[id]) out.undecodable.set(e.program, this.failed[id]!);
      this.received[id] = 0;
      this.failed[id] = 0;
    }
    if (this.unknown) out.undecodable.set('unknown', (out.undecodable.get('unknown') ?? 0) + this.unknown);
    this.unknown = 0;
    return out;
  }
}
