/**
 * Fuzz target 4: `xdr.decode`, the reference (interpreted) codec and the
 * compiled one, on arbitrary bytes and on mutations of valid encodings
 * (bit flips, byte and word edits, length and count words set to edge
 * values, truncation, extension, words cut out), for schemas of every
 * construct plus seeded random schemas.
 *
 * For every input:
 *  - each decoder returns or throws XdrError, never anything else (a
 *    TypeError from generated code, or the compiled codec's "xdrd bug:"
 *    Error when the reference accepts what it refused, fail here);
 *  - the two agree: the same value, or the same path, reason and offset;
 *  - an accepted input encodes back to the same bytes, through both
 *    encoders. DESIGN.md §7: NaN payloads are not kept, so a value holding
 *    a NaN must instead re-encode to as many bytes and decode to the same
 *    value (NaN equal to NaN).
 *
 * Counterexamples become files of test/fuzz/corpus/ts-xdr/ named
 * regress-<what>: [schema index byte][body], replayed first, every run.
 */
import fc from 'fast-check';

import { xdr, XdrError } from '../../../lib';
import type { Schema } from '../../../lib';
import { decodeInterpreted, encodeInterpreted } from '../../../lib/xdr/codec';
import { compiledDecoder, compiledEncoder } from '../../../lib/xdr/compile';
import { Rng, randomSchema, randomValue } from '../../helpers/xdr-random';
import { PLANS } from '../plans';
import { budget, corpus, holdsNaN, runProperty, same, show, timeoutMs } from './common';

/** Schemas of every construct: the decode plans' eight, then what they leave out. */
const SCHEMAS: readonly Schema[] = [
  ...PLANS.map((p) => p.schema),
  // union on unsigned int with a default arm that is not void
  xdr.union(xdr.uint(), [xdr.arm([0, 0xffffffff], xdr.string()), xdr.arm(7, xdr.void())], { default: xdr.int() }),
  // union on an enum with a default; every narrow integer
  xdr.union(xdr.enum({ A: 0, B: 1, C: -2147483648, D: 2147483647 }), [xdr.arm('A', xdr.char()), xdr.arm('B', xdr.uchar())],
    { default: xdr.struct({ s: xdr.short(), u: xdr.ushort() }) }),
  // a recursive tree through a union and a bounded array
  xdr.recursive((self) => xdr.union(xdr.bool(), [xdr.arm(true, xdr.struct({ v: xdr.short(), kids: xdr.array(self, 3) })), xdr.arm(false, xdr.void())])),
  // zero-length and odd fixed sizes, padding everywhere
  xdr.struct({ z: xdr.fixedOpaque(0), o: xdr.fixedOpaque(1), e: xdr.fixedArray(xdr.opaque(5), 0), w: xdr.fixedArray(xdr.fixedOpaque(3), 2), s: xdr.string(0) }),
  // an optional inside an optional (through a struct: directly nested ones
  // are refused, see regress-nested-optional) and arrays of arrays
  xdr.optional(xdr.struct({ o: xdr.optional(xdr.array(xdr.array(xdr.uhyper(), 2), 2)) })),
  // the bare primitives, so every error path is at the top
  xdr.int(), xdr.uint(), xdr.hyper(), xdr.uhyper(), xdr.float(), xdr.double(), xdr.bool(), xdr.void(),
  xdr.enum({ X: 1 }), xdr.string(7), xdr.opaque(6), xdr.fixedOpaque(5),
];

type Outcome = { ok: true; value: unknown } | { ok: false; path: string; reason: string; offset: number | undefined };

function attempt(decode: () => unknown, who: string): Outcome {
  try {
    return { ok: true, value: decode() };
  } catch (e) {
    if (!(e instanceof XdrError)) throw new Error(`${who} threw ${(e as Error)?.constructor?.name ?? typeof e}, not XdrError: ${String(e)}`);
    return { ok: false, path: e.path, reason: e.reason, offset: e.offset };
  }
}

