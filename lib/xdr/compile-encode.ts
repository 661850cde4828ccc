/**
 * Writes a schema's encoder as JS source, in two passes over the value:
 *
 * - `size(x, md)` checks everything the reference codec checks and returns
 *   the exact encoded size (sizes of fixed parts are summed when the code is
 *   generated, so a struct of ints costs one addition). It throws FAIL
 *   (compile-runtime.ts) on the first bad item; the caller then runs the
 *   reference codec for the error.
 * - `write(x, buf, p)` writes the value that `size` accepted at `p` and
 *   returns the position after it. It checks nothing, and writes every byte
 *   it moves past (padding as zeros), so a buffer from `allocUnsafe` leaks
 *   nothing once `write` has returned `p + size`.
 *
 * Size functions take (x, d, md): the value, the recursion depth and its
 * limit. Write functions take (x, buf, p).
 */
import { Fn, Generator, MAX_SWITCH_MEMBERS } from './compile-gen';
import { newBuffer, RUNTIME } from './compile-runtime';
import type { DiscriminantSchema, EnumSchema, Schema, UnionSchema } from './types';

/** The generated encoder. */
export interface EncoderCode {
  /** The exact size of the value's encoding; throws FAIL if the value is bad. */
  size(value: unknown, maxDepth: number): number;
  /** Writes a value that `size` accepted at `pos`; returns the position after it. */
  write(value: unknown, buf: Buffer, pos: number): number;
  /**
   * `size`, then `write` into a new Buffer of that size; FAIL if `write`
   * did not end where `size` said (the value changed in between).
   */
  encode(value: unknown, maxDepth: number): Buffer;
}

const MAX_UINT32 = 0xffffffff;

/** Fixed-length opaque data up to this many bytes are copied by unrolled code. */
const MAX_UNROLLED = 32;
const INT64_MIN = '-9223372036854775808n';
const INT64_MAX = '9223372036854775807n';
const UINT64_MAX = '18446744073709551615n';

export function generateEncoder(root: Schema): EncoderCode {
  const size = new SizeWriter(root).compile(root);
  const write = new WriteWriter(root).compile(root);
  // One small module of its own, so that its calls to size and write go to
  // these two only and V8 can inline them.
  const encode = new Function(
    'size',
    'write',
    '$F',
    'alloc',
    '"use strict";\nreturn function encode(x, md) {\n  const n = size(x, md);\n  const buf = alloc(n);\n  return write(x, buf, 0) === n ? buf : $F;\n};',
  )(size, write, RUNTIME.$F, newBuffer) as EncoderCode['encode'];
  return { size, write, encode };
}

/** The JS property access `x.key` (keys are XDR identifiers). */
const prop = (x: string, key: string): string => `${x}.${key}`;

/** Whether an integer kind is signed on the wire. */
const signed = (kind: string): boolean => kind === 'int' || kind === 'char' || kind === 'short';

// ---------------------------------------------------------------------------
// The size pass

class SizeWriter extends Generator {
  compile(root: Schema): EncoderCode['size'] {
    const top = new Fn();
    const x = top.local('x');
    top.line(`${x} = $x;`);
    const fixed = this.#size(root, top, x, 0);
    this.drain((s, name) => this.#function(s, name));
    this.add(top.text('function size($x, md)', ['const d = 0;', 'let n = 0;'], [`return n + ${fixed};`]));
    return this.link<EncoderCode['size']>('return size;');
  }

  #function(s: Schema, name: string): string {
    const f = new Fn();
    const prologue = ['let n = 0;'];
    let body = s;
    if (s.kind === 'recursive') {
      prologue.unshift('if (++d > md) throw $F;');
      body = s.body;
    }
    const x = f.local('x');
    f.line(`${x} = $x;`);
    const fixed = this.#inline(body, f, x, 0);
    return f.text(`function ${name}($x, d, md)`, prologue, [`return n + ${fixed};`]);
  }

