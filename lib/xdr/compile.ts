/**
 * Compiled codecs: per schema, an encoder and a decoder generated as JS on
 * first use (compile-encode.ts, compile-decode.ts) and kept in a WeakMap
 * keyed by the schema (schemas are frozen, and go when their last user
 * does).
 *
 * Generated code only tells good from bad. When one of its checks fails,
 * the reference codec (interpret.ts) runs on the same input and throws the
 * error, so every XdrError (reason, path, offset), TypeError and RangeError
 * is the reference's, and `write` leaves the writer as the reference does.
 * Should the reference then accept what the generated code refused, that
 * is a bug here, and an Error says so instead of answering differently.
 *
 * A schema the generators do not take (one too large, say) keeps working
 * through the reference codec: `compiled` is false on its codec objects.
 */
import { FAIL } from './compile-runtime';
// Imported: the global `Buffer` is a getter, read on every `instanceof Buffer`.
import { Buffer } from 'node:buffer';
import { generateDecoder } from './compile-decode';
import type { DecoderCode } from './compile-decode';
import { generateEncoder } from './compile-encode';
import type { EncoderCode } from './compile-encode';
import { decodeInterpreted, encodeInterpreted, readInterpreted, writeInterpreted } from './interpret';
import { maxDepthOf } from './options';
import type { CodecOptions } from './options';
import { XdrReader } from './reader';
import { CODEC_SLOT, isSchema } from './schema';
import type { CodecSlot } from './schema';
import type { Schema, Static } from './types';
import { XdrWriter } from './writer';

/** A schema's encoder. Errors are the reference codec's, as from `xdr.encode`. */
export interface CompiledEncoder<S extends Schema = Schema> {
  /** Whether generated code runs; false: the schema is interpreted. */
  readonly compiled: boolean;
  /** The encoding of `value` in a new Buffer of exactly its size. */
  encode(value: Static<S>, options?: CodecOptions): Buffer;
  /** Appends the encoding of `value` to `writer`; on error the writer is left as it was. */
  writeTo(value: Static<S>, writer: XdrWriter, options?: CodecOptions): void;
  /**
   * Checks `value` and returns the exact size of its encoding, to write it
   * in place with `write` (e.g. into a reply buffer).
   */
  size(value: Static<S>, options?: CodecOptions): number;
  /**
   * Writes `value`, which `size` has just accepted, at `buf[pos]`, and
   * returns the position after it: `pos + size(value)`, unless the value
   * changed in between (a getter, another turn of the event loop) — check
   * it before using the bytes. `buf` must have that room. It checks
   * nothing; `options` must be those given to `size`.
   */
  write(value: Static<S>, buf: Buffer, pos: number, options?: CodecOptions): number;
}

/** A schema's decoder. Errors are the reference codec's, as from `xdr.decode`. */
export interface CompiledDecoder<S extends Schema = Schema> {
  readonly compiled: boolean;
  /** As `xdr.decode`: one value filling `bytes` exactly; opaque data are views of `bytes`. */
  decode(bytes: Uint8Array, options?: CodecOptions): Static<S>;
  /** As `xdr.read`: one value from `reader`, which is left just after it. */
  read(reader: XdrReader, options?: CodecOptions): Static<S>;
}

// Codecs are kept in the schema's own slot (schema.ts). The WeakMaps hold
// those of the few nodes without one (`self` inside a recursive schema).
const encoders = new WeakMap<object, CompiledEncoder>();
const decoders = new WeakMap<object, CompiledDecoder>();

/** The slot of a schema made by the builders; undefined for anything else. */
function slotOf(schema: unknown): CodecSlot | undefined {
  return typeof schema === 'object' && schema !== null ? ((schema as { [CODEC_SLOT]?: CodecSlot })[CODEC_SLOT]) : undefined;
}

/** The encoder of `schema`, generated on the first call and cached. */
export function compiledEncoder<S extends Schema>(schema: S): CompiledEncoder<S> {
  const slot = slotOf(schema);
  // The classes work on `unknown` values; the types are the caller's schema's.
  if (slot !== undefined && slot.encoder !== undefined) return slot.encoder as CompiledEncoder<S>;
  let e = encoders.get(schema);
  if (e === undefined) {
    // Not a schema: the reference codec fails on it as it always has.
    if (!isSchema(schema)) return new Encoder(schema, undefined) as unknown as CompiledEncoder<S>;
    e = new Encoder(schema, generate(generateEncoder, schema));
    if (slot !== undefined) slot.encoder = e;
    else encoders.set(schema, e);
  }
  return e as unknown as CompiledEncoder<S>;
}

/** The decoder of `schema`, generated on the first call and cached. */
export function compiledDecoder<S extends Schema>(schema: S): CompiledDecoder<S> {
  const slot = slotOf(schema);
  if (slot !== undefined && slot.decoder !== undefined) return slot.decoder as CompiledDecoder<S>;
  let d = decoders.get(schema);
  if (d === undefined) {
    if (!isSchema(schema)) return new Decoder(schema, undefined) as unknown as CompiledDecoder<S>;
    d = new Decoder(schema, generate(generateDecoder, schema));
    if (slot !== undefined) slot.decoder = d;
    else decoders.set(schema, d);
  }
  return d as unknown as CompiledDecoder<S>;
}

/** Generated code, or undefined if the generator gave up (the reference codec then does the work). */
function generate<T>(generator: (s: Schema) => T, schema: Schema): T | undefined {
  try {
    return generator(schema);
  } catch {
    // Too large or too deep for the generator, for `new Function` or for
    // V8's parser (which throws a RangeError on very deep nesting).
    return undefined;
  }
}

