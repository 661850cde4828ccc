import { isUtf8 } from 'node:buffer';
import { XdrError, describe } from './errors';

/**
 * A big-endian reader over a Buffer with a moving offset.
 *
 * Every read checks the bytes left before it touches or allocates anything,
 * and throws an `XdrError` (without a path; the codec adds it) when they are
 * too few. `bytes()` returns views that alias the input.
 */
export class XdrReader {
  readonly buf: Buffer;
  /** Offset of the next byte to read. */
  pos: number;
  /** Offset one past the last byte this reader may read. */
  readonly end: number;

  constructor(input: Uint8Array, start = 0, end = input?.length) {
    if (!(input instanceof Uint8Array)) throw new TypeError(`XdrReader: expected a Uint8Array, got ${describe(input)}`);
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > input.length || start > end) {
      throw new RangeError(`XdrReader: bad range [${start}, ${end}) for ${input.length} bytes`);
    }
    this.buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throw unless `n` more bytes are there. */
  need(n: number): void {
    const left = this.end - this.pos;
    if (n > left) throw new XdrError(`unexpected end of input: need ${n} bytes, ${left} left`, '', this.pos);
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  int64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  uint64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  float32(): number {
    this.need(4);
    const v = this.buf.readFloatBE(this.pos);
    this.pos += 4;
    return v;
  }

  float64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  /**
   * `n` bytes plus their zero padding, as a view of the input (no copy).
   * `what` names the item in errors ("opaque", "string"); `at` is where the
   * item starts (its length word, if it has one), reported as the offset.
   */
  bytes(n: number, what: string, at = this.pos): Buffer {
    const start = this.pos;
    this.checkLength(n, what, at);
    const view = this.buf.subarray(start, start + n);
    this.pos = start + n;
    this.padding(n);
    return view;
  }

  /** `n` bytes of UTF-8 plus padding, decoded to a string. */
  utf8(n: number, what: string, at = this.pos): string {
    const start = this.pos;
    this.checkLength(n, what, at);
    if (!isUtf8(this.buf.subarray(start, start + n))) {
      throw new XdrError(`${what} is not valid UTF-8`, '', at);
    }
    const s = this.buf.toString('utf8', start, start + n);
    this.pos = start + n;
    this.padding(n);
    return s;
  }

  /** Throw unless `n` bytes plus padding fit in what is left. */
  private checkLength(n: number, what: string, at: number): void {
    const pad = (4 - (n & 3)) & 3;
    const left = this.end - this.pos;
    if (n + pad > left) {
      const withPad = pad === 0 ? '' : ` (${n + pad} with padding)`;
      throw new XdrError(`${what} of ${n} bytes${withPad} exceeds the ${left} bytes left`, '', at);
    }
  }

  /** Skip the padding after `n` data bytes, which must be zero. */
  private padding(n: number): void {
    const pad = (4 - (n & 3)) & 3;
    for (let i = 0; i < pad; i++) {
      if (this.buf[this.pos + i] !== 0) throw new XdrError('non-zero padding', '', this.pos + i);
    }
    this.pos += pad;
  }
}
