/**
 * Decode plans: a schema compiled once into the table the native core runs
 * on a worker (native/core/wire/decode_plan.h describes the words), and the
 * JS function that builds the value from the worker's flat output.
 *
 * The worker checks everything the TypeScript codec checks and writes flat
 * data: numbers in order, strings and opaque data as offsets and lengths
 * into the body. The builder made here is plain generated JS (one function
 * per schema, compiled once): it reads that data in the same order and
 * makes exactly the value `decode()` would have made. It checks nothing;
 * the plan already did.
 */
import { checkedString, makeViewer, viewOf } from './compile-runtime';
import { DEFAULT_MAX_DEPTH } from './options';
import type { DiscriminantSchema, Schema } from './types';

/** The first word of every plan ("XDP1"). */
export const PLAN_MAGIC = 0x58445031;

/** Op codes, in the order of native PlanOp. */
const OP = {
  int: 0, uint: 1, char: 2, uchar: 3, short: 4, ushort: 5, hyper: 6, uhyper: 7, float: 8, double: 9, bool: 10, void: 11,
  enum: 12, string: 13, opaque: 14, fixedOpaque: 15, array: 16, fixedArray: 17, optional: 18, struct: 19, union: 20, recursive: 21,
} as const;

/** A compiled schema: what the addon loads, and what builds values from its output. */
export interface DecodePlan {
  /** The plan's words (see decode_plan.h). */
  readonly words: Float64Array;
  /** Field names by index; the last is the top-level value's name. */
  readonly names: readonly string[];
  /**
   * Builds the value from `values` (the flat output, read from `start`) and
   * `body` (what offsets point into). Opaque data are views of `body`. The
   * decoded body starts at `at` in `body` (default 0): the server passes its
   * batch Buffer and the call's place in it, so no Buffer is made per call.
   */
  readonly build: (body: Buffer, values: Float64Array, start: number, at?: number) => unknown;
}

/**
 * Compiles `schema`. `name` starts error paths ("args"); `maxDepth` bounds
 * recursion as the codec's option does.
 */
export function compilePlan(schema: Schema, name = 'value', maxDepth = DEFAULT_MAX_DEPTH): DecodePlan {
  const c = new Compiler();
  const root = c.node(schema);
  const words = new Float64Array([PLAN_MAGIC, maxDepth, root, ...c.words]);
  // Node positions were counted from the end of the 3-word header.
  return { words, names: [...c.names, name], build: c.builder(schema) };
}

class Compiler {
  readonly words: number[] = [];
  readonly names: string[] = [];
  readonly #nameIndex = new Map<string, number>();
  readonly #at = new Map<Schema, number>();

  #name(n: string): number {
    let i = this.#nameIndex.get(n);
    if (i === undefined) {
      i = this.names.length;
      this.names.push(n);
      this.#nameIndex.set(n, i);
    }
    return i;
  }

  /** The word index of `s`'s node (header included), compiling it once. */
  node(s: Schema): number {
    if (s.kind === 'self') return this.node(s.target);
    const known = this.#at.get(s);
    if (known !== undefined) return known;
    const at = this.words.length + 3;
    this.#at.set(s, at);
    const w = this.words;
    switch (s.kind) {
      case 'int': case 'uint': case 'char': case 'uchar': case 'short': case 'ushort':
      case 'hyper': case 'uhyper': case 'float': case 'double': case 'bool': case 'void':
        w.push(OP[s.kind]);
        break;
      case 'enum':
        w.push(OP.enum, s.names.size, ...s.names.keys());
        break;
      case 'string': case 'opaque':
        w.push(OP[s.kind], s.max);
        break;
      case 'fixedOpaque':
        w.push(OP.fixedOpaque, s.length);
        break;
      case 'array': {
        const slot = this.#reserve(OP.array, 3);
        w[slot] = s.max;
        w[slot + 1] = s.element.minSize;
        w[slot + 2] = this.node(s.element);
        break;
      }
      case 'fixedArray': {
        const slot = this.#reserve(OP.fixedArray, 2);
        w[slot] = s.length;
        w[slot + 1] = this.node(s.element);
        break;
      }
      case 'optional': {
        const slot = this.#reserve(OP.optional, 1);
        w[slot] = this.node(s.element);
        break;
      }
      case 'recursive': {
        const slot = this.#reserve(OP.recursive, 1);
        w[slot] = this.node(s.body);
        break;
      }
      case 'struct': {
        const slot = this.#reserve(OP.struct, 1 + 2 * s.keys.length);
        w[slot] = s.keys.length;
        s.keys.forEach((k, i) => {
          w[slot + 1 + 2 * i] = this.#name(k);
          w[slot + 2 + 2 * i] = this.node(s.fields[k]!);
        });
        break;
      }
      case 'union': {
        const cases = [...s.armsByValue];
        const slot = this.#reserve(OP.union, 3 + 2 * cases.length);
        w[slot] = this.node(s.discriminant);
        w[slot + 1] = cases.length;
        cases.forEach(([wire, arm], i) => {
          w[slot + 2 + 2 * i] = wire;
          w[slot + 3 + 2 * i] = this.node(arm);
        });
        w[slot + 2 + 2 * cases.length] = s.defaultArm === undefined ? -1 : this.node(s.defaultArm);
        break;
      }
    }
    return at;
  }

  /** Pushes `op` and `n` placeholder words; returns the first placeholder's index. */
  #reserve(op: number, n: number): number {
    this.words.push(op);
    const slot = this.words.length;
    for (let i = 0; i < n; i++) this.words.push(0);
    return slot;
  }

  builder(schema: Schema): DecodePlan['build'] {
    return new BuilderWriter().compile(schema);
  }
}

