/**
 * The reference codec: encode and decode values against a schema by
 * interpreting it, validating everything.
 *
 * codec.ts's `encode`/`decode`/`write`/`read` run code generated per schema
 * (compile.ts) and come back here whenever that code finds something wrong,
 * so every error the library throws is made here. It is also the fallback
 * for schemas the generator does not take.
 *
 * A plain recursive walk over the schema nodes. Per call it allocates one
 * context (path stack, depth counter); per primitive it allocates nothing
 * beyond the decoded value itself. The path is only formatted when an error
 * is thrown: the walk keeps a stack of segments, and the single try/catch at
 * the top turns it into "args.disks[3].name".
 */
import { XdrError, describe } from './errors';
import { XdrReader } from './reader';
import { discriminantWire } from './schema';
import type { DiscriminantSchema, Schema, Static } from './types';
import { XdrWriter } from './writer';
import { DEFAULT_MAX_DEPTH } from './options';
import type { CodecOptions } from './options';

interface Context {
  readonly path: (string | number)[];
  depth: number;
  readonly maxDepth: number;
  readonly name: string;
}

function context(options: CodecOptions | undefined): Context {
  const maxDepth = options?.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!Number.isInteger(maxDepth) || maxDepth < 1) throw new RangeError(`maxDepth must be a positive integer, got ${describe(maxDepth)}`);
  return { path: [], depth: 0, maxDepth, name: options?.name ?? 'value' };
}

function formatPath(ctx: Context): string {
  let s = ctx.name;
  for (const seg of ctx.path) s += typeof seg === 'number' ? `[${seg}]` : `.${seg}`;
  return s;
}

/** Give a path-less XdrError from below the path where it happened. */
function locate(err: unknown, ctx: Context): unknown {
  if (err instanceof XdrError && err.path === '') return new XdrError(err.reason, formatPath(ctx), err.offset);
  return err;
}

const INT_NAMES: Record<string, string> = {
  int: 'int',
  uint: 'unsigned int',
  char: 'char',
  uchar: 'unsigned char',
  short: 'short',
  ushort: 'unsigned short',
};

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** Strings with a lone surrogate have no UTF-8 form. */
const LONE_SURROGATE = /\p{Cs}/u;

// ---------------------------------------------------------------------------
// Encoding

/** Encode `value` into a new Buffer. */
export function encodeInterpreted<S extends Schema>(schema: S, value: Static<S>, options?: CodecOptions): Buffer {
  const w = new XdrWriter(256);
  writeValue(schema, value, w, options);
  return w.view();
}

/**
 * Append the encoding of `value` to `writer`. On error the writer is put
 * back to the length it had before the call.
 */
export function writeInterpreted<S extends Schema>(schema: S, value: Static<S>, writer: XdrWriter, options?: CodecOptions): void {
  writeValue(schema, value, writer, options);
}

function writeValue(schema: Schema, value: unknown, writer: XdrWriter, options: CodecOptions | undefined): void {
  const ctx = context(options);
  const start = writer.length;
  try {
    enc(schema, value, writer, ctx);
  } catch (err) {
    writer.truncate(start);
    throw locate(err, ctx);
  }
}

function fail(reason: string): never {
  throw new XdrError(reason);
}

function enterRecursion(ctx: Context): void {
  if (++ctx.depth > ctx.maxDepth) fail(`recursion deeper than ${ctx.maxDepth}`);
}

function encDiscriminant(d: DiscriminantSchema, tag: unknown, w: XdrWriter, ctx: Context): number {
  ctx.path.push('tag');
  const wire = discriminantWire(d, tag);
  if (typeof wire === 'string') fail(wire);
  ctx.path.pop();
  if (d.kind === 'uint') w.uint32(wire);
  else w.int32(wire);
  return wire;
}

