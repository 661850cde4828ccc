/**
 * Writes a schema's decoder as JS source: straight-line reads with
 * explicit bounds checks, struct values as object literals (every key in
 * order, so one hidden class per struct), arrays allocated once their count
 * has passed the same checks as in the reference codec.
 *
 * The generated functions take (buf, p, end, d, md): the input, the
 * position, the end of the readable bytes, the recursion depth and its
 * limit. They return the value and leave the new position in `q`. Any
 * failed check throws FAIL (compile-runtime.ts); the error the caller sees
 * comes from the reference codec.
 */
import { Fn, Generator, MAX_SWITCH_MEMBERS } from './compile-gen';
import type { DiscriminantSchema, EnumSchema, Schema, UnionSchema } from './types';

/**
 * The generated decoder. Both functions throw FAIL when a check fails; the
 * value they return is never FAIL otherwise.
 */
export interface DecoderCode {
  /** The one value that fills `buf`; FAIL if bytes are left after it. */
  decode(buf: Buffer, maxDepth: number): unknown;
  /** The value at `reader.pos`, within `reader.end`; moves the reader past it. */
  read(reader: { readonly buf: Buffer; pos: number; readonly end: number }, maxDepth: number): unknown;
}

/** Structs with more fields than this fill an object field by field instead of one literal. */
const MAX_LITERAL_FIELDS = 200;

const MAX_UINT32 = 0xffffffff;

/** A root this short is written twice: into `run` and into `decode`. */
const MAX_DUPLICATED_LINES = 60;

/** Arrays up to this many elements are allocated at their length before they are filled. */
const MAX_PREALLOCATED = 65536;

export function generateDecoder(root: Schema): DecoderCode {
  return new DecoderWriter(root).compile(root);
}

/** A big-endian int32 read at byte k of the next item. */
const i32 = (f: Fn, k = 0): string => `(buf[${f.at(k)}] << 24 | buf[${f.at(k + 1)}] << 16 | buf[${f.at(k + 2)}] << 8 | buf[${f.at(k + 3)}])`;
/** A big-endian uint32 read at byte k of the next item. */
const u32 = (f: Fn, k = 0): string => `(buf[${f.at(k)}] * 16777216 + (buf[${f.at(k + 1)}] << 16 | buf[${f.at(k + 2)}] << 8 | buf[${f.at(k + 3)}]))`;

class DecoderWriter extends Generator {
  compile(root: Schema): DecoderCode {
    const top = new Fn();
    const v = this.#value(root, top, false, 0);
    top.sync();
    this.drain((s, name) => this.#function(s, name));
    this.add(top.text('function run(buf, p, end, md)', ['const d = 0;'], ['q = p;', `return ${v};`]));
    // `decode`, the common entry, has the root's code itself when it is
    // short (V8 did not always inline `run` into it); `read` calls `run`.
    const decode = top.lines.length <= MAX_DUPLICATED_LINES
      ? top.text('function decode(buf, md)', ['const d = 0, end = buf.length;', 'let p = 0;'], [`return p === end ? ${v} : $F;`])
      : 'function decode(buf, md) {\n  const v = run(buf, 0, buf.length, md);\n  return q === buf.length ? v : $F;\n}';
    return this.link<DecoderCode>(
      [
        'let q = 0;',
        decode,
        'function read(r, md) {\n  const v = run(r.buf, r.pos, r.end, md);\n  r.pos = q;\n  return v;\n}',
        'return { decode, read };',
      ].join('\n'),
    );
  }

  #function(s: Schema, name: string): string {
    const f = new Fn();
    const prologue: string[] = [];
    let body = s;
    if (s.kind === 'recursive') {
      prologue.push('if (++d > md) throw $F;');
      body = s.body;
    }
    const v = this.#inline(body, f, false, 0);
    f.sync();
    return f.text(`function ${name}(buf, p, end, d, md)`, prologue, ['q = p;', `return ${v};`]);
  }

