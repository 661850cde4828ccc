/**
 * The compiled codecs (lib/xdr/compile*.ts) against the reference codec
 * (interpret.ts): golden bytes, hostile bytes, and seeded random schemas
 * with random values, invalid values and mutated encodings, which must give
 * the same bytes, the same values, or the same errors (class, message,
 * path, reason, offset). The seed is printed; XDRD_COMPILE_SEED repeats a run.
 */
import * as path from 'path';
import { isUtf8 } from 'node:buffer';

import { xdr, XdrError } from '../../lib';
import type { Schema } from '../../lib';
import {
  compiledDecoder,
  compiledEncoder,
  decodeInterpreted,
  encodeInterpreted,
  readInterpreted,
  writeInterpreted,
} from '../../lib/xdr/codec';
import type { CodecOptions } from '../../lib/xdr/codec';
import { FAIL, readString } from '../../lib/xdr/compile-runtime';
import { runChild } from '../helpers/harness';
import { same } from '../helpers/same-value';
import { Rng, mutate, randomSchema, randomValue } from '../helpers/xdr-random';
import { goldenVectors } from '../vectors/golden';
import { hostileVectors } from '../vectors/hostile';

type Outcome =
  | { ok: true; value: unknown }
  | { ok: false; error: { class: string; message: string; path?: string; reason?: string; offset?: number } };

function outcome(run: () => unknown): Outcome {
  try {
    return { ok: true, value: run() };
  } catch (e) {
    if (!(e instanceof Error)) throw e;
    if (e.message.startsWith('xdrd bug')) throw e;
    const error = e instanceof XdrError ? { class: 'XdrError', message: e.message, path: e.path, reason: e.reason, offset: e.offset } : { class: e.constructor.name, message: e.message };
    return { ok: false, error };
  }
}


const show = (o: unknown): string => JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : Buffer.isBuffer(v) ? v.toString('hex') : v));

/** Throws unless both outcomes are the same value or the same error. */
function expectSame(what: string, ref: Outcome, got: Outcome): void {
  if (ref.ok && got.ok ? !same(ref.value, got.value) : !same(ref, got)) {
    throw new Error(`compiled and reference differ on ${what}:\n reference ${show(ref)}\n compiled  ${show(got)}`);
  }
}

function decodeBoth(schema: Schema, bytes: Buffer, options?: CodecOptions): Outcome {
  const ref = outcome(() => decodeInterpreted(schema, bytes, options));
  const got = outcome(() => xdr.decode(schema, bytes, options));
  expectSame(`decode of ${bytes.toString('hex')}`, ref, got);
  return ref;
}

function encodeBoth(schema: Schema, value: unknown, options?: CodecOptions): Outcome {
  const ref = outcome(() => encodeInterpreted(schema, value as never, options));
  const got = outcome(() => xdr.encode(schema, value as never, options));
  expectSame(`encode of ${show(value)}`, ref, got);
  return ref;
}

/** Both `write`s into writers holding the same prefix: same bytes after, or same error and the prefix alone. */
function writeBoth(schema: Schema, value: unknown, options?: CodecOptions): void {
  const prefix = (): xdr.XdrWriter => {
    const w = new xdr.XdrWriter(16);
    w.uint32(0xabcdef01);
    return w;
  };
  const wr = prefix();
  const wg = prefix();
  const ref = outcome(() => writeInterpreted(schema, value as never, wr, options));
  const got = outcome(() => xdr.write(schema, value as never, wg, options));
  expectSame(`write of ${show(value)}`, ref, got);
  if (!wr.view().equals(wg.view())) throw new Error(`writers differ after write of ${show(value)}: ${wr.view().toString('hex')} / ${wg.view().toString('hex')}`);
}

