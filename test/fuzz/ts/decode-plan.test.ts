/**
 * Fuzz target 3, its jest half: every input of fuzz_decode_plan's corpus
 * (test/fuzz/corpus/decode_plan/, [plan index byte][body]) through the
 * native decode plan (decodeWithPlan, on this thread), the TypeScript
 * reference codec (decodeInterpreted) and the compiled decoder. All three
 * must give the same verdict; an accepted body the same value (the native
 * flat output built into objects by the plan's builder, as the server
 * does); a refused body the same path, reason and offset. The native plan
 * promises the codec's exact error text (lib/xdr/README.md, "Where a server
 * decodes"), so the whole error is comparable, and is compared.
 *
 * The plans are test/fuzz/plans.ts's; the first test fails when
 * decode_plans.inc, which the native target runs, is not what those
 * schemas compile to today.
 */
import * as fs from 'fs';
import * as path from 'path';

import { XdrError } from '../../../lib';
import type { Schema } from '../../../lib';
import { native } from '../../../lib/native';
import { decodeInterpreted } from '../../../lib/xdr/codec';
import { compiledDecoder } from '../../../lib/xdr/compile';
import { compilePlan } from '../../../lib/xdr/plan';
import { PLANS, PLAN_NAME, renderPlansInc } from '../plans';
import { corpus, same, show } from './common';

type Outcome = { ok: true; value: unknown } | { ok: false; path: string; reason: string; offset: number | undefined };

function refused(e: unknown): Outcome {
  // Anything but an XdrError is a defect of its own: let it fail the test.
  if (!(e instanceof XdrError)) throw e;
  return { ok: false, path: e.path, reason: e.reason, offset: e.offset };
}

const compiled = PLANS.map((p) => compilePlan(p.schema, PLAN_NAME, p.maxDepth));

function viaPlan(i: number, body: Buffer): Outcome {
  const plan = compiled[i]!;
  const out = native().decodeWithPlan(plan.words, plan.names, body);
  // Not instanceof: jest's test context has its own Float64Array.
  if (!('reason' in out)) return { ok: true, value: plan.build(body, out, 0) };
  return { ok: false, path: out.path, reason: out.reason, offset: out.offset };
}

function viaInterpreted(schema: Schema, body: Buffer, maxDepth: number): Outcome {
  try {
    return { ok: true, value: decodeInterpreted(schema, body, { name: PLAN_NAME, maxDepth }) };
  } catch (e) {
    return refused(e);
  }
}

function viaCompiled(schema: Schema, body: Buffer, maxDepth: number): Outcome {
  try {
    return { ok: true, value: compiledDecoder(schema).decode(body, { name: PLAN_NAME, maxDepth }) };
  } catch (e) {
    return refused(e);
  }
}

const agree = (a: Outcome, b: Outcome): boolean => (a.ok && b.ok ? same(a.value, b.value) : same(a, b));

describe('fuzz target decode_plan: plans shared with the native target', () => {
  test('decode_plans.inc is what test/fuzz/plans.ts compiles to (rerun node scripts/fuzz-plans.js if not)', () => {
    const inc = fs.readFileSync(path.join(__dirname, '..', 'decode_plans.inc'), 'utf8');
    expect(inc).toBe(renderPlansInc());
    // And the native target reads that file rather than plans of its own.
    const cc = fs.readFileSync(path.join(__dirname, '..', 'fuzz_decode_plan.cc'), 'utf8');
    expect(cc).toMatch(/#include "decode_plans\.inc"/);
    expect(cc).not.toMatch(/kPlanMagic/);
  });

  test('every plan loads in the addon and refuses an empty body (each needs at least one word)', () => {
    for (const [i, plan] of compiled.entries()) {
      const out = native().decodeWithPlan(plan.words, plan.names, Buffer.alloc(0));
      // A plan the addon cannot load throws here instead of answering.
      expect({ i, refused: 'reason' in out }).toEqual({ i, refused: true });
    }
  });
});

/**
 * In a fuzzing run (npm run fuzz), scripts/fuzz.js points FUZZ_PLAN_FOUND
 * at what fuzz_decode_plan found just before (build-native/fuzz/found/
 * decode_plan/): those inputs go through the same comparison.
 */
function found(): Array<[string, Buffer]> {
  const dir = process.env.FUZZ_PLAN_FOUND;
  if (dir === undefined || !fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).sort().map((f) => [`found/${f}`, fs.readFileSync(path.join(dir, f))]);
}

describe('fuzz target decode_plan: the corpus through plan, reference and compiled codecs', () => {
  const kept = corpus('decode_plan');
  const inputs = [...kept, ...found()];

  test('the corpus is there and reaches every plan, both verdicts', () => {
    const plansSeen = new Set<number>();
    let accepted = 0, rejected = 0;
    for (const [, bytes] of kept) {
      if (bytes.length === 0) continue;
      const i = bytes[0]! % PLANS.length;
      plansSeen.add(i);
      if (viaPlan(i, bytes.subarray(1)).ok) accepted++;
      else rejected++;
    }
    console.log(`decode_plan corpus: ${kept.length} inputs, ${accepted} accepted, ${rejected} refused; ${inputs.length - kept.length} found by fuzz_decode_plan this run`);
    expect(plansSeen.size).toBe(PLANS.length);
    expect(accepted).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });

  test.each(inputs.map(([name, bytes]) => [name, bytes] as const))('%s', (_name, bytes) => {
    // An empty input is skipped by the native target too (no plan index).
    if (bytes.length === 0) return;
    const i = bytes[0]! % PLANS.length;
    const { schema, maxDepth } = PLANS[i]!;
    // A copy the size of the body: the plan and the codecs see exactly it.
    const body = Buffer.from(bytes.subarray(1));
    const plan = viaPlan(i, body);
    const ref = viaInterpreted(schema, body, maxDepth);
    const comp = viaCompiled(schema, body, maxDepth);
    if (!agree(ref, plan) || !agree(ref, comp)) {
      throw new Error(`plan ${i}, body ${body.toString('hex')}:\n reference ${show(ref)}\n plan      ${show(plan)}\n compiled  ${show(comp)}`);
    }
  });
});