function enc(s: Schema, v: unknown, w: XdrWriter, ctx: Context): void {
  switch (s.kind) {
    case 'int':
    case 'uint':
    case 'char':
    case 'uchar':
    case 'short':
    case 'ushort':
      if (typeof v !== 'number' || !Number.isInteger(v)) fail(`expected an integer, got ${describe(v)}`);
      if (v < s.min || v > s.max) fail(`${INT_NAMES[s.kind]} out of range: ${v}`);
      if (s.min < 0) w.int32(v);
      else w.uint32(v);
      return;
    case 'hyper':
    case 'uhyper':
      if (typeof v !== 'bigint') fail(`expected a bigint, got ${describe(v)}`);
      if (s.kind === 'hyper') {
        if (v < INT64_MIN || v > INT64_MAX) fail(`hyper out of range: ${v}`);
        w.int64(v);
      } else {
        if (v < 0n || v > UINT64_MAX) fail(`unsigned hyper out of range: ${v}`);
        w.uint64(v);
      }
      return;
    case 'float':
      if (typeof v !== 'number') fail(`expected a number, got ${describe(v)}`);
      if (Number.isFinite(v) && !Number.isFinite(Math.fround(v))) fail(`float out of range: ${v}`);
      w.float32(v);
      return;
    case 'double':
      if (typeof v !== 'number') fail(`expected a number, got ${describe(v)}`);
      w.float64(v);
      return;
    case 'bool':
      if (typeof v !== 'boolean') fail(`expected a boolean, got ${describe(v)}`);
      w.int32(v ? 1 : 0);
      return;
    case 'void':
      // The value is ignored: a JS function typed to return void may still
      // return something, and that must not break the reply.
      return;
    case 'enum':
      if (typeof v !== 'string' || !Object.hasOwn(s.values, v)) fail(`bad enum value ${describe(v)}`);
      w.int32(s.values[v]);
      return;
    case 'string': {
      if (typeof v !== 'string') fail(`expected a string, got ${describe(v)}`);
      if (LONE_SURROGATE.test(v)) fail('string has a lone surrogate, which has no UTF-8 form');
      const n = Buffer.byteLength(v, 'utf8');
      if (n > s.max) fail(`string longer than ${s.max} (${n} bytes)`);
      w.string(v, n);
      return;
    }
    case 'opaque':
      if (!(v instanceof Uint8Array)) fail(`expected a Uint8Array, got ${describe(v)}`);
      if (v.length > s.max) fail(`opaque longer than ${s.max} (${v.length} bytes)`);
      w.uint32(v.length);
      w.bytes(v);
      return;
    case 'fixedOpaque':
      if (!(v instanceof Uint8Array)) fail(`expected a Uint8Array, got ${describe(v)}`);
      if (v.length !== s.length) fail(`fixed-length opaque must be ${s.length} bytes, got ${v.length}`);
      w.bytes(v);
      return;
    case 'array':
    case 'fixedArray': {
      if (!Array.isArray(v)) fail(`expected an array, got ${describe(v)}`);
      const n = v.length;
      if (s.kind === 'array') {
        if (n > s.max) fail(`array longer than ${s.max} (${n} elements)`);
        w.uint32(n);
      } else if (n !== s.length) {
        fail(`fixed-length array must have ${s.length} elements, got ${n}`);
      }
      const top = ctx.path.length;
      ctx.path.push(0);
      for (let i = 0; i < n; i++) {
        ctx.path[top] = i;
        enc(s.element, v[i], w, ctx);
      }
      ctx.path.pop();
      return;
    }
    case 'optional':
      if (v === null) {
        w.int32(0);
        return;
      }
      if (v === undefined) fail('expected a value or null, got undefined');
      w.int32(1);
      enc(s.element, v, w, ctx);
      return;
    case 'struct': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`expected an object, got ${describe(v)}`);
      const obj = v as Record<string, unknown>;
      const { keys, fields } = s;
      const top = ctx.path.length;
      ctx.path.push('');
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        ctx.path[top] = k;
        enc(fields[k], obj[k], w, ctx);
      }
      ctx.path.pop();
      return;
    }
    case 'union': {
      if (typeof v !== 'object' || v === null) fail(`expected a union value { tag, value }, got ${describe(v)}`);
      const u = v as { tag?: unknown; value?: unknown };
      const wire = encDiscriminant(s.discriminant, u.tag, w, ctx);
      const arm = s.armsByValue.get(wire) ?? s.defaultArm;
      if (arm === undefined) fail(`bad union discriminant ${describe(u.tag)}`);
      ctx.path.push('value');
      enc(arm, u.value, w, ctx);
      ctx.path.pop();
      return;
    }
    case 'self':
      enterRecursion(ctx);
      enc(s.target.body, v, w, ctx);
      ctx.depth--;
      return;
    case 'recursive':
      enterRecursion(ctx);
      enc(s.body, v, w, ctx);
      ctx.depth--;
      return;
  }
}

// ---------------------------------------------------------------------------
// Decoding

/**
 * Decode one value that must fill `bytes` exactly. Opaque data in the result
 * are views of `bytes` (no copy): they change if `bytes` is changed.
 */
export function decodeInterpreted<S extends Schema>(schema: S, bytes: Uint8Array, options?: CodecOptions): Static<S> {
  const r = new XdrReader(bytes);
  const ctx = context(options);
  let value: Static<S>;
  try {
    value = dec(schema, r, ctx) as Static<S>;
  } catch (err) {
    throw locate(err, ctx);
  }
  const extra = r.remaining;
  if (extra !== 0) throw new XdrError(`${extra} trailing byte${extra === 1 ? '' : 's'} after the value`, ctx.name, r.pos);
  return value;
}

/**
 * Decode one value from `reader`, leaving it just after the value. Bytes
 * after it are the caller's business (e.g. the next item of a frame).
 */
export function readInterpreted<S extends Schema>(schema: S, reader: XdrReader, options?: CodecOptions): Static<S> {
  const ctx = context(options);
  try {
    return dec(schema, reader, ctx) as Static<S>;
  } catch (err) {
    throw locate(err, ctx);
  }
}