/** Both `read`s from the same bytes at an offset, with bytes after: same value and position, or same error. */
function readBoth(schema: Schema, bytes: Buffer, options?: CodecOptions): void {
  const framed = Buffer.concat([Buffer.from('ffffffff', 'hex'), bytes, Buffer.from('eeee', 'hex')]);
  const rr = new xdr.XdrReader(framed, 4);
  const rg = new xdr.XdrReader(framed, 4);
  expectSame(`read of ${bytes.toString('hex')}`, outcome(() => readInterpreted(schema, rr, options)), outcome(() => xdr.read(schema, rg, options)));
  if (rr.pos !== rg.pos) throw new Error(`readers differ after read of ${bytes.toString('hex')}: ${rr.pos} / ${rg.pos}`);
}

// Values that are wrong for most schemas, for invalid-value tests.
const JUNK: unknown[] = [
  undefined, null, 1.5, -1, 2 ** 32, 2 ** 31, -(2 ** 31) - 1, 256, 65536, NaN, Infinity, 1e39, 'x', '', 'a\ud800', 'é'.repeat(30), 1n, 2n ** 64n, -1n,
  {}, [], [1], true, false, Buffer.alloc(3), new Uint8Array(17), 'M0', 'A', { tag: 0 }, { tag: 'B', value: 1 }, { tag: true },
];

/** `value` with one random part replaced by junk (or the whole of it). */
function spoil(r: Rng, value: unknown): unknown {
  type Slot = { holder: Record<string | number, unknown>; key: string | number };
  const slots: Slot[] = [];
  const visit = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array) return;
    for (const k of Object.keys(v)) {
      slots.push({ holder: v as Record<string, unknown>, key: k });
      visit((v as Record<string, unknown>)[k]);
    }
  };
  const copy = structuredClone(value);
  visit(copy);
  if (slots.length === 0 || r.chance(0.1)) return r.pick(JUNK);
  const slot = r.pick(slots);
  slot.holder[slot.key] = r.pick(JUNK);
  return copy;
}

describe('compiled codecs agree with the reference codec', () => {
  test.each(goldenVectors.map((v) => [v.name, v] as const))('golden: %s', (_name, v) => {
    expect(compiledEncoder(v.schema).compiled).toBe(true);
    expect(compiledDecoder(v.schema).compiled).toBe(true);
    expect(compiledEncoder(v.schema).encode(v.value as never).toString('hex')).toBe(v.bytes.toString('hex'));
    expect(compiledDecoder(v.schema).decode(v.bytes)).toStrictEqual(v.value);
  });

  test.each(hostileVectors.map((v) => [v.name, v] as const))('hostile: %s', (_name, v) => {
    const o = decodeBoth(v.schema, v.bytes, v.options);
    expect(o.ok).toBe(false);
  });

  test('seeded random schemas, values, invalid values and mutated encodings', () => {
    const seed = process.env.XDRD_COMPILE_SEED !== undefined ? Number(process.env.XDRD_COMPILE_SEED) : (Date.now() >>> 0);
    const r = new Rng(seed);
    const counts = { schemas: 0, values: 0, invalidValues: 0, invalidRefused: 0, mutations: 0, mutationsDecoded: 0, mutationsRefused: 0 };
    try {
      for (let s = 0; s < 300; s++) {
        const schema = randomSchema(r);
        if (!compiledEncoder(schema).compiled || !compiledDecoder(schema).compiled) throw new Error('a random schema was not compiled');
        const options = r.chance(0.2) ? { maxDepth: r.int(1, 4), name: 'args' } : undefined;
        counts.schemas++;
        for (let v = 0; v < 8; v++) {
          const value = randomValue(r, schema);
          const encoded = encodeBoth(schema, value, options);
          writeBoth(schema, value, options);
          counts.values++;
          const bad = spoil(r, value);
          if (!encodeBoth(schema, bad, options).ok) counts.invalidRefused++;
          writeBoth(schema, bad, options);
          counts.invalidValues++;
          if (!encoded.ok) continue;
          const bytes = encoded.value as Buffer;
          const o = decodeBoth(schema, bytes, options);
          if (options === undefined && (!o.ok || !same(o.value, value))) throw new Error(`round trip failed: ${show(value)}`);
          readBoth(schema, bytes, options);
          for (let m = 0; m < 6; m++) {
            const mutated = mutate(r, bytes);
            const mo = decodeBoth(schema, mutated, options);
            readBoth(schema, mutated, options);
            counts.mutations++;
            if (mo.ok) counts.mutationsDecoded++;
            else counts.mutationsRefused++;
          }
        }
      }
    } catch (e) {
      throw new Error(`seed ${seed} (XDRD_COMPILE_SEED=${seed} repeats it): ${(e as Error).message}`);
    }
    console.log(`compiled codec differential: seed ${seed}, ${JSON.stringify(counts)}`);
    expect(counts.mutationsDecoded).toBeGreaterThan(100);
    expect(counts.mutationsRefused).toBeGreaterThan(1000);
    expect(counts.invalidRefused).toBeGreaterThan(1000);
  });
});

