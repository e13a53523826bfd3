// Decoders read ring-buffer records through a DataView: its getters compile to plain loads,
// where Buffer's read* methods validate their argument on every call (a measurable share of the
// per-record cost). The ring reader hands over the same buffer for every batch, so the view is
// made once per buffer, not once per record.
let lastBuf: Uint8Array | null = null;
let lastView: DataView = new DataView(new ArrayBuffer(0));

/** A DataView over the whole of `buf` (byte 0 of the view is byte 0 of the buffer). */
export function recordView(buf: Uint8Array): DataView {
  if (buf !== lastBuf) {
    lastView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    lastBuf = buf;
  }
  return lastView;
}