function failAt(reason: string, offset: number): never {
  throw new XdrError(reason, '', offset);
}

/** Read and check a union's discriminant; return its wire value. */
function decDiscriminant(d: DiscriminantSchema, r: XdrReader, ctx: Context): number {
  ctx.path.push('tag');
  const wire = d.kind === 'uint' ? r.uint32() : r.int32();
  if (d.kind === 'bool' && wire !== 0 && wire !== 1) failAt(`bad bool ${wire} (must be 0 or 1)`, r.pos - 4);
  if (d.kind === 'enum' && !d.names.has(wire)) failAt(`bad enum value ${wire}`, r.pos - 4);
  ctx.path.pop();
  return wire;
}

/** The JS form of a discriminant's (checked) wire value. */
function tagOf(d: DiscriminantSchema, wire: number): number | string | boolean {
  if (d.kind === 'enum') return d.names.get(wire) as string;
  if (d.kind === 'bool') return wire === 1;
  return wire;
}

function dec(s: Schema, r: XdrReader, ctx: Context): unknown {
  switch (s.kind) {
    case 'int':
      return r.int32();
    case 'uint':
      return r.uint32();
    case 'char':
    case 'short': {
      const v = r.int32();
      if (v < s.min || v > s.max) failAt(`${INT_NAMES[s.kind]} out of range: ${v}`, r.pos - 4);
      return v;
    }
    case 'uchar':
    case 'ushort': {
      const v = r.uint32();
      if (v > s.max) failAt(`${INT_NAMES[s.kind]} out of range: ${v}`, r.pos - 4);
      return v;
    }
    case 'hyper':
      return r.int64();
    case 'uhyper':
      return r.uint64();
    case 'float':
      return r.float32();
    case 'double':
      return r.float64();
    case 'bool': {
      const v = r.int32();
      if (v === 0) return false;
      if (v === 1) return true;
      return failAt(`bad bool ${v} (must be 0 or 1)`, r.pos - 4);
    }
    case 'void':
      return undefined;
    case 'enum': {
      const v = r.int32();
      const name = s.names.get(v);
      if (name === undefined) failAt(`bad enum value ${v}`, r.pos - 4);
      return name;
    }
    case 'string': {
      const at = r.pos;
      const n = r.uint32();
      if (n > s.max) failAt(`string longer than ${s.max} (${n} bytes)`, at);
      return r.utf8(n, 'string', at);
    }
    case 'opaque': {
      const at = r.pos;
      const n = r.uint32();
      if (n > s.max) failAt(`opaque longer than ${s.max} (${n} bytes)`, at);
      return r.bytes(n, 'opaque', at);
    }
    case 'fixedOpaque':
      return r.bytes(s.length, 'fixed-length opaque');
    case 'array': {
      const at = r.pos;
      const n = r.uint32();
      if (n > s.max) failAt(`array longer than ${s.max} (${n} elements)`, at);
      // Check the count against the bytes left before allocating anything.
      const need = n * s.element.minSize;
      if (need > r.remaining) failAt(`array count ${n} needs at least ${need} bytes, ${r.remaining} left`, at);
      return decElements(s.element, n, r, ctx);
    }
    case 'fixedArray':
      return decElements(s.element, s.length, r, ctx);
    case 'optional': {
      const flag = r.int32();
      if (flag === 0) return null;
      if (flag !== 1) failAt(`bad optional flag ${flag} (must be 0 or 1)`, r.pos - 4);
      return dec(s.element, r, ctx);
    }
    case 'struct': {
      const obj: Record<string, unknown> = {};
      const { keys, fields } = s;
      const top = ctx.path.length;
      ctx.path.push('');
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        ctx.path[top] = k;
        obj[k] = dec(fields[k], r, ctx);
      }
      ctx.path.pop();
      return obj;
    }
    case 'union': {
      const at = r.pos;
      const wire = decDiscriminant(s.discriminant, r, ctx);
      const arm = s.armsByValue.get(wire) ?? s.defaultArm;
      if (arm === undefined) failAt(`bad union discriminant ${wire}`, at);
      const tag = tagOf(s.discriminant, wire);
      if (arm.kind === 'void') return { tag };
      ctx.path.push('value');
      const value = dec(arm, r, ctx);
      ctx.path.pop();
      return { tag, value };
    }
    case 'self':
    case 'recursive': {
      if (++ctx.depth > ctx.maxDepth) failAt(`recursion deeper than ${ctx.maxDepth}`, r.pos);
      const value = dec(s.kind === 'self' ? s.target.body : s.body, r, ctx);
      ctx.depth--;
      return value;
    }
  }
}

function decElements(element: Schema, n: number, r: XdrReader, ctx: Context): unknown[] {
  const out: unknown[] = [];
  const top = ctx.path.length;
  ctx.path.push(0);
  for (let i = 0; i < n; i++) {
    ctx.path[top] = i;
    out.push(dec(element, r, ctx));
  }
  ctx.path.pop();
  return out;
}
