/**
 * A growable big-endian writer over one Buffer.
 *
 * It only writes; checking values is the codec's job. Capacity doubles when
 * it runs out, so encoding a message costs O(log n) allocations, not one per
 * primitive. Every byte in [0, length) is written explicitly (padding too),
 * so the uninitialised memory of `Buffer.allocUnsafe` never leaks out.
 */
export class XdrWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialSize = 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialSize));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  /** Forget what was written; keep the buffer for the next message. */
  reset(): void {
    this.pos = 0;
  }

  /** Drop everything written after the first `length` bytes. */
  truncate(length: number): void {
    if (length < 0 || length > this.pos) throw new RangeError(`XdrWriter: cannot truncate ${this.pos} bytes to ${length}`);
    this.pos = length;
  }

  /**
   * The bytes written so far, as a view of the internal buffer (no copy).
   * The view is only valid until the writer is reset or written to again.
   */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** Make room for `n` more bytes. */
  reserve(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /**
   * For encoders that write in place (the compiled codecs): room for `n`
   * more bytes, and the buffer to write them into from `length` on. Valid
   * until the next call on the writer; `advance(n)` then counts them.
   */
  room(n: number): Buffer {
    this.reserve(n);
    return this.buf;
  }

  /** Count `n` bytes written into `room(n)`'s buffer. */
  advance(n: number): void {
    if (n < 0 || this.pos + n > this.buf.length) throw new RangeError(`XdrWriter: cannot advance ${n} bytes past ${this.pos} in ${this.buf.length}`);
    this.pos += n;
  }

  int32(v: number): void {
    this.reserve(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
  }

  uint32(v: number): void {
    this.reserve(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  int64(v: bigint): void {
    this.reserve(8);
    this.buf.writeBigInt64BE(v, this.pos);
    this.pos += 8;
  }

  uint64(v: bigint): void {
    this.reserve(8);
    this.buf.writeBigUInt64BE(v, this.pos);
    this.pos += 8;
  }

  float32(v: number): void {
    this.reserve(4);
    this.buf.writeFloatBE(v, this.pos);
    this.pos += 4;
  }

  float64(v: number): void {
    this.reserve(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  /** Raw bytes followed by zero padding up to a multiple of 4. */
  bytes(src: Uint8Array): void {
    const n = src.length;
    const pad = (4 - (n & 3)) & 3;
    this.reserve(n + pad);
    this.buf.set(src, this.pos);
    this.pos += n;
    this.zeros(pad);
  }

  /** Raw bytes as they are, with no padding (e.g. an already-encoded body). */
  raw(src: Uint8Array): void {
    this.reserve(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** Bytes that the writer can hold before it has to grow. */
  get capacity(): number {
    return this.buf.length;
  }

  /**
   * A length word, the UTF-8 bytes of `s` and zero padding. `byteLength`
   * must be `Buffer.byteLength(s, 'utf8')`.
   */
  string(s: string, byteLength: number): void {
    const pad = (4 - (byteLength & 3)) & 3;
    this.reserve(4 + byteLength + pad);
    this.buf.writeUInt32BE(byteLength, this.pos);
    this.pos += 4;
    this.pos += this.buf.write(s, this.pos, byteLength, 'utf8');
    this.zeros(pad);
  }

  private zeros(n: number): void {
    // n is 0..3: a loop beats fill() for such short runs.
    for (let i = 0; i < n; i++) this.buf[this.pos++] = 0;
  }
}