/**
 * Writes the JS of a builder. Scalars, structs and optionals are inline
 * expressions; arrays, unions and recursive schemas get a function each
 * (shared by every place that uses the same node). The generated code reads
 * `v[i++]` in exactly the order the native decoder wrote.
 */
class BuilderWriter {
  readonly #functions: string[] = [];
  readonly #fnOf = new Map<Schema, string>();
  /** Constants the generated code refers to as k[n]: enum name maps. */
  readonly #constants: unknown[] = [];

  compile(schema: Schema): DecodePlan['build'] {
    const root = this.#expr(schema);
    const source =
      `"use strict";\nlet b, v, i, o, a;\n${this.#functions.join('\n')}\n` +
      `return function build(body, values, start, at) { b = body; v = values; i = start; a = at === undefined ? 0 : at; const r = ${root}; b = undefined; v = undefined; return r; };`;
    const factory = new Function('k', 'hyper', 'uhyper', 'str', 'view', source) as (
      k: unknown[],
      h: typeof hyper,
      u: typeof uhyper,
      str: typeof checkedString,
      view: typeof viewOf,
    ) => DecodePlan['build'];
    return factory(this.#constants, hyper, uhyper, checkedString, makeViewer());
  }

  #constant(x: unknown): string {
    this.#constants.push(x);
    return `k[${this.#constants.length - 1}]`;
  }

  #tagExpr(d: DiscriminantSchema, wire: string): string {
    if (d.kind === 'enum') return `${this.#constant(d.names)}.get(${wire})`;
    if (d.kind === 'bool') return `(${wire} === 1)`;
    return wire;
  }

  #fn(s: Schema, body: (name: string) => string): string {
    const known = this.#fnOf.get(s);
    if (known !== undefined) return `${known}()`;
    const name = `f${this.#fnOf.size}`;
    this.#fnOf.set(s, name);  // before the body: a recursive schema calls itself
    this.#functions.push(`function ${name}() {\n${body(name)}\n}`);
    return `${name}()`;
  }

  #expr(s: Schema): string {
    switch (s.kind) {
      case 'int': case 'uint': case 'char': case 'uchar': case 'short': case 'ushort':
      case 'float': case 'double':
        return 'v[i++]';
      case 'hyper':
        return 'hyper(v[i++], v[i++])';
      case 'uhyper':
        return 'uhyper(v[i++], v[i++])';
      case 'bool':
        return '(v[i++] === 1)';
      case 'void':
        return 'undefined';
      case 'enum':
        return `${this.#constant(s.names)}.get(v[i++])`;
      case 'string':
        return '(o = a + v[i++], str(b, o, o + v[i++]))';
      case 'opaque':
        return '(o = a + v[i++], view(b, o, o + v[i++]))';
      case 'fixedOpaque':
        return `(o = a + v[i++], view(b, o, o + ${s.length}))`;
      case 'optional':
        return `(v[i++] === 1 ? ${this.#expr(s.element)} : null)`;
      case 'struct':
        return `{ ${s.keys.map((k) => `${JSON.stringify(k)}: ${this.#expr(s.fields[k]!)}`).join(', ')} }`;
      case 'array':
      case 'fixedArray':
        return this.#fn(s, () => {
          const count = s.kind === 'array' ? 'v[i++]' : String(s.length);
          return `  const n = ${count}, out = [];\n  for (let j = 0; j < n; j++) out.push(${this.#expr(s.element)});\n  return out;`;
        });
      case 'union':
        return this.#fn(s, () => {
          const lines = ['  const w = v[i++];', '  switch (w) {'];
          for (const [wire, arm] of s.armsByValue) {
            lines.push(`    case ${wire}: return ${this.#armValue(s.discriminant, String(wire), arm)};`);
          }
          // The plan refuses a value no case names when there is no default.
          const def = s.defaultArm === undefined ? 'undefined' : this.#armValue(s.discriminant, 'w', s.defaultArm);
          lines.push(`    default: return ${def};`, '  }');
          return lines.join('\n');
        });
      case 'recursive':
        return this.#fn(s, () => `  return ${this.#expr(s.body)};`);
      case 'self':
        return this.#expr(s.target);
    }
  }

  #armValue(d: DiscriminantSchema, wire: string, arm: Schema): string {
    const tag = this.#tagExpr(d, wire);
    return arm.kind === 'void' ? `{ tag: ${tag} }` : `{ tag: ${tag}, value: ${this.#expr(arm)} }`;
  }
}

const TWO_32 = 4294967296;

/** A hyper from its signed high word and unsigned low word. */
function hyper(hi: number, lo: number): bigint {
  const n = hi * TWO_32 + lo;
  return Number.isSafeInteger(n) ? BigInt(n) : (BigInt(hi) << 32n) + BigInt(lo);
}

/** An unsigned hyper from its two unsigned words. */
function uhyper(hi: number, lo: number): bigint {
  const n = hi * TWO_32 + lo;
  return Number.isSafeInteger(n) ? BigInt(n) : (BigInt(hi) << 32n) + BigInt(lo);
}