/** Every property of one decode; returns whether the input was accepted. */
function check(schema: Schema, bytes: Uint8Array, maxDepth?: number): boolean {
  const options = { name: 'args', maxDepth };
  const ref = attempt(() => decodeInterpreted(schema, bytes, options), 'decodeInterpreted');
  const comp = attempt(() => compiledDecoder(schema).decode(bytes, options), 'compiled decode');
  const agree = ref.ok && comp.ok ? same(ref.value, comp.value) : same(ref, comp);
  if (!agree) throw new Error(`interpreted and compiled differ on ${Buffer.from(bytes).toString('hex')}:\n interpreted ${show(ref)}\n compiled    ${show(comp)}`);
  if (!ref.ok) return false;
  for (const [who, enc] of [
    ['encodeInterpreted', () => encodeInterpreted(schema, ref.value as never, options)],
    ['compiled encode', () => compiledEncoder(schema).encode(ref.value as never, options)],
  ] as const) {
    const again = enc();
    if (Buffer.compare(again, bytes) === 0) continue;
    const why = `${who} of the decoded value ${show(ref.value)} gives ${again.toString('hex')}, not ${Buffer.from(bytes).toString('hex')}`;
    if (!holdsNaN(ref.value)) throw new Error(why);
    // A NaN's payload is not kept (DESIGN.md §7): same size, same value.
    const back = decodeInterpreted(schema, again, options);
    if (again.length !== bytes.length || !same(back, ref.value)) throw new Error(`${why}, and it does not decode to the same value`);
  }
  return true;
}

const EDGE_WORDS = [0, 1, 2, 3, 4, 5, 7, 8, 0x7fffffff, 0x80000000, 0xfffffffc, 0xffffffff, 0x100, 100, 255, 256];

/** One mutation of an encoding; positions are taken modulo its length. */
type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'word'; at: number; value: number }
  | { kind: 'truncate'; keep: number }
  | { kind: 'extend'; bytes: Uint8Array }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  // Length words, counts, flags and discriminants set to what trips them.
  fc.record({ kind: fc.constant('word' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(...EDGE_WORDS), fc.nat({ max: 0xffffffff })) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.constantFrom(...EDGE_WORDS) }),
);

function apply(bytes: Buffer, m: Mutation): Buffer {
  const out = Buffer.from(bytes);
  const words = out.length >> 2;
  switch (m.kind) {
    case 'flip':
      if (out.length > 0) out[m.at % out.length]! ^= 1 << m.bit;
      return out;
    case 'byte':
      if (out.length > 0) out[m.at % out.length] = m.value;
      return out;
    case 'word':
      if (words > 0) out.writeUInt32BE(m.value >>> 0, 4 * (m.at % words));
      return out;
    case 'truncate':
      return out.subarray(0, m.keep % (out.length + 1));
    case 'extend':
      return Buffer.concat([out, m.bytes]);
    case 'cut': {
      if (words === 0) return out;
      const at = 4 * (m.at % words);
      return Buffer.concat([out.subarray(0, at), out.subarray(at + 4)]);
    }
    case 'insert': {
      const at = 4 * (m.at % (words + 1));
      const w = Buffer.alloc(4);
      w.writeUInt32BE(m.value >>> 0);
      return Buffer.concat([out.subarray(0, at), w, out.subarray(at)]);
    }
  }
}

/** A small maxDepth sometimes, so the depth limit is met on both sides. */
const maxDepthArb = fc.option(fc.integer({ min: 1, max: 4 }), { freq: 4, nil: undefined });

/** Bytes that are often near-valid: words of small or edge values, sometimes a ragged tail. */
const wordBytes = fc
  .tuple(fc.array(fc.oneof(fc.constantFrom(...EDGE_WORDS), fc.nat({ max: 0xffffffff })), { maxLength: 24 }), fc.uint8Array({ maxLength: 3 }))
  .map(([ws, tail]) => {
    const b = Buffer.alloc(ws.length * 4);
    ws.forEach((w, i) => b.writeUInt32BE(w >>> 0, i * 4));
    return Buffer.concat([b, tail]);
  });

const SHARES = 4;

