/**
 * Encode and decode values against a schema, validating everything.
 *
 * Each schema gets an encoder and a decoder generated on first use
 * (compile.ts); their errors, and everything they accept and refuse, are
 * those of the reference codec (interpret.ts), which is exported here too
 * as `encodeInterpreted` & co. for tests, benchmarks and comparisons.
 */
import { compiledDecoder, compiledEncoder } from './compile';
import type { CodecOptions } from './options';
import type { XdrReader } from './reader';
import type { Schema, Static } from './types';
import type { XdrWriter } from './writer';

export { DEFAULT_MAX_DEPTH } from './options';
export type { CodecOptions } from './options';
export { decodeInterpreted, encodeInterpreted, readInterpreted, writeInterpreted } from './interpret';
export { compiledDecoder, compiledEncoder } from './compile';
export type { CompiledDecoder, CompiledEncoder } from './compile';

/** Encode `value` into a new Buffer. */
export function encode<S extends Schema>(schema: S, value: Static<S>, options?: CodecOptions): Buffer {
  return compiledEncoder(schema).encode(value, options);
}

/**
 * Append the encoding of `value` to `writer`. On error the writer is put
 * back to the length it had before the call.
 */
export function write<S extends Schema>(schema: S, value: Static<S>, writer: XdrWriter, options?: CodecOptions): void {
  compiledEncoder(schema).writeTo(value, writer, options);
}

/**
 * Decode one value that must fill `bytes` exactly. Opaque data in the result
 * are views of `bytes` (no copy): they change if `bytes` is changed.
 */
export function decode<S extends Schema>(schema: S, bytes: Uint8Array, options?: CodecOptions): Static<S> {
  return compiledDecoder(schema).decode(bytes, options);
}

/**
 * Decode one value from `reader`, leaving it just after the value. Bytes
 * after it are the caller's business (e.g. the next item of a frame).
 */
export function read<S extends Schema>(schema: S, reader: XdrReader, options?: CodecOptions): Static<S> {
  return compiledDecoder(schema).read(reader, options);
}