  /**
   * Code that checks the value in local `x` against `s` and adds the part
   * of its size that depends on the value to `n`; returns the fixed part.
   */
  #size(s: Schema, f: Fn, x: string, level: number): number {
    if (s.kind === 'self') s = s.target;
    if (this.isCall(s, level)) {
      f.line(`n += ${this.functionName('$s', s)}(${x}, d, md);`);
      return 0;
    }
    return this.#inline(s, f, x, level);
  }

  #inline(s: Schema, f: Fn, x: string, level: number): number {
    switch (s.kind) {
      case 'int':
      case 'uint':
      case 'char':
      case 'uchar':
      case 'short':
      case 'ushort': {
        // (x | 0) === x holds for exactly the integers of int's range, (x >>> 0) === x for uint's.
        const cast = signed(s.kind) ? `(${x} | 0)` : `(${x} >>> 0)`;
        const narrow = s.kind === 'int' || s.kind === 'uint' ? '' : ` || ${x} < ${s.min} || ${x} > ${s.max}`;
        f.line(`if (typeof ${x} !== "number" || ${cast} !== ${x}${narrow}) throw $F;`);
        return 4;
      }
      case 'hyper':
        f.line(`if (typeof ${x} !== "bigint" || ${x} < ${INT64_MIN} || ${x} > ${INT64_MAX}) throw $F;`);
        return 8;
      case 'uhyper':
        f.line(`if (typeof ${x} !== "bigint" || ${x} < 0n || ${x} > ${UINT64_MAX}) throw $F;`);
        return 8;
      case 'float':
        // As the reference: finite values must stay finite in single precision.
        f.line(`if (typeof ${x} !== "number" || (Number.isFinite(${x}) && !Number.isFinite(Math.fround(${x})))) throw $F;`);
        return 4;
      case 'double':
        f.line(`if (typeof ${x} !== "number") throw $F;`);
        return 8;
      case 'bool':
        f.line(`if (typeof ${x} !== "boolean") throw $F;`);
        return 4;
      case 'void':
        // Ignored, as in the reference: a function typed to return void may return anything.
        return 0;
      case 'enum':
        this.#checkMember(s, f, x);
        return 4;
      case 'string': {
        const l = f.local('l');
        f.line(`if (typeof ${x} !== "string") throw $F;`);
        f.line(`${l} = $len(${x});`);
        f.line(`if (${l} < 0${s.max < MAX_UINT32 ? ` || ${l} > ${s.max}` : ''}) throw $F;`);
        f.line(`n += ${l} + ((4 - (${l} & 3)) & 3);`);
        return 4;
      }
      case 'opaque': {
        const l = f.local('l');
        f.line(`if (!(${x} instanceof $U8)) throw $F;`);
        f.line(`${l} = ${x}.length;`);
        if (s.max < MAX_UINT32) f.line(`if (${l} > ${s.max}) throw $F;`);
        f.line(`n += ${l} + ((4 - (${l} & 3)) & 3);`);
        return 4;
      }
      case 'fixedOpaque':
        f.line(`if (!(${x} instanceof $U8) || ${x}.length !== ${s.length}) throw $F;`);
        return s.length + ((4 - (s.length & 3)) & 3);
      case 'array':
      case 'fixedArray': {
        const l = f.local('l');
        const i = f.local('i');
        const e = f.local('x');
        f.line(`if (!$isArray(${x})) throw $F;`);
        f.line(`${l} = ${x}.length;`);
        if (s.kind === 'fixedArray') f.line(`if (${l} !== ${s.length}) throw $F;`);
        else if (s.max < MAX_UINT32) f.line(`if (${l} > ${s.max}) throw $F;`);
        let each = 0;
        f.block(`for (${i} = 0; ${i} < ${l}; ${i}++) {`, () => {
          f.line(`${e} = ${x}[${i}];`);
          each = this.#size(s.element, f, e, level + 1);
        });
        if (s.kind === 'fixedArray') return s.length * each;
        if (each !== 0) f.line(`n += ${l} * ${each};`);
        return 4;
      }
      case 'optional':
        f.block(`if (${x} !== null) {`, () => {
          f.line(`if (${x} === undefined) throw $F;`);
          const each = this.#size(s.element, f, x, level + 1);
          if (each !== 0) f.line(`n += ${each};`);
        });
        return 4;
      case 'struct': {
        f.line(`if (typeof ${x} !== "object" || ${x} === null || $isArray(${x})) throw $F;`);
        let fixed = 0;
        for (const k of s.keys) {
          const v = f.local('x');
          f.line(`${v} = ${prop(x, k)};`);
          fixed += this.#size(s.fields[k]!, f, v, level + 1);
        }
        return fixed;
      }
      case 'union':
        this.#union(s, f, x, level);
        return 4;
      case 'recursive':
      case 'self':
        throw new Error(`${s.kind} nodes are sized by their own function`);
    }
  }

  #checkMember(s: EnumSchema, f: Fn, x: string): void {
    if (s.names.size > MAX_SWITCH_MEMBERS) {
      f.line(`if (typeof ${x} !== "string" || !$hasOwn(${this.constant(s.values)}, ${x})) throw $F;`);
      return;
    }
    f.block(`switch (${x}) {`, () => {
      f.line(`${[...s.names.values()].map((name) => `case ${JSON.stringify(name)}:`).join(' ')} break;`);
      f.line('default: throw $F;');
    });
  }

  #union(s: UnionSchema, f: Fn, x: string, level: number): void {
    const d = s.discriminant;
    const g = f.local('g');
    f.line(`if (typeof ${x} !== "object" || ${x} === null) throw $F;`);
    f.line(`${g} = ${prop(x, 'tag')};`);
    const arm = (schema: Schema | undefined): void => {
      if (schema === undefined) {
        f.line('throw $F;');
        return;
      }
      if (schema.kind !== 'void') {
        const v = f.local('x');
        f.line(`${v} = ${prop(x, 'value')};`);
        const fixed = this.#size(schema, f, v, level + 1);
        if (fixed !== 0) f.line(`n += ${fixed};`);
      }
    };
    if (d.kind === 'bool') f.line(`if (typeof ${g} !== "boolean") throw $F;`);
    else if (d.kind !== 'enum') {
      const cast = d.kind === 'int' ? `(${g} | 0)` : `(${g} >>> 0)`;
      f.line(`if (typeof ${g} !== "number" || ${cast} !== ${g}) throw $F;`);
    }
    f.block(`switch (${g}) {`, () => {
      for (const [schema, wires] of groupArms(s)) {
        f.block(`${wires.map((w) => `case ${caseLabel(d, w)}:`).join(' ')} {`, () => {
          arm(schema);
          f.line('break;');
        });
      }
      f.block('default: {', () => {
        if (d.kind === 'enum' && s.defaultArm !== undefined) {
          f.line(`if (typeof ${g} !== "string" || !$hasOwn(${this.constant(d.values)}, ${g})) throw $F;`);
        }
        arm(s.defaultArm);
      });
    });
  }
}

