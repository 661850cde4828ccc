/**
 * Seeded random values of any schema, drawn exactly as test/gen/all_diff.c
 * draws them for all.x's all_types: one xorshift32 stream per value, the
 * same order of draws and the same rule per type. Values are canonical
 * (DESIGN.md §7): finite floats that single precision holds exactly, ASCII
 * strings, lengths and counts within their maxima.
 */
import type { Schema } from '../../lib';

export class Rng {
  private state: number;
  constructor(seed: number, index: number) {
    this.state = (seed ^ Math.imul(index, 0x9e3779b9)) >>> 0 || 1;
  }
  next(): number {
    let x = this.state;
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    return (this.state = x);
  }
}

const upto = (r: Rng, max: number): number => r.next() % (Math.min(max, 8) + 1);
const count = (r: Rng, max: number): number => r.next() % (Math.min(max, 3) + 1);
const bytes = (r: Rng, n: number): Buffer => Buffer.from(Array.from({ length: n }, () => r.next() & 0xff));

export function randomValue(s: Schema, r: Rng): unknown {
  switch (s.kind) {
    case 'int':
      return r.next() | 0;
    case 'uint':
      return r.next();
    case 'char':
      return (r.next() << 24) >> 24;
    case 'uchar':
      return r.next() & 0xff;
    case 'short':
      return (r.next() << 16) >> 16;
    case 'ushort':
      return r.next() & 0xffff;
    case 'hyper':
    case 'uhyper': {
      const hi = BigInt(r.next());
      const lo = BigInt(r.next());
      const v = (hi << 32n) | lo;
      return s.kind === 'hyper' ? BigInt.asIntN(64, v) : v;
    }
    case 'float':
      return ((r.next() & 0xffffff) - 0x800000) / 16;
    case 'double': {
      const a = (r.next() | 0) * 1024;
      return a + (r.next() & 0xff) / 256;
    }
    case 'bool':
      return (r.next() & 1) === 1;
    case 'void':
      return undefined;
    case 'enum': {
      const names = Object.keys(s.values);
      return names[r.next() % names.length];
    }
    case 'fixedOpaque':
      return bytes(r, s.length);
    case 'opaque':
      return bytes(r, upto(r, s.max));
    case 'string': {
      const n = upto(r, s.max);
      return Array.from({ length: n }, () => String.fromCharCode(97 + (r.next() % 26))).join('');
    }
    case 'fixedArray':
      return Array.from({ length: s.length }, () => randomValue(s.element, r));
    case 'array': {
      const n = count(r, s.max);
      return Array.from({ length: n }, () => randomValue(s.element, r));
    }
    case 'optional':
      return r.next() & 1 ? randomValue(s.element, r) : null;
    case 'struct':
      return Object.fromEntries(s.keys.map((k) => [k, randomValue(s.fields[k], r)]));
    case 'union': {
      // Every case of every arm in order, then the default arm.
      const candidates = s.arms.flatMap((a) => a.cases.map((tag) => ({ tag, schema: a.schema })));
      const pick = r.next() % (candidates.length + (s.defaultArm ? 1 : 0));
      let tag: unknown;
      let schema: Schema;
      if (pick < candidates.length) {
        ({ tag, schema } = candidates[pick]);
      } else {
        const covered = new Set<unknown>(candidates.map((c) => c.tag));
        const d = s.discriminant;
        if (d.kind === 'enum' || d.kind === 'bool') {
          const all: unknown[] = d.kind === 'enum' ? Object.keys(d.values) : [true, false];
          const free = all.filter((t) => !covered.has(t));
          tag = free[r.next() % free.length];
        } else {
          do tag = d.kind === 'int' ? r.next() | 0 : r.next();
          while (covered.has(tag));
        }
        schema = s.defaultArm!;
      }
      return schema.kind === 'void' ? { tag } : { tag, value: randomValue(schema, r) };
    }
    case 'recursive':
      return randomValue(s.body, r);
    case 'self':
      return randomValue(s.target, r);
  }
}
