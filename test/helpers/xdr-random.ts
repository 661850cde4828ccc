/**
 * Seeded random XDR schemas, canonical values for them (DESIGN.md §7:
 * finite floats, valid UTF-8, ranges respected) and mutations of their
 * encodings: the inputs of the differential tests between the TypeScript
 * codec and the native decode plans.
 */
import { xdr } from '../../lib';
import type { Schema } from '../../lib';
import type { Random as Rng } from '../../lib/cli/stress/random';

/** The project's seeded PRNG (the stress driver's), under the name these tests use. */
export { Random as Rng } from '../../lib/cli/stress/random';

// --- schemas ------------------------------------------------------------------

const SCALARS = ['int', 'uint', 'char', 'uchar', 'short', 'ushort', 'hyper', 'uhyper', 'float', 'double', 'bool', 'enum', 'string', 'opaque', 'fixedOpaque'] as const;

function scalar(r: Rng): Schema {
  switch (r.pick(SCALARS)) {
    case 'int': return xdr.int();
    case 'uint': return xdr.uint();
    case 'char': return xdr.char();
    case 'uchar': return xdr.uchar();
    case 'short': return xdr.short();
    case 'ushort': return xdr.ushort();
    case 'hyper': return xdr.hyper();
    case 'uhyper': return xdr.uhyper();
    case 'float': return xdr.float();
    case 'double': return xdr.double();
    case 'bool': return xdr.bool();
    case 'enum': return randomEnum(r);
    case 'string': return r.chance(0.3) ? xdr.string() : xdr.string(r.int(0, 19));
    case 'opaque': return r.chance(0.3) ? xdr.opaque() : xdr.opaque(r.int(0, 19));
    case 'fixedOpaque': return xdr.fixedOpaque(1 + r.int(0, 8));
  }
}

function randomEnum(r: Rng): Schema {
  const values: Record<string, number> = {};
  const n = 1 + r.int(0, 4);
  const used = new Set<number>();
  for (let i = 0; i < n; i++) {
    let v = r.pick([0, 1, 2, 3, -1, 0x7fffffff, -0x80000000, r.int(0, 999) - 500]);
    while (used.has(v)) v = v === 0x7fffffff ? -0x7fffffff : v + 1;
    used.add(v);
    values[`M${i}`] = v;
  }
  return xdr.enum(values);
}

/** A random schema of at most `depth` levels; sometimes recursive. */
export function randomSchema(r: Rng, depth = 4): Schema {
  if (depth <= 0 || r.chance(0.25)) return scalar(r);
  switch (r.int(0, 7)) {
    case 0: return xdr.array(element(r, depth - 1), r.chance(0.3) ? undefined : 1 + r.int(0, 5));
    case 1: return xdr.fixedArray(element(r, depth - 1), r.int(0, 3));
    case 2: {
      // An optional of an optional has two encodings of null and is refused
      // by xdr.optional; one inside a struct is fine.
      const inner = randomSchema(r, depth - 1);
      return xdr.optional(inner.kind === 'optional' ? xdr.struct({ o: inner }) : inner);
    }
    case 3: case 4: {
      const fields: Record<string, Schema> = {};
      const n = 1 + r.int(0, 3);
      for (let i = 0; i < n; i++) fields[`f${i}`] = r.chance(0.05) ? xdr.void() : randomSchema(r, depth - 1);
      return xdr.struct(fields);
    }
    case 5: case 6: return randomUnion(r, depth - 1);
    default: return randomRecursive(r, depth - 1);
  }
}

/** A schema that takes at least one byte, as array elements must. */
function element(r: Rng, depth: number): Schema {
  for (;;) {
    const s = randomSchema(r, depth);
    if (s.minSize > 0) return s;
  }
}

