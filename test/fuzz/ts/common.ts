/**
 * What the fast-check targets of test/fuzz/ts/ share: the run budget, the
 * regression corpora and the equality of decoded values.
 *
 * Budget. In CI (no FUZZ_SECONDS) every property runs a fixed number of
 * cases from a fixed seed, so a failure reproduces and the whole set stays
 * well under 30 s. `FUZZ_SECONDS=N` (per target, i.e. per test file, as
 * for the native targets) gives each property of a file its share of N
 * seconds, from a fresh seed that is printed: random exploration is for
 * local runs (`npm run fuzz`).
 */
import fc from 'fast-check';
import * as fs from 'fs';
import * as path from 'path';

export { same } from '../../helpers/same-value';

const fuzzSeconds = process.env.FUZZ_SECONDS !== undefined ? Number(process.env.FUZZ_SECONDS) : undefined;
if (fuzzSeconds !== undefined && !(fuzzSeconds > 0)) throw new Error(`FUZZ_SECONDS must be a positive number, not ${process.env.FUZZ_SECONDS}`);

/** True for a local fuzzing run (FUZZ_SECONDS set). */
export const exploring = fuzzSeconds !== undefined;

/** The seed of this run: fixed in CI; FUZZ_SEED repeats an exploring run. */
export const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : exploring ? Date.now() >>> 0 : 25;

/**
 * fast-check parameters for one of `shares` properties of a target whose
 * CI run is `ciRuns` cases.
 */
export function budget(ciRuns: number, shares: number): fc.Parameters<unknown> {
  if (!exploring) return { seed, numRuns: ciRuns, endOnFailure: false };
  return {
    seed,
    numRuns: Number.MAX_SAFE_INTEGER,
    interruptAfterTimeLimit: Math.max(1, Math.floor((fuzzSeconds! * 1000) / shares)),
    markInterruptAsFailure: false,
  };
}

/** The jest timeout for a property of such a budget: its share plus room for the replay and shrinking. */
export function timeoutMs(shares: number): number {
  return exploring ? Math.ceil((fuzzSeconds! * 1000) / shares) + 120_000 : 60_000;
}

/**
 * Runs `property` and returns how many cases ran; on a counterexample it
 * throws with fast-check's report (seed, path, shrunk input), which is what
 * to turn into a regress-* file.
 */
export function runProperty<T>(label: string, property: fc.IProperty<T>, params: fc.Parameters<T>): number {
  const details = fc.check(property, params);
  if (details.failed) throw failure(label, details);
  console.log(`fuzz ${label}: ${details.numRuns} runs, seed ${seed}${details.interrupted ? ' (time budget reached)' : ''}`);
  return details.numRuns;
}

/** fast-check's report (seed, path, shrunk counterexample) with the property's own error. */
export function failure<T>(label: string, details: fc.RunDetails<T>): Error {
  const cause = details.errorInstance instanceof Error ? `${details.errorInstance.message}\n` : '';
  return new Error(`${label}: ${cause}${fc.defaultReportMessage(details)}`);
}

/** A corpus folder of test/fuzz/corpus/ and its files (name, bytes), sorted by name. */
export function corpus(name: string): Array<[string, Buffer]> {
  const dir = corpusDir(name);
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f))]);
}

export function corpusDir(name: string): string {
  return path.join(__dirname, '..', 'corpus', name);
}


/** Whether a decoded value holds a NaN anywhere (its payload is not kept: DESIGN.md §7). */
export function holdsNaN(v: unknown): boolean {
  if (typeof v === 'number') return Number.isNaN(v);
  if (Buffer.isBuffer(v)) return false;
  if (Array.isArray(v)) return v.some(holdsNaN);
  if (typeof v === 'object' && v !== null) return Object.values(v).some(holdsNaN);
  return false;
}

export const show = (o: unknown): string =>
  JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : Buffer.isBuffer(v) ? `<${v.toString('hex')}>` : v));
