/**
 * The stress tool's only source of randomness: a seeded PRNG (mulberry32),
 * so that a run can be repeated from the seed it prints. Timing still
 * differs between runs (threads, the kernel), but every choice the driver
 * makes — which procedure, which body, where a frame is cut, which malformed
 * frame — comes from here.
 *
 * Each scenario gets its own stream (`fork`), made in a fixed order before
 * anything runs concurrently, so that one scenario finishing early does not
 * shift the choices of another.
 */
import { randomBytes } from 'crypto';

/** A fresh seed for a run that was not given one. */
export function newSeed(): number {
  return randomBytes(4).readUInt32BE(0);
}

/** FNV-1a: a stable number for a fork's label. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    // mulberry32: small, fast and good enough to pick test cases.
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An unsigned 32-bit integer. */
  u32(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }

  /** An integer from `lo` to `hi`, both included. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.u32();
      for (let k = 0; k < 4 && i + k < n; k++) b[i + k] = (v >>> (8 * k)) & 0xff;
    }
    return b;
  }

  /** An independent stream for one scenario, derived from this one and a label. */
  fork(label: string): Random {
    return new Random((hashLabel(label) ^ this.u32()) >>> 0);
  }
}
