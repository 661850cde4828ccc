/**
 * The helpers that generated codecs (compile-decode.ts, compile-encode.ts)
 * call, passed to them as arguments of `new Function`: generated code sees
 * nothing of the module scope, and does not depend on the globals of the
 * realm that compiled it (jest's vm context differs from Node's).
 *
 * Checks here answer only "valid or not": on "not" they throw `FAIL` and
 * compile.ts runs the reference codec, which says what is wrong and where.
 */
import { isUtf8 } from 'node:buffer';

/**
 * What generated code throws when a check fails. Not an Error: it carries
 * nothing, and making a stack trace would be wasted work.
 */
export const FAIL: object = Object.freeze({ compiledCheckFailed: true });

/**
 * Strings up to this many UTF-8 bytes or UTF-16 units are checked, measured
 * and written by the JS loops below; longer ones by Node's native code,
 * whose call costs more than a short loop but wins on long inputs.
 */
const SHORT = 64;

// --- decoding -------------------------------------------------------------------

/**
 * Whether bytes [start, end) are well-formed UTF-8 as `isUtf8` defines it
 * (RFC 3629: no overlong forms, no encoded surrogates, nothing above
 * U+10FFFF), for short runs, without making the view `isUtf8` needs.
 */
function shortUtf8(buf: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const b = buf[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0; // overlong below U+0800
      else if (b === 0xed) hi = 0x9f; // U+D800..U+DFFF, the surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90; // overlong below U+10000
      else if (b === 0xf4) hi = 0x8f; // above U+10FFFF
    } else return false;
    if (end - i <= need) return false;
    const b1 = buf[i + 1];
    if (b1 < lo || b1 > hi) return false;
    for (let k = 2; k <= need; k++) {
      const c = buf[i + k];
      if (c < 0x80 || c > 0xbf) return false;
    }
    i += need + 1;
  }
  return true;
}

/** Most bytes an ASCII string may have to be made by `asciiString`. */
const ASCII_ARGS = 32;

/**
 * The string of bytes [start, start + n), n <= ASCII_ARGS, if they are all
 * ASCII; undefined if not. Generated below with one case per length: the
 * bytes are read once into locals, tested together, and passed as the
 * arguments of one String.fromCharCode call, which makes a short string
 * several times faster than a call into Node's native decoder.
 */
const asciiString = new Function(
  'fromCharCode',
  [
    '"use strict";',
    'return function asciiString(b, s, n) {',
    '  switch (n) {',
    '    case 0: return "";',
    ...Array.from({ length: ASCII_ARGS }, (_, i) => {
      const n = i + 1;
      const c = Array.from({ length: n }, (_, k) => `c${k}`);
      const loads = c.map((name, k) => `${name} = b[s + ${k}]`).join(', ');
      return `    case ${n}: { const ${loads}; return (${c.join(' | ')}) < 128 ? fromCharCode(${c.join(', ')}) : undefined; }`;
    }),
    '  }',
    '  return undefined;',
    '};',
  ].join('\n'),
)(String.fromCharCode) as (b: Uint8Array, s: number, n: number) => string | undefined;

/** The string in bytes [start, end) of `buf`, which must be valid UTF-8. */
export function readString(buf: Buffer, start: number, end: number): string {
  const n = end - start;
  if (n <= ASCII_ARGS) {
    const ascii = asciiString(buf, start, n);
    if (ascii !== undefined) return ascii;
  } else if (n > SHORT) {
    if (!isUtf8(buf.subarray(start, end))) throw FAIL;
    return buf.toString('utf8', start, end);
  }
  let i = start;
  while (i < end && buf[i] < 0x80) i++;
  if (!shortUtf8(buf, i, end)) throw FAIL;
  return buf.toString('utf8', start, end);
}

/**
 * The string in bytes [start, end) of `buf`, already known to be valid UTF-8
 * (the native decoder checked it): short ASCII strings the fast way.
 */
export function checkedString(buf: Buffer, start: number, end: number): string {
  if (end - start <= ASCII_ARGS) {
    const ascii = asciiString(buf, start, end - start);
    if (ascii !== undefined) return ascii;
  }
  return buf.toString('utf8', start, end);
}

/**
 * Skip the padding after `n` data bytes that end at `pos`; the padding must
 * be zero (and in bounds: the caller checked the length with it).
 */
export function skipPadding(buf: Uint8Array, pos: number, n: number): number {
  switch (n & 3) {
    case 1:
      if (buf[pos] !== 0 || buf[pos + 1] !== 0 || buf[pos + 2] !== 0) throw FAIL;
      return pos + 3;
    case 2:
      if (buf[pos] !== 0 || buf[pos + 1] !== 0) throw FAIL;
      return pos + 2;
    case 3:
      if (buf[pos] !== 0) throw FAIL;
      return pos + 1;
    default:
      return pos;
  }
}

