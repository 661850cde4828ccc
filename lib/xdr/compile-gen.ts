/**
 * The parts the decoder and encoder generators share: a function being
 * written (its lines, locals and the byte offset not yet added to `p`), the
 * table of functions a schema needs, constants, limits and the final
 * `new Function`.
 */
import { RUNTIME } from './compile-runtime';
import { analyse } from './compile-shape';
import type { Shape } from './compile-shape';
import type { Schema } from './types';

/**
 * Composite nodes nested deeper than this inside one generated function go
 * into a function of their own: it bounds the generator's recursion and the
 * nesting of the generated source, whatever the schema's depth.
 */
export const MAX_INLINE_LEVEL = 24;

/** Generated source larger than this is not compiled; the schema stays interpreted. */
export const MAX_SOURCE_CHARS = 8 << 20;

/** Enums with more members than this are looked up in a table instead of a `switch`. */
export const MAX_SWITCH_MEMBERS = 32;

/** One function of generated code. */
export class Fn {
  readonly lines: string[] = [];
  readonly locals: string[] = [];
  /**
   * Bytes read or written since `p` was last advanced: runs of fixed-size
   * items address `buf[p + off]` and advance `p` once.
   */
  off = 0;
  #indent = '  ';

  /** A fresh local variable. */
  local(prefix = 't'): string {
    const name = `${prefix}${this.locals.length}`;
    this.locals.push(name);
    return name;
  }

  line(text: string): void {
    this.lines.push(this.#indent + text);
  }

  /** Lines written by `body` are indented one more level, between `open` and `close`. */
  block(open: string, body: () => void, close = '}'): void {
    this.line(open);
    const outer = this.#indent;
    this.#indent += '  ';
    body();
    this.#indent = outer;
    this.line(close);
  }

  /** `p + off + k`, the position of byte k of the next item. */
  at(k = 0): string {
    const n = this.off + k;
    return n === 0 ? 'p' : `p + ${n}`;
  }

  /** Add the pending offset to `p`. Needed before `p` is used as is. */
  sync(): void {
    if (this.off !== 0) this.line(`p += ${this.off};`);
    this.off = 0;
  }

  /** The function's text: `head {`, its locals, `prologue`, its lines, `epilogue` and `}`. */
  text(head: string, prologue: string[], epilogue: string[]): string {
    const out = [`${head} {`];
    if (this.locals.length > 0) out.push(`  let ${this.locals.join(', ')};`);
    for (const l of prologue) out.push(`  ${l}`);
    out.push(...this.lines);
    for (const l of epilogue) out.push(`  ${l}`);
    out.push('}');
    return out.join('\n');
  }
}

/** Bookkeeping for one generated module: its functions and constants. */
export abstract class Generator {
  protected readonly shape: Shape;
  readonly #constants: unknown[] = [];
  readonly #functions = new Map<Schema, string>();
  readonly #queue: Schema[] = [];
  readonly #sources: string[] = [];
  #size = 0;

  constructor(root: Schema) {
    this.shape = analyse(root);
  }

  /** The name of a constant holding `value` in the generated code. */
  protected constant(value: unknown): string {
    this.#constants.push(value);
    return `$k${this.#constants.length - 1}`;
  }

  /**
   * Whether `s` is written as a call at this level: shared and recursive
   * nodes always, other composites when nested too deep.
   */
  protected isCall(s: Schema, level: number): boolean {
    return this.shape.own.has(s) || (level > MAX_INLINE_LEVEL && s.kind !== 'self' && isCompositeKind(s));
  }

  /**
   * The name of the function (prefix + number) that handles `s`; it is
   * written later, by `drain`, so that writing it does not nest in the
   * generator's stack.
   */
  protected functionName(prefix: string, s: Schema): string {
    let name = this.#functions.get(s);
    if (name === undefined) {
      name = `${prefix}${this.#functions.size}`;
      this.#functions.set(s, name);
      this.#queue.push(s);
    }
    return name;
  }

  /** Write the queued functions with `write(node, name)`, including those they queue. */
  protected drain(write: (s: Schema, name: string) => string): void {
    for (let s = this.#queue.shift(); s !== undefined; s = this.#queue.shift()) this.add(write(s, this.#functions.get(s)!));
  }

  /** Adds a function's source; refuses sources past the size limit. */
  protected add(source: string): void {
    this.#size += source.length;
    if (this.#size > MAX_SOURCE_CHARS) throw new RangeError(`generated code exceeds ${MAX_SOURCE_CHARS} characters`);
    this.#sources.push(source);
  }

  /**
   * Compiles the functions added so far and `tail` (which returns what the
   * caller wants) under "use strict", with the runtime helpers and the
   * constants in scope.
   */
  protected link<T>(tail: string): T {
    const names = Object.keys(RUNTIME);
    const consts = this.#constants.map((_, i) => `$k${i} = $K[${i}]`);
    const source = [
      '"use strict";',
      consts.length > 0 ? `const ${consts.join(', ')};` : '',
      ...this.#sources,
      tail,
    ].join('\n');
    const factory = new Function('$K', ...names, source) as (...args: unknown[]) => T;
    return factory(this.#constants, ...names.map((n) => RUNTIME[n as keyof typeof RUNTIME]));
  }
}

function isCompositeKind(s: Schema): boolean {
  return s.kind === 'array' || s.kind === 'fixedArray' || s.kind === 'optional' || s.kind === 'struct' || s.kind === 'union';
}