function randomUnion(r: Rng, depth: number, self?: Schema): Schema {
  const armSchema = (): Schema => (self !== undefined && r.chance(0.4) ? self : r.chance(0.2) ? xdr.void() : randomSchema(r, depth));
  const withDefault = r.chance(0.5);
  switch (r.int(0, 3)) {
    case 0: {
      const cases = [0, 1, 2, -1, 7, 100, 0x7fffffff].filter(() => r.chance(0.5));
      if (cases.length === 0) cases.push(3);
      const arms = cases.map((c) => xdr.arm(c, armSchema()));
      const tail = self !== undefined ? [xdr.arm(42, xdr.void())] : [];
      return xdr.union(xdr.int(), [...arms, ...tail], withDefault ? { default: armSchema() } : undefined);
    }
    case 1: {
      const arms = [xdr.arm([0, 5], armSchema()), xdr.arm(0xffffffff, armSchema()), xdr.arm(9, xdr.void())];
      return xdr.union(xdr.uint(), arms, withDefault ? { default: armSchema() } : undefined);
    }
    case 2: {
      const e = xdr.enum({ A: 0, B: 1, C: 2, D: -5 });
      const arms = [xdr.arm('A', armSchema()), xdr.arm(['B', 'D'], armSchema()), xdr.arm('C', xdr.void())];
      return xdr.union(e, r.chance(0.5) ? arms.slice(0, 2).concat(arms[2]!) : arms, withDefault ? { default: armSchema() } : undefined);
    }
    default: {
      const arms: ReturnType<typeof xdr.arm<boolean, Schema>>[] = [xdr.arm(true, armSchema())];
      if (!withDefault) arms.push(xdr.arm(false, xdr.void()));
      return xdr.union(xdr.bool(), arms, withDefault ? { default: xdr.void() } : undefined);
    }
  }
}

function randomRecursive(r: Rng, depth: number): Schema {
  const item = randomSchema(r, Math.min(depth, 2));
  switch (r.int(0, 2)) {
    case 0: return xdr.recursive((self) => xdr.struct({ item, next: xdr.optional(self) }));
    case 1: return xdr.recursive((self) => xdr.struct({ item, kids: xdr.array(self, 3) }));
    default: return xdr.recursive((self) => randomUnion(r, Math.min(depth, 2), self));
  }
}

// --- values -------------------------------------------------------------------

const CHARS = ['a', 'Z', '0', ' ', 'é', 'ß', '€', '中', '😀', '\u0000', '\u007f', '\u0800', '\uffff'];

function randomString(r: Rng, max: number): string {
  let s = '';
  const n = r.int(0, 11);
  for (let i = 0; i < n; i++) {
    const c = r.pick(CHARS);
    if (Buffer.byteLength(s + c) > max) break;
    s += c;
  }
  return s;
}

function reaches(s: Schema, target: Schema, seen = new Set<Schema>()): boolean {
  if (s === target) return true;
  if (seen.has(s)) return false;
  seen.add(s);
  switch (s.kind) {
    case 'self': return reaches(s.target, target, seen);
    case 'recursive': return reaches(s.body, target, seen);
    case 'array': case 'fixedArray': case 'optional': return reaches(s.element, target, seen);
    case 'struct': return s.keys.some((k) => reaches(s.fields[k]!, target, seen));
    case 'union': return [...s.armsByValue.values(), ...(s.defaultArm ? [s.defaultArm] : [])].some((a) => reaches(a, target, seen));
    default: return false;
  }
}

