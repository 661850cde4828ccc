/**
 * LatencyHistogram: call durations in microseconds, kept as counts in
 * fixed buckets so percentiles can be read at any time.
 *
 * Why buckets on a log scale, 4 per power of two:
 * - Fixed memory. There are 146 buckets whatever the traffic (about 1.2 KB
 *   per histogram), so one histogram per procedure costs the same after a
 *   million calls as after one. Keeping samples would grow without bound.
 * - Cheap on the hot path. record() finds the power of two with clz32 and
 *   the quarter with at most three compares against the edge table, then
 *   does a few additions; it allocates nothing.
 * - Bounded relative error. Bucket edges are 2^(k/4) µs, so each bucket's
 *   upper edge is 2^(1/4) ≈ 1.189 times its lower edge: a reported
 *   percentile (the upper edge of its bucket) is at most ~19% above the true
 *   value, whether the call took 3 µs or 3 s. A linear scale would be either
 *   too coarse for fast calls or too large for slow ones.
 *
 * Buckets, each including its lower edge and excluding its upper edge:
 * - bucket 0: [0, 1) µs;
 * - bucket i, 1 ≤ i ≤ 144: [2^((i-1)/4), 2^(i/4)) µs;
 * - bucket 145: [2^36, ∞) µs (2^36 µs is about 19 hours).
 */

/** Buckets per power of two. */
const SUB_BUCKETS = 4;
/** Values from 2^MAX_EXPONENT µs up share the last bucket. */
const MAX_EXPONENT = 36;
const LAST = MAX_EXPONENT * SUB_BUCKETS + 1;
const BUCKETS = LAST + 1;
const OVERFLOW_US = 2 ** MAX_EXPONENT;

/** UPPER[i] is bucket i's (exclusive) upper edge; bucket i's lower edge is UPPER[i - 1], or 0 for bucket 0. */
const UPPER = new Float64Array(BUCKETS);
for (let i = 0; i < LAST; i++) UPPER[i] = 2 ** (i / SUB_BUCKETS);
UPPER[LAST] = Infinity;

/** Below this, the power of two comes from Math.clz32 (which takes a uint32). */
const CLZ_LIMIT = 2 ** 32;

/** The bucket holding `v`, a number ≥ 0 (not NaN). */
function bucketOf(v: number): number {
  if (v < 1) return 0;
  if (v < CLZ_LIMIT) {
    // Every call records two durations, so this is on the hot path: the
    // power of two from clz32 of the integer part (exact: 2^e ≤ v < 2^(e+1)),
    // then at most three table compares for the quarter. No log2.
    let i = (31 - Math.clz32(v)) * SUB_BUCKETS + 1;
    while (v >= UPPER[i]) i++;
    return i;
  }
  if (v >= OVERFLOW_US) return LAST;
  // log2 may round either way when v sits on an edge; the table decides.
  let i = Math.floor(Math.log2(v) * SUB_BUCKETS) + 1;
  if (v < UPPER[i - 1]) i--;
  else if (v >= UPPER[i]) i++;
  return i;
}

/** A summary of a LatencyHistogram; every field is 0 when nothing was recorded. */
export interface LatencySnapshot {
  count: number;
  meanUs: number;
  minUs: number;
  maxUs: number;
  /** Median, as the upper edge of its bucket (never above maxUs). */
  p50Us: number;
  p90Us: number;
  p99Us: number;
}

/**
 * Durations in microseconds in log-scale buckets (see the file comment).
 * count, sum, min and max are exact; percentiles are bucket upper edges.
 * Not thread-safe; meant for one event-loop thread.
 */
export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  private n = 0;
  private sum = 0;
  private min = Infinity;
  private max = 0;

  /**
   * Records one duration in microseconds. NaN and negative values count as
   * 0; values from 2^36 µs up go to the last bucket (max and sum keep them
   * as given).
   */
  record(us: number): void {
    const v = us > 0 ? us : 0; // false for NaN too
    this.counts[bucketOf(v)]++;
    this.n++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /** Durations recorded since creation or the last reset(). */
  get count(): number {
    return this.n;
  }

  /** Sum of the recorded durations, in µs. */
  get sumUs(): number {
    return this.sum;
  }

  /** Largest recorded duration in µs; 0 when empty. */
  get maxUs(): number {
    return this.max;
  }

  /** Smallest recorded duration in µs; 0 when empty. */
  get minUs(): number {
    return this.n === 0 ? 0 : this.min;
  }

  /**
   * The p-th percentile (0 ≤ p ≤ 100) in µs: the upper edge of the bucket
   * holding the ceil(p% × count)-th smallest duration (at least the first),
   * capped at maxUs. 0 when empty. Throws a RangeError for p outside 0..100.
   */
  percentile(p: number): number {
    if (!(p >= 0 && p <= 100)) {
      throw new RangeError(`percentile must be a number from 0 to 100, got ${String(p)}.`);
    }
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(UPPER[i], this.max);
    }
    return this.max; // not reached: the counts add up to n
  }

  /** count, mean, min, max and the 50th, 90th and 99th percentiles, in µs. */
  snapshot(): LatencySnapshot {
    if (this.n === 0) return { count: 0, meanUs: 0, minUs: 0, maxUs: 0, p50Us: 0, p90Us: 0, p99Us: 0 };
    return {
      count: this.n,
      meanUs: this.sum / this.n,
      minUs: this.min,
      maxUs: this.max,
      p50Us: this.percentile(50),
      p90Us: this.percentile(90),
      p99Us: this.percentile(99),
    };
  }

  /** Forgets everything recorded. */
  reset(): void {
    this.counts.fill(0);
    this.n = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = 0;
  }
}
