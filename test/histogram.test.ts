/**
 * lib/histogram.ts: bucket edges, percentiles against known distributions,
 * and the edge cases (empty, NaN and negative input, huge values, reset).
 */
import { LatencyHistogram } from '../lib/histogram';

const STEP = 2 ** 0.25; // ratio between consecutive bucket edges

/**
 * The upper edge of the bucket holding `v`: record it with a much larger
 * value, so the median is `v`'s bucket and the maxUs cap does not apply.
 */
function upperEdgeOf(v: number): number {
  const h = new LatencyHistogram();
  h.record(v);
  h.record(2 ** 40);
  return h.percentile(50);
}

describe('bucket edges', () => {
  test.each([
    // [value, upper edge of its bucket]
    [0, 1],
    [0.5, 1],
    [0.999, 1],
    [1, 2 ** 0.25], // bucket [1, 2^(1/4))
    [1.18, 2 ** 0.25],
    [2 ** 0.25, 2 ** 0.5], // a lower edge belongs to its own bucket
    [1.9, 2], // bucket [2^(3/4), 2)
    [2, 2 ** 1.25],
    [3, 2 ** 1.75], // 3 is in [2^1.5, 2^1.75) = [2.83, 3.36)
    [1000, 1024], // [2^9.75, 2^10) = [861, 1024)
    [1024, 2 ** 10.25],
    [1_000_000, 2 ** 20], // one second
  ])('a value of %p µs is reported as %p', (v, edge) => {
    expect(upperEdgeOf(v)).toBe(edge);
  });

  test('every edge 2^(k/4) up to 2^36 starts a new bucket whose upper edge is the next one', () => {
    for (let k = 0; k < 144; k++) {
      const lower = 2 ** (k / 4);
      const upper = 2 ** ((k + 1) / 4);
      expect(upperEdgeOf(lower)).toBe(upper);
      // Just below the edge is still the bucket before it.
      const justBelow = lower * (1 - 1e-12);
      expect(upperEdgeOf(justBelow)).toBe(k === 0 ? 1 : lower);
    }
  });

  test('the reported value is never more than 2^(1/4) (~19%) above a value of 1 µs or more', () => {
    for (let v = 1; v < 2 ** 30; v *= 1.0137) {
      const edge = upperEdgeOf(v);
      expect(edge).toBeGreaterThan(v);
      expect(edge / v).toBeLessThanOrEqual(STEP * (1 + 1e-12));
    }
  });
});

describe('percentiles', () => {
  test('1..1000 µs uniform: p50, p90, p99 are within 19% above the true values', () => {
    const h = new LatencyHistogram();
    for (let v = 1; v <= 1000; v++) h.record(v);
    for (const [p, truth] of [[50, 500], [90, 900], [99, 990], [100, 1000]]) {
      const got = h.percentile(p);
      expect(got).toBeGreaterThanOrEqual(truth);
      expect(got).toBeLessThanOrEqual(truth * STEP);
    }
    expect(h.percentile(50)).toBe(2 ** 9); // 500 is in [2^8.75, 2^9) = [430.5, 512)
  });

  test('the upper edge is capped at maxUs', () => {
    const h = new LatencyHistogram();
    for (let v = 1; v <= 1000; v++) h.record(v);
    // 900 and 990 are both in [861.1, 1024), whose edge 1024 is above the maximum, 1000.
    expect(h.percentile(90)).toBe(1000);
    expect(h.percentile(99)).toBe(1000);
    expect(h.percentile(100)).toBe(1000);
    const one = new LatencyHistogram();
    one.record(3);
    expect(one.percentile(50)).toBe(3); // the bucket's edge would be 3.36
  });

  test('a skewed distribution: 99 fast calls and one slow one', () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 99; i++) h.record(100);
    h.record(50_000);
    expect(h.percentile(50)).toBe(2 ** 6.75); // 100 is in [2^6.5, 2^6.75) = [90.5, 107.6)
    expect(h.percentile(99)).toBe(2 ** 6.75); // the 99th of 100 is still fast
    expect(h.percentile(99.5)).toBe(50_000); // the 100th: edge 2^15.75 capped at max
    expect(h.percentile(0)).toBe(2 ** 6.75); // p0 is the smallest value's bucket
  });

  test('percentile() rejects p outside 0..100 and NaN', () => {
    const h = new LatencyHistogram();
    h.record(1);
    expect(() => h.percentile(-1)).toThrow(RangeError);
    expect(() => h.percentile(100.5)).toThrow(RangeError);
    expect(() => h.percentile(NaN)).toThrow(RangeError);
  });
});

describe('counters and snapshot', () => {
  test('an empty histogram reports zeros everywhere', () => {
    const h = new LatencyHistogram();
    expect(h.count).toBe(0);
    expect(h.sumUs).toBe(0);
    expect(h.minUs).toBe(0);
    expect(h.maxUs).toBe(0);
    expect(h.percentile(50)).toBe(0);
    expect(h.snapshot()).toEqual({ count: 0, meanUs: 0, minUs: 0, maxUs: 0, p50Us: 0, p90Us: 0, p99Us: 0 });
  });

  test('snapshot of known values', () => {
    const h = new LatencyHistogram();
    for (const v of [10, 20, 30, 40]) h.record(v);
    expect(h.count).toBe(4);
    expect(h.sumUs).toBe(100);
    expect(h.snapshot()).toEqual({
      count: 4,
      meanUs: 25,
      minUs: 10,
      maxUs: 40,
      p50Us: 2 ** 4.5, // 20 is in [2^4.25, 2^4.5) = [19.0, 22.6)
      p90Us: 40, // 40 is in [2^5.25, 2^5.5) = [38.1, 45.3), capped at 40
      p99Us: 40,
    });
  });

  test('NaN and negative durations are recorded as 0', () => {
    const h = new LatencyHistogram();
    h.record(NaN);
    h.record(-5);
    h.record(-0);
    expect(h.count).toBe(3);
    expect(h.sumUs).toBe(0);
    expect(h.minUs).toBe(0);
    expect(h.maxUs).toBe(0);
    expect(h.percentile(100)).toBe(0); // edge 1 capped at max 0
    h.record(8);
    expect(h.percentile(50)).toBe(1); // bucket [0, 1)
    expect(h.minUs).toBe(0);
  });

  test('huge values share the last bucket; max, sum and percentiles stay exact', () => {
    const h = new LatencyHistogram();
    h.record(2 ** 36);
    h.record(2 ** 36 - 1);
    h.record(1e15);
    expect(h.count).toBe(3);
    expect(h.maxUs).toBe(1e15);
    expect(h.sumUs).toBe(2 ** 36 + 2 ** 36 - 1 + 1e15);
    expect(h.percentile(10)).toBe(2 ** 36); // 2^36 - 1 is in the bucket just below the last
    // The last bucket has no upper edge: its percentiles are the maximum.
    expect(h.percentile(50)).toBe(1e15);
    expect(h.percentile(100)).toBe(1e15);
  });

  test('reset() forgets everything', () => {
    const h = new LatencyHistogram();
    for (let v = 1; v <= 100; v++) h.record(v * 7);
    h.reset();
    expect(h.count).toBe(0);
    expect(h.sumUs).toBe(0);
    expect(h.snapshot()).toEqual({ count: 0, meanUs: 0, minUs: 0, maxUs: 0, p50Us: 0, p90Us: 0, p99Us: 0 });
    h.record(5);
    expect(h.snapshot()).toEqual({ count: 1, meanUs: 5, minUs: 5, maxUs: 5, p50Us: 5, p90Us: 5, p99Us: 5 });
  });
});