/** A canonical value of `s`; recursion ends after a few levels. */
export function randomValue(r: Rng, s: Schema, level = 0, open: Schema[] = []): unknown {
  const deep = level > 3;
  const loops = (x: Schema): boolean => open.some((o) => reaches(x, o));
  switch (s.kind) {
    case 'int': case 'uint': case 'char': case 'uchar': case 'short': case 'ushort':
      return r.pick([s.min, s.max, 0, Math.max(s.min, 1)].concat([s.min + Math.floor(r.next() * (s.max - s.min + 1))]));
    case 'hyper': return r.pick([0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), BigInt.asIntN(64, (BigInt(r.u32()) << 32n) + BigInt(r.u32())), BigInt(r.int(0, 999))]);
    case 'uhyper': return r.pick([0n, 2n ** 64n - 1n, BigInt(r.u32()) * BigInt(r.u32()), 2n ** 53n + 1n]);
    case 'float': return r.pick([0, -0, 1.5, -3.25, Math.fround(r.next() * 1e6), Math.fround(3.4e38), Math.fround(1e-40)]);
    case 'double': return r.pick([0, -0, Math.PI, -1e308, 5e-324, r.next() * 1e9, Number.MAX_SAFE_INTEGER]);
    case 'bool': return r.chance(0.5);
    case 'void': return undefined;
    case 'enum': return r.pick([...s.names.values()]);
    case 'string': return randomString(r, s.max);
    case 'opaque': {
      const n = Math.min(s.max, r.int(0, 9));
      return Buffer.from(Array.from({ length: n }, () => r.int(0, 255)));
    }
    case 'fixedOpaque': return Buffer.from(Array.from({ length: s.length }, () => r.int(0, 255)));
    case 'array': {
      const n = deep && loops(s.element) ? 0 : Math.min(s.max, r.int(0, 3));
      return Array.from({ length: n }, () => randomValue(r, s.element, level + 1, open));
    }
    case 'fixedArray': return Array.from({ length: s.length }, () => randomValue(r, s.element, level + 1, open));
    case 'optional':
      return (deep && loops(s.element)) || r.chance(0.3) ? null : randomValue(r, s.element, level + 1, open);
    case 'struct': return Object.fromEntries(s.keys.map((k) => [k, randomValue(r, s.fields[k]!, level + 1, open)]));
    case 'union': {
      type Choice = { tag: unknown; arm: Schema };
      const choices: Choice[] = [];
      const d = s.discriminant;
      const tagOf = (wire: number): unknown => (d.kind === 'enum' ? d.names.get(wire) : d.kind === 'bool' ? wire === 1 : wire);
      for (const [wire, arm] of s.armsByValue) choices.push({ tag: tagOf(wire), arm });
      if (s.defaultArm !== undefined) {
        const free = d.kind === 'enum' ? [...d.names.keys()] : d.kind === 'bool' ? [0, 1] : [12345, 0x7ffffffe, 6];
        for (const wire of free) if (!s.armsByValue.has(wire)) choices.push({ tag: tagOf(wire), arm: s.defaultArm });
      }
      const usable = deep ? choices.filter((c) => !loops(c.arm)) : choices;
      const c = r.pick(usable.length > 0 ? usable : choices);
      return c.arm.kind === 'void' ? { tag: c.tag } : { tag: c.tag, value: randomValue(r, c.arm, level + 1, open) };
    }
    case 'recursive': return randomValue(r, s.body, level + 1, [...open, s]);
    case 'self': return randomValue(r, s.target.body, level + 1, open);
  }
}

// --- mutations ------------------------------------------------------------------

const WORDS = [0, 1, 2, 3, 0xffffffff, 0x80000000, 0x7fffffff, 0xfffffffe, 0x100, 20];

/** `bytes` changed in one random way: a byte, a word, cut short, grown or a word removed. */
export function mutate(r: Rng, bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  const words = out.length >> 2;
  switch (r.int(0, 4)) {
    case 0:
      if (out.length > 0) out[r.int(0, out.length - 1)] = r.int(0, 255);
      return out;
    case 1:
      if (words > 0) out.writeUInt32BE(r.pick(WORDS), 4 * r.int(0, words - 1));
      return out;
    case 2: return out.subarray(0, r.int(0, out.length));
    case 3: return Buffer.concat([out, Buffer.from(Array.from({ length: 1 + r.int(0, 7) }, () => r.int(0, 255)))]);
    default: {
      if (words === 0) return out;
      const at = 4 * r.int(0, words - 1);
      return Buffer.concat([out.subarray(0, at), out.subarray(at + 4)]);
    }
  }
}
