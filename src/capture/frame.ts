// What a capture reader hands out: one captured frame at a time, in one object reused for every
// frame (a replay reads hundreds of thousands a second), and the error that refuses a capture.

/** Direction of a frame as the capture recorded it (pcapng epb_flags, Linux cooked packet
 * type); unknown when it says nothing. */
export const Direction = { Unknown: 0, Inbound: 1, Outbound: 2 } as const;
export type Direction = (typeof Direction)[keyof typeof Direction];

export interface CaptureInterface {
  /** LINKTYPE_* of its frames */
  linktype: number;
  /** pcapng if_name, when the capture names it */
  name?: string;
  snaplen: number;
}

export interface CaptureFrame {
  /** the captured bytes: a view valid until the reader's next call */
  data: Buffer;
  /** length on the wire (data may be shorter: snaplen) */
  origLen: number;
  /** capture time: whole seconds since the Unix epoch and nanoseconds within the second */
  sec: number;
  nsec: number;
  /** index into the reader's interfaces */
  iface: number;
  linktype: number;
  direction: Direction;
  /** file offset of the record (block) holding the frame */
  offset: number;
}

/** A capture that cannot be read (format, link type, corrupt framing): names the file and the
 * offset where it went wrong. */
export class CaptureError extends Error {
  override name = 'CaptureError';
  constructor(
    readonly file: string,
    readonly offset: number,
    detail: string,
  ) {
    super(`${file}: offset ${offset}: ${detail}`);
  }
}

/** Frames a reader could not hand out, by reason (each also said once in `notes`). */
export interface ReaderCounts {
  /** records read that carried a frame */
  frames: number;
  /** reason -> records or blocks skipped */
  skipped: Map<string, number>;
}

export function countSkip(c: ReaderCounts, reason: string, n = 1): void {
  c.skipped.set(reason, (c.skipped.get(reason) ?? 0) + n);
}

export function emptyFrame(): CaptureFrame {
  return { data: Buffer.alloc(0), origLen: 0, sec: 0, nsec: 0, iface: 0, linktype: 0, direction: Direction.Unknown, offset: 0 };
}