// ---------------------------------------------------------------------------
// The write pass

class WriteWriter extends Generator {
  compile(root: Schema): EncoderCode['write'] {
    const top = new Fn();
    const x = top.local('x');
    top.line(`${x} = $x;`);
    this.#write(root, top, x, 0);
    top.sync();
    this.drain((s, name) => this.#function(s, name));
    this.add(top.text('function write($x, buf, p)', [], ['return p;']));
    return this.link<EncoderCode['write']>('return write;');
  }

  #function(s: Schema, name: string): string {
    const f = new Fn();
    const x = f.local('x');
    f.line(`${x} = $x;`);
    this.#inline(s.kind === 'recursive' ? s.body : s, f, x, 0);
    f.sync();
    return f.text(`function ${name}($x, buf, p)`, [], ['return p;']);
  }

  #write(s: Schema, f: Fn, x: string, level: number): void {
    if (s.kind === 'self') s = s.target;
    if (this.isCall(s, level)) {
      f.sync();
      f.line(`p = ${this.functionName('$w', s)}(${x}, buf, p);`);
      return;
    }
    this.#inline(s, f, x, level);
  }

  /** Four bytes of the int32 or uint32 expression `v` (a local or a literal). */
  #word(f: Fn, v: string): void {
    f.line(`buf[${f.at()}] = ${v} >>> 24; buf[${f.at(1)}] = ${v} >>> 16; buf[${f.at(2)}] = ${v} >>> 8; buf[${f.at(3)}] = ${v};`);
    f.off += 4;
  }

  /** A word known when the code is generated. */
  #constantWord(f: Fn, v: number): void {
    const u = v >>> 0;
    f.line(`buf[${f.at()}] = ${u >>> 24}; buf[${f.at(1)}] = ${(u >>> 16) & 255}; buf[${f.at(2)}] = ${(u >>> 8) & 255}; buf[${f.at(3)}] = ${u & 255};`);
    f.off += 4;
  }

  #inline(s: Schema, f: Fn, x: string, level: number): void {
    switch (s.kind) {
      case 'int':
      case 'uint':
      case 'char':
      case 'uchar':
      case 'short':
      case 'ushort':
        this.#word(f, x);
        return;
      case 'hyper':
      case 'uhyper':
        f.line(`$whyper(buf, ${f.at()}, ${x});`);
        f.off += 8;
        return;
      case 'float':
        f.line(`buf.writeFloatBE(${x}, ${f.at()});`);
        f.off += 4;
        return;
      case 'double':
        f.line(`buf.writeDoubleBE(${x}, ${f.at()});`);
        f.off += 8;
        return;
      case 'bool':
        f.line(`buf[${f.at()}] = 0; buf[${f.at(1)}] = 0; buf[${f.at(2)}] = 0; buf[${f.at(3)}] = ${x} ? 1 : 0;`);
        f.off += 4;
        return;
      case 'void':
        return;
      case 'enum': {
        const w = f.local('w');
        this.#memberValue(s, f, x, w);
        this.#word(f, w);
        return;
      }
      case 'string': {
        const l = f.local('l');
        f.sync();
        f.line(`${l} = $wstr(buf, p + 4, ${x});`);
        this.#word(f, l);
        f.sync();
        f.line(`p = $zeros(buf, p + ${l}, ${l});`);
        return;
      }
      case 'opaque': {
        const l = f.local('l');
        f.line(`${l} = ${x}.length;`);
        this.#word(f, l);
        f.sync();
        f.line(`p = $zeros(buf, $copy(buf, p, ${x}), ${l});`);
        return;
      }
      case 'fixedOpaque': {
        const n = s.length;
        // Short ones (uuids) byte by byte, unrolled: no loop, no call.
        if (n <= MAX_UNROLLED) {
          for (let i = 0; i < n; i += 8) {
            f.line(Array.from({ length: Math.min(8, n - i) }, (_, k) => `buf[${f.at(i + k)}] = ${x}[${i + k}];`).join(' '));
          }
        } else f.line(`$copy(buf, ${f.at()}, ${x});`);
        const pad = (4 - (n & 3)) & 3;
        if (pad > 0) f.line(Array.from({ length: pad }, (_, i) => `buf[${f.at(n + i)}] = 0;`).join(' '));
        f.off += n + pad;
        return;
      }
      case 'array':
      case 'fixedArray': {
        const l = f.local('l');
        const i = f.local('i');
        const e = f.local('x');
        f.line(`${l} = ${x}.length;`);
        if (s.kind === 'array') this.#word(f, l);
        f.sync();
        f.block(`for (${i} = 0; ${i} < ${l}; ${i}++) {`, () => {
          f.line(`${e} = ${x}[${i}];`);
          this.#write(s.element, f, e, level + 1);
          f.sync();
        });
        return;
      }
      case 'optional':
        f.sync();
        f.block(`if (${x} === null) {`, () => {
          this.#constantWord(f, 0);
          f.sync();
        });
        f.block('else {', () => {
          this.#constantWord(f, 1);
          this.#write(s.element, f, x, level + 1);
          f.sync();
        });
        return;
      case 'struct':
        for (const k of s.keys) {
          const field = s.fields[k]!;
          if (field.kind === 'void') continue;
          const v = f.local('x');
          f.line(`${v} = ${prop(x, k)};`);
          this.#write(field, f, v, level + 1);
        }
        return;
      case 'union':
        this.#union(s, f, x, level);
        return;
      case 'recursive':
      case 'self':
        throw new Error(`${s.kind} nodes are written by their own function`);
    }
  }

  #memberValue(s: EnumSchema, f: Fn, x: string, w: string): void {
    if (s.names.size > MAX_SWITCH_MEMBERS) {
      f.line(`${w} = ${this.constant(s.values)}[${x}];`);
      return;
    }
    f.block(`switch (${x}) {`, () => {
      for (const [wire, name] of s.names) f.line(`case ${JSON.stringify(name)}: ${w} = ${wire}; break;`);
      f.line(`default: ${w} = 0;`);
    });
  }

  #union(s: UnionSchema, f: Fn, x: string, level: number): void {
    const d = s.discriminant;
    const g = f.local('g');
    f.line(`${g} = ${prop(x, 'tag')};`);
    f.sync();
    const arm = (schema: Schema | undefined, wire: string | number): void => {
      if (typeof wire === 'number') this.#constantWord(f, wire);
      else this.#word(f, wire);
      if (schema !== undefined && schema.kind !== 'void') {
        const v = f.local('x');
        f.line(`${v} = ${prop(x, 'value')};`);
        this.#write(schema, f, v, level + 1);
      }
      f.sync();
    };
    f.block(`switch (${g}) {`, () => {
      for (const [schema, wires] of groupArms(s)) {
        f.block(`${wires.map((w) => `case ${caseLabel(d, w)}:`).join(' ')} {`, () => {
          if (d.kind === 'int' || d.kind === 'uint') arm(schema, g);
          else if (wires.length === 1) arm(schema, wires[0]!);
          else if (d.kind === 'bool') arm(schema, `(${g} ? 1 : 0)`);
          else {
            const w = f.local('w');
            f.line(`${w} = ${wires.map((wire) => `${g} === ${caseLabel(d, wire)} ? ${wire} : `).join('')}0;`);
            arm(schema, w);
          }
          f.line('break;');
        });
      }
      f.block('default: {', () => {
        if (d.kind === 'enum') {
          const w = f.local('w');
          f.line(`${w} = ${this.constant(d.values)}[${g}];`);
          arm(s.defaultArm, w);
        } else if (d.kind === 'bool') arm(s.defaultArm, `(${g} ? 1 : 0)`);
        else arm(s.defaultArm, g);
      });
    });
  }
}

// ---------------------------------------------------------------------------

/** A union's cases grouped by arm: cases that share an arm share its code. */
function groupArms(s: UnionSchema): Map<Schema, number[]> {
  const groups = new Map<Schema, number[]>();
  for (const [wire, arm] of s.armsByValue) {
    const g = groups.get(arm);
    if (g === undefined) groups.set(arm, [wire]);
    else g.push(wire);
  }
  return groups;
}

/** The JS tag of a wire value, as a `case` label. */
function caseLabel(d: DiscriminantSchema, wire: number): string {
  if (d.kind === 'enum') return JSON.stringify(d.names.get(wire));
  if (d.kind === 'bool') return String(wire === 1);
  return String(wire);
}