const Domain = xdr.struct({ name: xdr.string(64), uuid: xdr.fixedOpaque(16), id: xdr.int() });
const Info = xdr.struct({ state: xdr.uchar(), maxMem: xdr.uhyper(), memory: xdr.uhyper(), nrVirtCpu: xdr.ushort(), cpuTime: xdr.uhyper() });
const List = xdr.recursive((self) => xdr.struct({ v: xdr.int(), next: xdr.optional(self) }));

describe('compiled codecs in detail', () => {
  test('exact bytes of a GET_INFO-shaped call and reply', () => {
    const uuid = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const args = compiledEncoder(Domain).encode({ name: 'web-1', uuid, id: -2 });
    expect(args.toString('hex')).toBe('00000005' + '7765622d31000000' + '00112233445566778899aabbccddeeff' + 'fffffffe');
    const info = { state: 1, maxMem: 2n ** 64n - 1n, memory: 0x123456789n, nrVirtCpu: 65535, cpuTime: 2n ** 53n + 1n };
    const ret = compiledEncoder(Info).encode(info);
    expect(ret.toString('hex')).toBe('00000001' + 'ffffffffffffffff' + '0000000123456789' + '0000ffff' + '0020000000000001');
    expect(compiledDecoder(Info).decode(ret)).toStrictEqual(info);
  });

  test('exact bytes of hypers at the edges of the fast path', () => {
    const H = xdr.struct({ a: xdr.hyper(), b: xdr.hyper(), c: xdr.hyper(), d: xdr.hyper(), e: xdr.uhyper() });
    const v = { a: -(2n ** 53n), b: 2n ** 53n - 1n, c: -(2n ** 63n), d: -1n, e: 2n ** 53n };
    const bytes = xdr.encode(H, v);
    expect(bytes.toString('hex')).toBe('ffe0000000000000' + '001fffffffffffff' + '8000000000000000' + 'ffffffffffffffff' + '0020000000000000');
    expect(xdr.decode(H, bytes)).toStrictEqual(v);
  });

  test('the codecs are generated once per schema and cached', () => {
    const S = xdr.struct({ a: xdr.int() });
    const e = compiledEncoder(S);
    const d = compiledDecoder(S);
    expect(compiledEncoder(S)).toBe(e);
    expect(compiledDecoder(S)).toBe(d);
    xdr.decode(S, xdr.encode(S, { a: 1 }));
    expect(compiledEncoder(S)).toBe(e);
    expect(compiledDecoder(S)).toBe(d);
    expect(compiledEncoder(xdr.struct({ a: xdr.int() }))).not.toBe(e);
  });

  test('the codecs of a recursive schema\'s inner self node are cached too', () => {
    let self: Schema | undefined;
    xdr.recursive((s) => ((self = s), xdr.struct({ v: xdr.int(), next: xdr.optional(s) })));
    const e = compiledEncoder(self!);
    expect(compiledEncoder(self!)).toBe(e);
    expect(compiledDecoder(self!)).toBe(compiledDecoder(self!));
  });

  test('size and write encode in place at an offset, padding included, in a dirty buffer', () => {
    const e = compiledEncoder(Domain);
    const value = { name: 'abcde', uuid: Buffer.alloc(16, 0x11), id: 7 };
    const n = e.size(value);
    expect(n).toBe(4 + 8 + 16 + 4);
    const buf = Buffer.alloc(100, 0xff);
    expect(e.write(value, buf, 10)).toBe(10 + n);
    expect(buf.subarray(10, 10 + n).equals(xdr.encode(Domain, value))).toBe(true);
    expect(buf[9]).toBe(0xff);
    expect(buf[10 + n]).toBe(0xff);
  });

  test('size throws the reference error for a bad value', () => {
    expect(() => compiledEncoder(Domain).size({ name: 'x'.repeat(65), uuid: Buffer.alloc(16), id: 1 } as never, { name: 'args' })).toThrow(
      new XdrError('string longer than 64 (65 bytes)', 'args.name'),
    );
  });

  test('recursion stops at maxDepth with the reference error, both ways', () => {
    const three = { v: 1, next: { v: 2, next: { v: 3, next: null } } };
    const bytes = xdr.encode(List, three, { maxDepth: 3 });
    expect(xdr.decode(List, bytes, { maxDepth: 3 })).toEqual(three);
    expect(() => xdr.encode(List, three, { maxDepth: 2 })).toThrow(new XdrError('recursion deeper than 2', 'value.next.next'));
    const err = outcome(() => xdr.decode(List, bytes, { maxDepth: 2 }));
    expect(err).toEqual(outcome(() => decodeInterpreted(List, bytes, { maxDepth: 2 })));
    expect(err).toMatchObject({ ok: false, error: { reason: 'recursion deeper than 2', offset: 16 } });
  });

  test('a cyclic value stops at the depth limit', () => {
    const node: { v: number; next: unknown } = { v: 1, next: null };
    node.next = node;
    expect(() => xdr.encode(List, node as never)).toThrow(new XdrError('recursion deeper than 200', `value${'.next'.repeat(200)}`));
  });

  test('bad options and bad inputs throw the reference TypeError or RangeError', () => {
    for (const maxDepth of [0, -1, 1.5, NaN]) {
      expect(() => xdr.encode(xdr.int(), 1, { maxDepth })).toThrow(new RangeError(`maxDepth must be a positive integer, got ${maxDepth}`));
      expect(() => xdr.decode(xdr.int(), Buffer.alloc(4), { maxDepth })).toThrow(RangeError);
    }
    expect(() => xdr.decode(xdr.int(), 'abcd' as never)).toThrow(new TypeError('XdrReader: expected a Uint8Array, got "abcd"'));
    expect(outcome(() => xdr.encode({ kind: 'nope' } as never, 1 as never))).toEqual(outcome(() => encodeInterpreted({ kind: 'nope' } as never, 1 as never)));
  });

  test('a failed write leaves the writer as it was', () => {
    const w = new xdr.XdrWriter(16);
    w.uint32(1);
    expect(() => xdr.write(Domain, { name: 'ok', uuid: Buffer.alloc(15), id: 1 }, w)).toThrow('value.uuid: fixed-length opaque must be 16 bytes, got 15');
    expect(w.view().toString('hex')).toBe('00000001');
    xdr.write(Domain, { name: 'ok', uuid: Buffer.alloc(16), id: 1 }, w);
    expect(w.length).toBe(4 + 8 + 16 + 4);
  });

  test('decode and read keep opaque data as views of the input, also from a plain Uint8Array', () => {
    const S = xdr.struct({ o: xdr.opaque(), f: xdr.fixedOpaque(3) });
    const bytes = new Uint8Array(Buffer.from('00000002aabb0000ccddee00', 'hex'));
    const v = xdr.decode(S, bytes);
    expect(Buffer.isBuffer(v.o) && Buffer.isBuffer(v.f)).toBe(true);
    expect(v.o.buffer).toBe(bytes.buffer);
    bytes[4] = 0x11;
    expect(v.o.toString('hex')).toBe('11bb');
    // Genuine Buffers, as Buffer.from makes them: deepStrictEqual compares prototypes.
    expect(Object.getPrototypeOf(v.o)).toBe(Buffer.prototype);
    expect(Object.getPrototypeOf(v.f)).toBe(Buffer.prototype);
  });

  test('an encoding is a Buffer of its own, small (made whole) or large (from the pool)', () => {
    const S = xdr.array(xdr.int());
    for (const n of [0, 1, 15, 16, 17, 200]) {
      const bytes = xdr.encode(S, Array.from({ length: n }, (_, i) => i));
      expect(Object.getPrototypeOf(bytes)).toBe(Buffer.prototype);
      expect(bytes.length).toBe(4 + 4 * n);
      expect(bytes.equals(encodeInterpreted(S, Array.from({ length: n }, (_, i) => i)))).toBe(true);
      // Writing into one encoding leaves another made just after it alone.
      const other = xdr.encode(S, [7]);
      bytes.fill(0xff);
      expect(other.toString('hex')).toBe('0000000100000007');
    }
  });

  test('a value that changes between the passes is encoded as the reference reads it, never with stale bytes', () => {
    let n = 0;
    const value = { get name(): string { return n++ === 0 ? 'short' : 'much longer'; }, uuid: Buffer.alloc(16), id: 1 };
    const bytes = xdr.encode(Domain, value);
    expect(xdr.decode(Domain, bytes).name).toBe('much longer');
  });

  test('generated code refusing what the reference accepts is reported as a bug, not answered differently', () => {
    let n = 0;
    const value = { get name(): unknown { return n++ === 0 ? 5 : 'fine'; }, uuid: Buffer.alloc(16), id: 1 };
    expect(() => xdr.encode(Domain, value as never)).toThrow(/^xdrd bug: the compiled encoder refused a value that the reference codec accepts/);
  });

  test('strings: the short JS paths and the long native ones agree with the reference', () => {
    const S = xdr.string();
    // Lengths around 32 and 64 bytes/units, where the paths change.
    const samples = [
      '', 'a', 'é', '€', '😀', 'a😀b', '\u0000', '\u007f', '\u0080', '\u07ff\u0800\uffff', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(33), `${'x'.repeat(31)}é`,
      `${'x'.repeat(40)}é`, 'x'.repeat(64), 'x'.repeat(65), 'é'.repeat(32), 'é'.repeat(33), '😀'.repeat(16), '😀'.repeat(17), `${'x'.repeat(70)}😀`,
    ];
    for (const s of samples) {
      const bytes = encodeBoth(S, s);
      expect(bytes.ok).toBe(true);
      decodeBoth(S, (bytes as { value: Buffer }).value);
    }
    for (const s of ['\ud800', 'a\udc00', '\ud800a', '\udc00\ud800', `${'x'.repeat(70)}\ud800`, `\udfff${'x'.repeat(70)}`]) {
      expect(encodeBoth(S, s)).toMatchObject({ ok: false, error: { reason: 'string has a lone surrogate, which has no UTF-8 form' } });
    }
  });

  test('the UTF-8 check agrees with isUtf8 on every 1- to 4-byte sequence of interesting bytes', () => {
    const interesting = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff];
    const buf = Buffer.alloc(8);
    const valid = (n: number): boolean => {
      try {
        return readString(buf, 2, 2 + n) === buf.toString('utf8', 2, 2 + n);
      } catch (e) {
        if (e === FAIL) return false;
        throw e;
      }
    };
    let count = 0;
    const walk = (n: number): void => {
      if (n > 0) {
        if (valid(n) !== isUtf8(buf.subarray(2, 2 + n))) throw new Error(`UTF-8 check differs from isUtf8 on ${buf.subarray(2, 2 + n).toString('hex')}`);
        count++;
      }
      if (n < 4) {
        for (const b of interesting) {
          buf[2 + n] = b;
          walk(n + 1);
        }
      }
    };
    walk(0);
    expect(count).toBe(23 + 23 ** 2 + 23 ** 3 + 23 ** 4);
  });

  test('a struct of 2000 fields compiles and round-trips', () => {
    const fields: Record<string, Schema> = {};
    const value: Record<string, unknown> = {};
    for (let i = 0; i < 2000; i++) {
      fields[`f${i}`] = i % 3 === 0 ? xdr.string(8) : xdr.int();
      value[`f${i}`] = i % 3 === 0 ? `s${i % 100}` : i;
    }
    const S = xdr.struct(fields);
    expect(compiledEncoder(S).compiled).toBe(true);
    expect(compiledDecoder(S).compiled).toBe(true);
    const bytes = xdr.encode(S, value as never);
    expect(bytes.equals(encodeInterpreted(S, value as never))).toBe(true);
    expect(xdr.decode(S, bytes)).toStrictEqual(value);
  });

  test('deep nesting compiles into a chain of functions, without a RangeError from the generator', () => {
    let S: Schema = xdr.int();
    let value: unknown = 7;
    for (let i = 0; i < 3000; i++) {
      S = i % 2 === 0 ? xdr.struct({ a: S }) : xdr.optional(S);
      value = i % 2 === 0 ? { a: value } : value;
    }
    expect(() => compiledEncoder(S)).not.toThrow();
    expect(() => compiledDecoder(S)).not.toThrow();
    expect(compiledDecoder(S).compiled).toBe(true);
    const bytes = xdr.encode(S, value as never);
    expect(xdr.decode(S, bytes)).toEqual(value);
  });

  test('a schema shared at every level compiles to code linear in its size', () => {
    let S: Schema = xdr.struct({ x: xdr.int(), s: xdr.string(4) });
    let value: unknown = { x: 1, s: 'ab' };
    for (let i = 0; i < 40; i++) {
      S = xdr.struct({ l: S, r: S });
      if (i < 8) value = { l: value, r: value };
    }
    // 2^40 leaves if inlined; one function per level here.
    expect(compiledEncoder(S).compiled).toBe(true);
    expect(compiledDecoder(S).compiled).toBe(true);
    let small: Schema = xdr.struct({ x: xdr.int(), s: xdr.string(4) });
    for (let i = 0; i < 8; i++) small = xdr.struct({ l: small, r: small });
    const bytes = xdr.encode(small, value as never);
    expect(bytes.equals(encodeInterpreted(small, value as never))).toBe(true);
    expect(xdr.decode(small, bytes)).toStrictEqual(value);
  });

  test('unions whose cases share an arm write it once: nested 30 deep, they compile at once', () => {
    let S: Schema = xdr.int();
    for (let i = 0; i < 30; i++) {
      S = i % 3 === 0
        ? xdr.union(xdr.bool(), [xdr.arm([true, false], S)])
        : i % 3 === 1 ? xdr.union(xdr.int(), [xdr.arm([1, 2, 3], S)], { default: S }) : xdr.union(xdr.enum({ A: 0, B: 1 }), [xdr.arm(['A', 'B'], S)]);
    }
    expect(compiledEncoder(S).compiled).toBe(true);
    expect(compiledDecoder(S).compiled).toBe(true);
    let value: unknown = 5;
    for (let i = 0; i < 30; i++) value = { tag: i % 3 === 0 ? i % 2 === 0 : i % 3 === 1 ? 2 + (i % 5) : 'B', value };
    const bytes = encodeBoth(S, value);
    expect(bytes.ok).toBe(true);
    expect(decodeBoth(S, (bytes as { value: Buffer }).value)).toEqual({ ok: true, value });
  });

  test('arrays longer than the preallocation limit decode the same', () => {
    const S = xdr.array(xdr.int());
    const value = Array.from({ length: 70000 }, (_, i) => i - 35000);
    const bytes = xdr.encode(S, value);
    expect(bytes.equals(encodeInterpreted(S, value))).toBe(true);
    expect(xdr.decode(S, bytes)).toEqual(value);
  });

  test('generated code runs in plain Node, where "use strict" holds (jest\'s vm context does not enforce it)', async () => {
    const r = await runChild(path.join(__dirname, '..', 'fixtures', 'compiled-codec.js'));
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ok \d+\n$/) });
  });
});