// Hypers go through an 8-byte scratch area seen as a 64-bit integer array:
// V8 makes the bigint of an element load (or takes one apart on a store)
// faster than any arithmetic on two 32-bit halves.
const scratch = new Uint8Array(8);
const scratchSigned = new BigInt64Array(scratch.buffer);
const scratchUnsigned = new BigUint64Array(scratch.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The host-order scratch bytes from the 8 big-endian bytes at `pos`. */
function load(buf: Uint8Array, pos: number): void {
  if (LITTLE_ENDIAN) {
    scratch[0] = buf[pos + 7];
    scratch[1] = buf[pos + 6];
    scratch[2] = buf[pos + 5];
    scratch[3] = buf[pos + 4];
    scratch[4] = buf[pos + 3];
    scratch[5] = buf[pos + 2];
    scratch[6] = buf[pos + 1];
    scratch[7] = buf[pos];
  } else {
    for (let i = 0; i < 8; i++) scratch[i] = buf[pos + i];
  }
}

/** The hyper at `pos` (in bounds: the caller checked). */
export function readHyper(buf: Uint8Array, pos: number): bigint {
  load(buf, pos);
  return scratchSigned[0];
}

/** The unsigned hyper at `pos`. */
export function readUhyper(buf: Uint8Array, pos: number): bigint {
  load(buf, pos);
  return scratchUnsigned[0];
}

// --- encoding -------------------------------------------------------------------

/** Strings with a lone surrogate have no UTF-8 form (the reference's test). */
const LONE_SURROGATE = /\p{Cs}/u;

/** The UTF-8 length of `s`, or -1 if it has a lone surrogate. */
export function utf8Length(s: string): number {
  const len = s.length;
  if (len > SHORT) return LONE_SURROGATE.test(s) ? -1 : Buffer.byteLength(s, 'utf8');
  // ASCII first, in a loop small enough for V8 to inline.
  for (let i = 0; i < len; i++) if (s.charCodeAt(i) >= 0x80) return utf8LengthFrom(s, i);
  return len;
}

/** utf8Length for the rest of a short string, from its first non-ASCII unit `from`. */
function utf8LengthFrom(s: string, from: number): number {
  const len = s.length;
  let n = len;
  for (let i = from; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c < 0xd800 || c > 0xdfff) n += 2;
    else {
      // A high surrogate followed by a low one: 2 units, 4 bytes.
      if (c > 0xdbff || i + 1 === len) return -1;
      const c2 = s.charCodeAt(i + 1);
      if (c2 < 0xdc00 || c2 > 0xdfff) return -1;
      n += 2;
      i++;
    }
  }
  return n;
}

/**
 * Write the UTF-8 of `s` (which has no lone surrogate: `utf8Length` said
 * so) at `pos`; return the number of bytes written.
 */
export function writeString(buf: Buffer, pos: number, s: string): number {
  const len = s.length;
  if (len > SHORT) return buf.write(s, pos, 'utf8');
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return writeUtf8From(buf, pos, s, i);
    buf[pos + i] = c;
  }
  return len;
}

/** writeString for the rest of a short string, from its first non-ASCII unit `from`. */
function writeUtf8From(buf: Buffer, pos: number, s: string, from: number): number {
  const len = s.length;
  let p = pos + from;
  for (let i = from; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[p++] = c;
    } else if (c < 0x800) {
      buf[p++] = 0xc0 | (c >> 6);
      buf[p++] = 0x80 | (c & 0x3f);
    } else if (c < 0xd800 || c > 0xdfff) {
      buf[p++] = 0xe0 | (c >> 12);
      buf[p++] = 0x80 | ((c >> 6) & 0x3f);
      buf[p++] = 0x80 | (c & 0x3f);
    } else {
      const cp = ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00) + 0x10000;
      buf[p++] = 0xf0 | (cp >> 18);
      buf[p++] = 0x80 | ((cp >> 12) & 0x3f);
      buf[p++] = 0x80 | ((cp >> 6) & 0x3f);
      buf[p++] = 0x80 | (cp & 0x3f);
    }
  }
  return p - pos;
}

/** Copy `src` to `pos`; return the position after it. */
export function copyBytes(buf: Buffer, pos: number, src: Uint8Array): number {
  const n = src.length;
  // From 16 bytes on, set()'s native copy beats a loop.
  if (n >= 16) buf.set(src, pos);
  else for (let i = 0; i < n; i++) buf[pos + i] = src[i];
  return pos + n;
}