function isStackOverflow(err: unknown): boolean {
  // By name: the generated code's realm may differ from this module's.
  return typeof err === 'object' && err !== null && (err as Error).name === 'RangeError' && /call stack/i.test(String((err as Error).message));
}

/**
 * Called when the reference codec, run after generated code threw `err`,
 * did not throw. Normally the reference throws too, and its error is the one
 * to see. If not, generated code refused what the reference accepts: a bug,
 * unless the generated code only ran out of stack (its frames differ).
 * (The failure paths are methods of their own, without closures: a closure
 * in a hot method would cost it a context allocation per call.)
 */
function referenceAccepted(err: unknown, what: string): void {
  if (err !== FAIL && isStackOverflow(err)) return;
  const why = err === FAIL ? 'a check failed' : `it threw ${String(err)}`;
  throw new Error(`xdrd bug: the compiled ${what} refused a value that the reference codec accepts (${why}); please report it`, { cause: err });
}

class Encoder implements CompiledEncoder {
  readonly compiled: boolean;
  readonly #schema: Schema;
  readonly #code: EncoderCode | undefined;

  constructor(schema: Schema, code: EncoderCode | undefined) {
    this.#schema = schema;
    this.#code = code;
    this.compiled = code !== undefined;
  }

  encode(value: unknown, options?: CodecOptions): Buffer {
    const code = this.#code;
    const maxDepth = maxDepthOf(options);
    if (code === undefined || maxDepth < 0) return encodeInterpreted(this.#schema, value, options);
    let buf: Buffer;
    try {
      buf = code.encode(value, maxDepth);
    } catch (err) {
      return this.#encodeAfter(err, value, options);
    }
    // FAIL: the value changed between the passes (a getter); the reference reads it once.
    return buf !== FAIL ? buf : encodeInterpreted(this.#schema, value, options);
  }

  #encodeAfter(err: unknown, value: unknown, options: CodecOptions | undefined): Buffer {
    const bytes = encodeInterpreted(this.#schema, value, options);
    referenceAccepted(err, 'encoder');
    return bytes;
  }

  writeTo(value: unknown, writer: XdrWriter, options?: CodecOptions): void {
    const code = this.#code;
    const maxDepth = maxDepthOf(options);
    if (code === undefined || maxDepth < 0 || !(writer instanceof XdrWriter)) {
      writeInterpreted(this.#schema, value, writer, options);
      return;
    }
    try {
      const n = code.size(value, maxDepth);
      const start = writer.length;
      if (code.write(value, writer.room(n), start) === start + n) {
        writer.advance(n);
        return;
      }
    } catch (err) {
      this.#writeAfter(err, value, writer, options);
      return;
    }
    writeInterpreted(this.#schema, value, writer, options);
  }

  #writeAfter(err: unknown, value: unknown, writer: XdrWriter, options: CodecOptions | undefined): void {
    writeInterpreted(this.#schema, value, writer, options);
    referenceAccepted(err, 'encoder');
  }

  size(value: unknown, options?: CodecOptions): number {
    const code = this.#code;
    const maxDepth = maxDepthOf(options);
    if (code === undefined || maxDepth < 0) return encodeInterpreted(this.#schema, value, options).length;
    try {
      return code.size(value, maxDepth);
    } catch (err) {
      return this.#encodeAfter(err, value, options).length;
    }
  }

  write(value: unknown, buf: Buffer, pos: number, options?: CodecOptions): number {
    if (this.#code !== undefined) return this.#code.write(value, buf, pos);
    const bytes = encodeInterpreted(this.#schema, value, options);
    buf.set(bytes, pos);
    return pos + bytes.length;
  }
}

class Decoder implements CompiledDecoder {
  readonly compiled: boolean;
  readonly #schema: Schema;
  readonly #code: DecoderCode | undefined;

  constructor(schema: Schema, code: DecoderCode | undefined) {
    this.#schema = schema;
    this.#code = code;
    this.compiled = code !== undefined;
  }

  decode(bytes: Uint8Array, options?: CodecOptions): unknown {
    const code = this.#code;
    const maxDepth = maxDepthOf(options);
    if (code === undefined || maxDepth < 0) return decodeInterpreted(this.#schema, bytes, options);
    let buf: Buffer;
    if (bytes instanceof Buffer) buf = bytes;
    // As XdrReader does: a Buffer over the same memory, so opaque values are views of `bytes`.
    else if (bytes instanceof Uint8Array) buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    else return decodeInterpreted(this.#schema, bytes, options);
    let value: unknown;
    try {
      value = code.decode(buf, maxDepth);
    } catch (err) {
      return this.#decodeAfter(err, bytes, options);
    }
    // FAIL: bytes after the value, which the reference reports.
    return value !== FAIL ? value : this.#decodeAfter(FAIL, bytes, options);
  }

  #decodeAfter(err: unknown, bytes: Uint8Array, options: CodecOptions | undefined): unknown {
    const value = decodeInterpreted(this.#schema, bytes, options);
    referenceAccepted(err, 'decoder');
    return value;
  }

  read(reader: XdrReader, options?: CodecOptions): unknown {
    const code = this.#code;
    const maxDepth = maxDepthOf(options);
    if (code === undefined || maxDepth < 0 || !(reader instanceof XdrReader)) return readInterpreted(this.#schema, reader, options);
    try {
      return code.read(reader, maxDepth);
    } catch (err) {
      // The reader has not moved: the reference starts where this did.
      return this.#readAfter(err, reader, options);
    }
  }

  #readAfter(err: unknown, reader: XdrReader, options: CodecOptions | undefined): unknown {
    const value = readInterpreted(this.#schema, reader, options);
    referenceAccepted(err, 'decoder');
    return value;
  }
}
