/**
 * Differential tests: the native decode plan (run here through the addon's
 * decodeWithPlan, on this thread) against the TypeScript codec, which is
 * the reference. For every input both must give the same value, or fail
 * with the same path, reason and offset. Inputs: the golden vectors, the
 * hostile vectors, and seeded random schemas with random canonical values
 * and random mutations of their encodings. The seed is printed; set
 * XDRD_PLAN_SEED to repeat a run.
 */
import { xdr, XdrError } from '../../lib';
import type { Schema } from '../../lib';
import { native } from '../../lib/native';
import { compilePlan } from '../../lib/xdr/plan';
import * as path from 'path';

import { runChild } from '../helpers/harness';
import { same } from '../helpers/same-value';
import { Rng, mutate, randomSchema, randomValue } from '../helpers/xdr-random';
import { goldenVectors } from '../vectors/golden';
import { hostileVectors } from '../vectors/hostile';

type Outcome = { ok: true; value: unknown } | { ok: false; path: string; reason: string; offset: number | undefined };

function viaCodec(schema: Schema, bytes: Buffer, name: string, maxDepth?: number): Outcome {
  try {
    return { ok: true, value: xdr.decode(schema, bytes, { name, maxDepth }) };
  } catch (e) {
    if (!(e instanceof XdrError)) throw e;
    return { ok: false, path: e.path, reason: e.reason, offset: e.offset };
  }
}

function viaPlan(schema: Schema, bytes: Buffer, name: string, maxDepth?: number): Outcome {
  const plan = compilePlan(schema, name, maxDepth);
  const out = native().decodeWithPlan(plan.words, plan.names, bytes);
  // Not instanceof: jest's test context has its own Float64Array.
  if (!('reason' in out)) return { ok: true, value: plan.build(bytes, out, 0) };
  return { ok: false, path: out.path, reason: out.reason, offset: out.offset };
}


function expectSameOutcome(schema: Schema, bytes: Buffer, name = 'args', maxDepth?: number): Outcome {
  const ref = viaCodec(schema, bytes, name, maxDepth);
  const got = viaPlan(schema, bytes, name, maxDepth);
  if (ref.ok && got.ok ? !same(ref.value, got.value) : !same(ref, got)) {
    throw new Error(`plan and codec differ on ${bytes.toString('hex')}:\n codec ${show(ref)}\n plan  ${show(got)}`);
  }
  return ref;
}

const show = (o: unknown): string => JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));

describe('decode plans agree with the TypeScript codec', () => {
  test.each(goldenVectors.map((v) => [v.name, v] as const))('golden: %s', (_name, v) => {
    const o = expectSameOutcome(v.schema, v.bytes, 'value');
    expect(o.ok).toBe(true);
  });

  test.each(hostileVectors.map((v) => [v.name, v] as const))('hostile: %s', (_name, v) => {
    const o = expectSameOutcome(v.schema, v.bytes, v.options?.name ?? 'value', v.options?.maxDepth);
    expect(o.ok).toBe(false);
  });

  test('seeded random schemas, values and mutations', () => {
    const seed = process.env.XDRD_PLAN_SEED !== undefined ? Number(process.env.XDRD_PLAN_SEED) : (Date.now() >>> 0);
    const r = new Rng(seed);
    const counts = { schemas: 0, values: 0, mutations: 0, mutationsDecoded: 0, mutationsRefused: 0 };
    try {
      for (let s = 0; s < 300; s++) {
        const schema = randomSchema(r);
        const maxDepth = r.chance(0.2) ? r.int(1, 4) : undefined;
        counts.schemas++;
        for (let v = 0; v < 8; v++) {
          const value = randomValue(r, schema);
          const bytes = xdr.encode(schema, value as never);
          const o = expectSameOutcome(schema, bytes, 'args', maxDepth);
          if (maxDepth === undefined && (!o.ok || !same(o.value, value))) throw new Error(`round trip failed: ${show(value)}`);
          counts.values++;
          for (let m = 0; m < 6; m++) {
            const mutated = mutate(r, bytes);
            const mo = expectSameOutcome(schema, mutated, 'args', maxDepth);
            counts.mutations++;
            if (mo.ok) counts.mutationsDecoded++;
            else counts.mutationsRefused++;
          }
        }
      }
    } catch (e) {
      throw new Error(`seed ${seed} (XDRD_PLAN_SEED=${seed} repeats it): ${(e as Error).message}`);
    }
    // The figures the note quotes; both kinds of mutation outcome occur.
    console.log(`decode plan differential: seed ${seed}, ${JSON.stringify(counts)}`);
    expect(counts.mutationsDecoded).toBeGreaterThan(100);
    expect(counts.mutationsRefused).toBeGreaterThan(1000);
  });
});