describe('fuzz target xdr: decode, interpreted and compiled', () => {
  const regressions = corpus('ts-xdr');
  if (regressions.length > 0) {
    test.each(regressions)('regression %s', (_name, bytes) => {
      expect(bytes.length).toBeGreaterThan(0);
      check(SCHEMAS[bytes[0]! % SCHEMAS.length]!, bytes.subarray(1));
    });
  }

  // The first counterexample: optional(optional(X)) decoded 00000001 00000000
  // (present, holding absent) to null, which encodes as 00000000. Such
  // schemas have two encodings of null, so the builders refuse them now.
  test('regress-nested-optional: an optional of an optional is refused when the schema is built', () => {
    const list = xdr.recursive((self) => xdr.struct({ v: xdr.int(), next: xdr.optional(self) }));
    const maybe = xdr.recursive((self) => xdr.optional(xdr.struct({ v: xdr.int(), next: xdr.array(self, 2) })));
    expect(() => xdr.optional(xdr.optional(xdr.int()))).toThrow(/optional: an optional of an optional has two encodings of null/);
    expect(() => xdr.optional(maybe)).toThrow(TypeError);
    expect(() => xdr.recursive((self) => xdr.optional(self))).toThrow(/recursive: an optional of an optional/);
    expect(() => xdr.recursive((self) => xdr.optional(xdr.struct({ next: xdr.optional(self) })))).toThrow(TypeError);
    // What stays allowed: an optional holding a struct that holds one, and the linked list.
    expect(() => xdr.optional(xdr.struct({ o: xdr.optional(xdr.int()) }))).not.toThrow();
    expect(() => xdr.optional(list)).not.toThrow();
  });

  test('arbitrary bytes, every construct', () => {
    let accepted = 0;
    const runs = runProperty('xdr arbitrary bytes', fc.property(fc.nat({ max: SCHEMAS.length - 1 }), fc.oneof(fc.uint8Array({ maxLength: 96 }), wordBytes), maxDepthArb,
      (i, bytes, maxDepth) => {
        if (check(SCHEMAS[i]!, bytes, maxDepth)) accepted++;
      }), budget(8000, SHARES));
    console.log(`xdr arbitrary bytes: ${accepted} of ${runs} accepted`);
    // Word-shaped inputs must get past the first checks now and then, or the property tests nothing but refusals.
    expect(accepted).toBeGreaterThan(0);
  }, timeoutMs(SHARES));

  test('mutations of valid encodings, every construct', () => {
    let accepted = 0;
    const runs = runProperty('xdr mutated encodings', fc.property(fc.nat({ max: SCHEMAS.length - 1 }), fc.integer(), fc.array(mutation, { minLength: 1, maxLength: 3 }), maxDepthArb,
      (i, valueSeed, mutations, maxDepth) => {
        const schema = SCHEMAS[i]!;
        const bytes = xdr.encode(schema, randomValue(new Rng(valueSeed >>> 0), schema) as never);
        // The unmutated encoding must decode to itself (and so round-trip).
        if (!check(schema, bytes)) throw new Error(`a valid encoding is refused: ${bytes.toString('hex')}`);
        if (check(schema, mutations.reduce(apply, bytes), maxDepth)) accepted++;
      }), budget(8000, SHARES));
    console.log(`xdr mutated encodings: ${accepted} of ${runs} mutations accepted`);
    expect(accepted).toBeGreaterThan(0);
  }, timeoutMs(SHARES));

  test('random schemas: their values and mutations', () => {
    const runs = runProperty('xdr random schemas', fc.property(fc.integer(), fc.array(mutation, { minLength: 0, maxLength: 3 }), maxDepthArb,
      (schemaSeed, mutations, maxDepth) => {
        const r = new Rng(schemaSeed >>> 0);
        const schema = randomSchema(r);
        const bytes = xdr.encode(schema, randomValue(r, schema) as never);
        check(schema, mutations.reduce(apply, bytes), maxDepth);
      }), budget(1500, SHARES));
    expect(runs).toBeGreaterThan(0);
  }, timeoutMs(SHARES));

  test('random schemas: arbitrary bytes', () => {
    const runs = runProperty('xdr random schemas, arbitrary bytes', fc.property(fc.integer(), fc.oneof(fc.uint8Array({ maxLength: 64 }), wordBytes), maxDepthArb,
      (schemaSeed, bytes, maxDepth) => {
        check(randomSchema(new Rng(schemaSeed >>> 0)), bytes, maxDepth);
      }), budget(1500, SHARES));
    expect(runs).toBeGreaterThan(0);
  }, timeoutMs(SHARES));
});