  /** Bytes [p + off, p + off + n) must be there. */
  #need(f: Fn, n: number): void {
    f.line(`if (end - p < ${f.off + n}) throw $F;`);
  }

  /**
   * Code that decodes `s`; returns the local (or constant) holding the
   * value. `checked`: the caller has checked that `s`'s fixed size is there.
   */
  #value(s: Schema, f: Fn, checked: boolean, level: number): string {
    if (s.kind === 'self') s = s.target;
    if (this.isCall(s, level)) {
      const v = f.local();
      f.sync();
      f.line(`${v} = ${this.functionName('$d', s)}(buf, p, end, d, md);`);
      f.line('p = q;');
      return v;
    }
    return this.#inline(s, f, checked, level);
  }

  #inline(s: Schema, f: Fn, checked: boolean, level: number): string {
    const fixed = this.shape.fixed.get(s);
    if (!checked && fixed !== undefined && fixed > 0) {
      this.#need(f, fixed);
      checked = true;
    }
    switch (s.kind) {
      case 'void':
        return 'undefined';
      case 'int': {
        const v = f.local();
        f.line(`${v} = ${i32(f)};`);
        f.off += 4;
        return v;
      }
      case 'uint': {
        const v = f.local();
        f.line(`${v} = ${u32(f)};`);
        f.off += 4;
        return v;
      }
      case 'char':
      case 'short': {
        const v = f.local();
        f.line(`${v} = ${i32(f)};`);
        f.line(`if (${v} < ${s.min} || ${v} > ${s.max}) throw $F;`);
        f.off += 4;
        return v;
      }
      case 'uchar':
      case 'ushort': {
        const v = f.local();
        f.line(`${v} = ${u32(f)};`);
        f.line(`if (${v} > ${s.max}) throw $F;`);
        f.off += 4;
        return v;
      }
      case 'hyper':
      case 'uhyper': {
        const v = f.local();
        f.line(`${v} = ${s.kind === 'hyper' ? '$hyper' : '$uhyper'}(buf, ${f.at()});`);
        f.off += 8;
        return v;
      }
      case 'float':
      case 'double': {
        const v = f.local();
        f.line(`${v} = buf.${s.kind === 'float' ? 'readFloatBE' : 'readDoubleBE'}(${f.at()});`);
        f.off += s.kind === 'float' ? 4 : 8;
        return v;
      }
      case 'bool': {
        const w = f.local('w');
        f.line(`${w} = ${i32(f)};`);
        f.line(`if (${w} !== 0 && ${w} !== 1) throw $F;`);
        f.off += 4;
        return `(${w} === 1)`;
      }
      case 'enum': {
        const w = f.local('w');
        f.line(`${w} = ${i32(f)};`);
        f.off += 4;
        return this.#enumName(s, f, w);
      }
      case 'string':
      case 'opaque':
        return this.#variableBytes(s.kind, s.max, f);
      case 'fixedOpaque': {
        const v = f.local();
        const n = s.length;
        f.line(`${v} = $view(buf, ${f.at()}, ${f.at(n)});`);
        const pad = (4 - (n & 3)) & 3;
        if (pad > 0) {
          const zeros = Array.from({ length: pad }, (_, i) => `buf[${f.at(n + i)}] !== 0`);
          f.line(`if (${zeros.join(' || ')}) throw $F;`);
        }
        f.off += n + pad;
        return v;
      }
      case 'array':
      case 'fixedArray':
        return this.#array(s.kind === 'array' ? s.max : undefined, s.kind === 'fixedArray' ? s.length : undefined, s.element, f, level);
      case 'optional': {
        const v = f.local();
        const w = f.local('w');
        this.#need(f, 4);
        f.line(`${w} = ${u32(f)};`);
        f.off += 4;
        f.sync();
        f.block(`if (${w} === 1) {`, () => {
          const e = this.#value(s.element, f, false, level + 1);
          f.sync();
          f.line(`${v} = ${e};`);
        });
        f.line(`else if (${w} === 0) ${v} = null;`);
        f.line('else throw $F;');
        return v;
      }
      case 'struct':
        return this.#struct(s.keys, s.fields, f, checked, level);
      case 'union':
        return this.#union(s, f, level);
      case 'recursive':
      case 'self':
        // Always calls (see isCall); kept for the exhaustive switch.
        throw new Error(`${s.kind} nodes are decoded by their own function`);
    }
  }

  /** The member name for wire value `w`, failing if it names none. */
  #enumName(s: EnumSchema, f: Fn, w: string): string {
    const v = f.local();
    if (s.names.size > MAX_SWITCH_MEMBERS) {
      f.line(`${v} = ${this.constant(s.names)}.get(${w});`);
      f.line(`if (${v} === undefined) throw $F;`);
      return v;
    }
    f.block(`switch (${w}) {`, () => {
      for (const [wire, name] of s.names) f.line(`case ${wire}: ${v} = ${JSON.stringify(name)}; break;`);
      f.line('default: throw $F;');
    });
    return v;
  }

  /** string<max> and opaque<max>: a length word, the bytes, zero padding. */
  #variableBytes(kind: 'string' | 'opaque', max: number, f: Fn): string {
    const v = f.local();
    const n = f.local('n');
    this.#need(f, 4);
    f.line(`${n} = ${u32(f)};`);
    f.off += 4;
    f.sync();
    if (max < MAX_UINT32) f.line(`if (${n} > ${max}) throw $F;`);
    // The data and its padding must be there before anything is made of them.
    f.line(`if (end - p < ${n} + ((4 - (${n} & 3)) & 3)) throw $F;`);
    f.line(kind === 'string' ? `${v} = $str(buf, p, p + ${n});` : `${v} = $view(buf, p, p + ${n});`);
    f.line(`p = $pad(buf, p + ${n}, ${n});`);
    return v;
  }

  #array(max: number | undefined, length: number | undefined, element: Schema, f: Fn, level: number): string {
    const v = f.local();
    const n = f.local('n');
    const minSize = element.minSize;
    if (length === undefined) {
      this.#need(f, 4);
      f.line(`${n} = ${u32(f)};`);
      f.off += 4;
      f.sync();
      if (max! < MAX_UINT32) f.line(`if (${n} > ${max}) throw $F;`);
      // As the reference does: the count against a lower bound of the
      // elements' size, before anything is allocated.
      f.line(`if (${n} * ${minSize} > end - p) throw $F;`);
    } else {
      if (length === 0) return '[]';
      f.sync();
      // Also a fixed-length array is allocated only once its elements can be there.
      f.line(`${n} = ${length};`);
      f.line(`if (${length * minSize} > end - p) throw $F;`);
    }
    // For fixed-size elements minSize is the size: the check above covers them all.
    const elementChecked = this.shape.fixed.get(element) === minSize;
    const i = f.local('i');
    // Preallocated up to a size V8 still gives fast elements; beyond, an
    // array grown by appending stays fast where new Array(n) would not.
    f.line(`${v} = ${n} <= ${MAX_PREALLOCATED} ? new Array(${n}) : [];`);
    f.block(`for (${i} = 0; ${i} < ${n}; ${i}++) {`, () => {
      const e = this.#value(element, f, elementChecked, level + 1);
      f.sync();
      f.line(`${v}[${i}] = ${e};`);
    });
    return v;
  }

  #struct(keys: readonly string[], fields: Readonly<Record<string, Schema>>, f: Fn, checked: boolean, level: number): string {
    const big = keys.length > MAX_LITERAL_FIELDS;
    const v = f.local();
    if (big) f.line(`${v} = {};`);
    const values: string[] = [];
    // Consecutive fixed-size fields: one bounds check for the run.
    let runChecked = 0;
    for (let i = 0; i < keys.length; i++) {
      const field = fields[keys[i]]!;
      if (!checked && runChecked === 0) {
        let run = 0;
        let j = i;
        for (; j < keys.length; j++) {
          const size = this.shape.fixed.get(fields[keys[j]]!);
          if (size === undefined) break;
          run += size;
        }
        if (j - i > 1 && run > 0) {
          this.#need(f, run);
          runChecked = j - i;
        }
      }
      const fieldChecked = checked || runChecked > 0;
      if (runChecked > 0) runChecked--;
      const e = this.#value(field, f, fieldChecked, level + 1);
      if (big) f.line(`${v}[${JSON.stringify(keys[i])}] = ${e};`);
      else values.push(`${JSON.stringify(keys[i])}: ${e}`);
    }
    if (!big) f.line(`${v} = { ${values.join(', ')} };`);
    return v;
  }

  #union(s: UnionSchema, f: Fn, level: number): string {
    const d = s.discriminant;
    const v = f.local();
    const w = f.local('w');
    this.#need(f, 4);
    f.line(`${w} = ${d.kind === 'uint' ? u32(f) : i32(f)};`);
    f.off += 4;
    f.sync();
    // Cases that share an arm share its code.
    const groups = new Map<Schema, number[]>();
    for (const [wire, arm] of s.armsByValue) {
      const g = groups.get(arm);
      if (g === undefined) groups.set(arm, [wire]);
      else g.push(wire);
    }
    f.block(`switch (${w}) {`, () => {
      for (const [arm, wires] of groups) {
        f.block(`${wires.map((x) => `case ${x}:`).join(' ')} {`, () => {
          this.#armValue(arm, this.#tag(d, w, wires, f), v, f, level);
          f.line('break;');
        });
      }
      f.block('default: {', () => {
        if (s.defaultArm === undefined) {
          f.line('throw $F;');
          return;
        }
        let tag = w;
        if (d.kind === 'enum') tag = this.#enumName(d, f, w);
        else if (d.kind === 'bool') {
          f.line(`if (${w} !== 0 && ${w} !== 1) throw $F;`);
          tag = `(${w} === 1)`;
        }
        this.#armValue(s.defaultArm, tag, v, f, level);
      });
    });
    return v;
  }

  /** The JS tag of a case group: a constant where the group has one value. */
  #tag(d: DiscriminantSchema, w: string, wires: number[], f: Fn): string {
    if (d.kind === 'int' || d.kind === 'uint') return w;
    if (d.kind === 'bool') return wires.length === 1 ? String(wires[0] === 1) : `(${w} === 1)`;
    if (wires.length === 1) return JSON.stringify(d.names.get(wires[0]!));
    const t = f.local();
    f.block(`switch (${w}) {`, () => {
      for (const x of wires) f.line(`case ${x}: ${t} = ${JSON.stringify(d.names.get(x))}; break;`);
    });
    return t;
  }

  #armValue(arm: Schema, tag: string, v: string, f: Fn, level: number): void {
    if (arm.kind === 'void') {
      f.line(`${v} = { tag: ${tag} };`);
      return;
    }
    const e = this.#value(arm, f, false, level + 1);
    f.sync();
    f.line(`${v} = { tag: ${tag}, value: ${e} };`);
  }
}