describe('decode plans in detail', () => {
  test('a body that starts at `at` in a larger Buffer builds the same value, its opaque data views of that Buffer', () => {
    const schema = xdr.struct({ name: xdr.string(64), uuid: xdr.fixedOpaque(4), data: xdr.opaque(), id: xdr.int() });
    const value = { name: 'vm-042', uuid: Buffer.from([1, 2, 3, 4]), data: Buffer.from([9, 8, 7]), id: 42 };
    const body = xdr.encode(schema, value);
    const plan = compilePlan(schema, 'args');
    const out = native().decodeWithPlan(plan.words, plan.names, body);
    if ('reason' in out) throw new Error(out.reason);
    // The same bytes 11 bytes into a batch-like Buffer, with junk around them.
    const batch = Buffer.concat([Buffer.alloc(11, 0xee), body, Buffer.alloc(5, 0xee)]);
    const built = plan.build(batch, out, 0, 11) as typeof value;
    expect(same(built, value)).toBe(true);
    expect(built.data.buffer).toBe(batch.buffer);
    expect(built.data.byteOffset).toBe(batch.byteOffset + 11 + 4 + 8 + 4 + 4);
  });

  test('builders run in plain Node, where "use strict" holds (jest\'s vm context does not enforce it)', async () => {
    const r = await runChild(path.join(__dirname, '..', 'fixtures', 'plan-builders.js'));
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, stdout: 'ok 2\n' });
  });

  test('a count of 2^32 - 1 elements in 20 bytes is refused before anything is produced', () => {
    const schema = xdr.struct({ list: xdr.array(xdr.int()) });
    const bytes = Buffer.alloc(20);
    bytes.writeUInt32BE(0xffffffff, 0);
    const o = viaPlan(schema, bytes, 'args');
    expect(o).toEqual({ ok: false, path: 'args.list', reason: 'array count 4294967295 needs at least 17179869180 bytes, 16 left', offset: 0 });
  });

  test('numbers too large for an integer print as JavaScript prints them', () => {
    // fixedArray minimum sizes multiply: 2^32-1 elements of 2^32-1 words.
    const big = xdr.fixedArray(xdr.fixedArray(xdr.int(), 0xffffffff), 0xffffffff);
    const schema = xdr.array(big);
    const bytes = Buffer.from('00000001', 'hex');
    expectSameOutcome(schema, bytes);
  });

  test('recursion stops at maxDepth with the codec\'s error', () => {
    const list = xdr.recursive((self) => xdr.struct({ v: xdr.int(), next: xdr.optional(self) }));
    const value = { v: 1, next: { v: 2, next: { v: 3, next: null } } };
    const bytes = xdr.encode(list, value);
    expect(viaPlan(list, bytes, 'args', 3)).toEqual({ ok: true, value });
    expect(viaPlan(list, bytes, 'args', 2)).toEqual(viaCodec(list, bytes, 'args', 2));
  });

  test('a malformed plan is refused with a TypeError naming the problem', () => {
    const good = compilePlan(xdr.struct({ a: xdr.int(), b: xdr.optional(xdr.string()) }));
    const run = (words: Float64Array, names = good.names): unknown => native().decodeWithPlan(words, names, Buffer.alloc(8));
    const bad = (edit: (w: Float64Array) => void): Float64Array => {
      const w = Float64Array.from(good.words);
      edit(w);
      return w;
    };
    expect(() => run(bad((w) => (w[0] = 1)))).toThrow('bad decode plan: it does not start with the plan magic');
    expect(() => run(bad((w) => (w[2] = 4)))).toThrow('bad decode plan: the root names no node');
    expect(() => run(bad((w) => (w[3] = 99)))).toThrow(/bad decode plan: unknown op/);
    expect(() => run(good.words, [])).toThrow('bad decode plan: no top-level name');
    expect(() => run(good.words.subarray(0, good.words.length - 1))).toThrow(/bad decode plan/);
    // A struct that contains itself without a recursive node in between.
    const cyclic = new Float64Array([0x58445031, 200, 3, 19, 1, 0, 3]);
    expect(() => run(cyclic, ['a', 'args'])).toThrow('bad decode plan: a schema contains itself outside a recursive node');
  });
});