/** Zero padding after `n` data bytes that end at `pos`; the position after it. */
export function writePadding(buf: Uint8Array, pos: number, n: number): number {
  switch (n & 3) {
    case 1:
      buf[pos] = 0;
      buf[pos + 1] = 0;
      buf[pos + 2] = 0;
      return pos + 3;
    case 2:
      buf[pos] = 0;
      buf[pos + 1] = 0;
      return pos + 2;
    case 3:
      buf[pos] = 0;
      return pos + 1;
    default:
      return pos;
  }
}

/**
 * Write a (checked) hyper or unsigned hyper at `pos`, big-endian. Storing
 * into the signed array wraps an unsigned hyper above 2^63 to the same bits.
 */
export function writeHyper(buf: Uint8Array, pos: number, x: bigint): void {
  scratchSigned[0] = x;
  if (LITTLE_ENDIAN) {
    buf[pos] = scratch[7];
    buf[pos + 1] = scratch[6];
    buf[pos + 2] = scratch[5];
    buf[pos + 3] = scratch[4];
    buf[pos + 4] = scratch[3];
    buf[pos + 5] = scratch[2];
    buf[pos + 6] = scratch[1];
    buf[pos + 7] = scratch[0];
  } else {
    for (let i = 0; i < 8; i++) buf[pos + i] = scratch[i];
  }
}

// --- Buffers --------------------------------------------------------------------

/**
 * The constructor Node makes every Buffer with (a Uint8Array subclass whose
 * prototype is Buffer.prototype), reached through `Buffer[Symbol.species]`,
 * which is how `subarray` finds it too. Called directly it skips the
 * argument checks and the species look-up of `subarray` and `allocUnsafe`
 * (bench/RESULTS.md, "the GET_INFO arguments codec"). Should a Node not
 * expose it so, the public calls do the work.
 */
type BufferConstructor = new (bufferOrLength: ArrayBuffer | number, byteOffset?: number, length?: number) => Buffer;
const species: unknown = (Buffer as unknown as { [Symbol.species]?: unknown })[Symbol.species];
const FastBuffer: BufferConstructor | undefined =
  typeof species === 'function' && species.prototype === Buffer.prototype ? (species as BufferConstructor) : undefined;

/** Bytes [start, end) of `buf` as a Buffer over the same memory (as `buf.subarray(start, end)`; the range is in bounds). */
export const viewOf: (buf: Buffer, start: number, end: number) => Buffer =
  FastBuffer !== undefined
    ? (buf, start, end) => new FastBuffer(buf.buffer as ArrayBuffer, buf.byteOffset + start, end - start)
    : (buf, start, end) => buf.subarray(start, end);

/**
 * Makes viewOf's views of one Buffer after another, reading the Buffer's
 * `buffer` (a call into V8's C++ runtime, not inlined) only when the Buffer
 * changes. For decode plans: the server builds the calls of a batch from
 * one Buffer of bodies. Each maker holds the last Buffer it viewed until it
 * views another (the views it made hold the same memory anyway).
 */
export function makeViewer(): (buf: Buffer, start: number, end: number) => Buffer {
  if (FastBuffer === undefined) return viewOf;
  let last: Buffer | undefined;
  let memory: ArrayBuffer | undefined;
  let base = 0;
  return (buf, start, end) => {
    if (buf !== last) {
      memory = buf.buffer as ArrayBuffer;
      base = buf.byteOffset;
      last = buf;
    }
    return new FastBuffer(memory!, base + start, end - start);
  };
}

/**
 * Most bytes a new Buffer may have to be made whole (not as a view of
 * Node's shared pool, as `allocUnsafe` would). Up to V8's limit of 64 bytes
 * a typed array keeps its bytes inside the object, and is faster to make
 * than a view; zeroing so few costs nothing measurable.
 */
const SMALL_BUFFER = 64;

/** A Buffer of `n` bytes for an encoding that will write every one of them. */
export function newBuffer(n: number): Buffer {
  return n <= SMALL_BUFFER && FastBuffer !== undefined ? new FastBuffer(n) : Buffer.allocUnsafe(n);
}

/** Everything generated code gets, by the names it uses. */
export const RUNTIME = {
  $F: FAIL,
  $str: readString,
  $pad: skipPadding,
  $hyper: readHyper,
  $uhyper: readUhyper,
  $len: utf8Length,
  $wstr: writeString,
  $copy: copyBytes,
  $zeros: writePadding,
  $whyper: writeHyper,
  $isArray: Array.isArray,
  $hasOwn: Object.hasOwn,
  $U8: Uint8Array,
  $view: viewOf,
} as const;
