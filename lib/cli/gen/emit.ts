/**
 * Schema expressions on the public schema language (`xdr.struct(...)`, …)
 * for declarations and type definitions, formatted two spaces per level.
 *
 * Recursion: a type on a cycle (order.ts) is written as
 * `xdr.recursive(($self) => body)`, where `body` is its own definition with
 * every other type of its cycle written out inline; a reference back to the
 * type being defined is `$self`. When an inlined type is reached again
 * below itself (two cycles through different types), it gets its own
 * nested `xdr.recursive(($self2) => ...)`. `$` keeps these names apart from
 * every `.x` name.
 */
import type * as A from './ast';
import { GenError, LIMITS, type Pos } from './errors';
import type { Resolver } from './resolve';

const PRIMS: Record<Exclude<A.Prim, 'quadruple'>, string> = {
  int: 'xdr.int()', uint: 'xdr.uint()', hyper: 'xdr.hyper()', uhyper: 'xdr.uhyper()',
  float: 'xdr.float()', double: 'xdr.double()', bool: 'xdr.bool()',
  char: 'xdr.char()', uchar: 'xdr.uchar()', short: 'xdr.short()', ushort: 'xdr.ushort()',
};

interface Self {
  readonly name: string;
  used: boolean;
}

/** Where an expression is being written: the cycle it belongs to, if any. */
interface Context {
  readonly component?: ReadonlySet<string>;
  readonly selves: ReadonlyMap<string, Self>;
  readonly budget: { n: number; pos: Pos };
}

/**
 * A number for the output: hex stays hex as written (octal and decimal are
 * written in decimal, TypeScript has no `010`), and a bigint literal past
 * 2^53.
 */
export function numberText(v: Extract<A.Value, { kind: 'num' }>): string {
  const safe = v.value >= BigInt(Number.MIN_SAFE_INTEGER) && v.value <= BigInt(Number.MAX_SAFE_INTEGER);
  const text = v.text !== undefined && /^-?0[xX]/.test(v.text) ? v.text : String(v.value);
  return safe ? text : `${text}n`;
}

export class SchemaWriter {
  constructor(
    private readonly r: Resolver,
    private readonly cyclic: ReadonlyMap<string, ReadonlySet<string>>,
  ) {}

  /** The expression a top-level type definition is exported as. */
  definition(def: A.TypeDefinition): string {
    const component = this.cyclic.get(def.name);
    const budget = { n: 0, pos: def.pos };
    if (!component) return this.body(def, { selves: new Map(), budget }, '');
    const self: Self = { name: '$self', used: false };
    const body = this.body(def, { component, selves: new Map([[def.name, self]]), budget }, '');
    return `xdr.recursive((${self.name}) => ${body})`;
  }

  /** A number or the name of a `const` (imported when it comes from another module). */
  valueText(v: A.Value): string {
    if (v.kind === 'name') {
      const c = this.r.findConst(v.name);
      if (c) {
        this.r.value(v);
        return c.from ? this.r.importName(c.from, v.name) : this.r.tsName(v.name);
      }
    }
    return v.kind === 'num' ? numberText(v) : String(this.r.value(v));
  }

  private sizeText(v: A.Value): string {
    this.r.size(v);
    return this.valueText(v);
  }

  private body(def: A.TypeDefinition, ctx: Context, ind: string): string {
    switch (def.kind) {
      case 'typedef':
        return this.decl(def.decl, ctx, ind);
      case 'enum':
        return this.enumBody(def.body, ind);
      case 'struct':
        return this.structBody(def.body, ctx, ind);
      case 'union':
        return this.unionBody(def.body, ctx, ind);
    }
  }

  decl(d: A.Decl, ctx: Context, ind: string): string {
    if (++ctx.budget.n > LIMITS.recursiveExpansion) {
      throw new GenError(ctx.budget.pos, `this definition expands to more than ${LIMITS.recursiveExpansion} schema nodes (recursive types too entangled)`);
    }
    if (d.shape === 'void') return 'xdr.void()';
    const t = d.type;
    switch (d.shape) {
      case 'plain':
        return this.spec(t, ctx, ind);
      case 'optional':
        if (t.kind === 'ref' && this.optionalTypedef(t)) {
          // xdr.optional() refuses it too, but only when the module is loaded; say it here, with a position.
          throw new GenError(t.pos, `'${t.name} *': '${t.name}' is already optional, and an optional of an optional has two encodings of null, which xdr.optional refuses`);
        }
        return `xdr.optional(${this.spec(t, ctx, ind)})`;
      case 'fixed':
        if (t.kind === 'opaque') return `xdr.fixedOpaque(${this.sizeText(d.size!)})`;
        return `xdr.fixedArray(${this.spec(t, ctx, ind)}, ${this.sizeText(d.size!)})`;
      case 'var': {
        const max = d.size ? this.sizeText(d.size) : '';
        if (t.kind === 'opaque') return `xdr.opaque(${max})`;
        if (t.kind === 'string') return `xdr.string(${max})`;
        return `xdr.array(${this.spec(t, ctx, ind)}${max ? `, ${max}` : ''})`;
      }
    }
  }

  spec(t: A.DeclType, ctx: Context, ind: string): string {
    switch (t.kind) {
      case 'prim':
        if (t.prim === 'quadruple') throw new GenError(t.pos, 'quadruple (128-bit float) is not supported: JavaScript has no value for it');
        return PRIMS[t.prim];
      case 'enum':
        return this.enumBody(t.body, ind);
      case 'struct':
        return this.structBody(t.body, ctx, ind);
      case 'union':
        return this.unionBody(t.body, ctx, ind);
      case 'ref':
        return this.ref(t.name, t.pos, ctx, ind);
      default:
        throw new GenError(t.pos, `'${t.kind}' needs a length here`);
    }
  }

  /** Whether `t` names a typedef that is (through plain typedefs) an optional, i.e. `typedef T *name;`. */
  private optionalTypedef(t: A.DeclType): boolean {
    let owner = this.r;
    const seen = new Set<string>();
    for (let cur: A.DeclType = t; cur.kind === 'ref' && !seen.has(cur.name); ) {
      seen.add(cur.name);
      const found = owner.findType(cur.name);
      if (!found || found.def.kind !== 'typedef') return false;
      if (found.def.decl.shape === 'optional') return true;
      if (found.def.decl.shape !== 'plain') return false;
      owner = found.owner;
      cur = found.def.decl.type;
    }
    return false;
  }

  private ref(name: string, pos: Pos, ctx: Context, ind: string): string {
    const found = this.r.findType(name);
    if (!found) {
      if (this.r.findConst(name) || this.r.members.has(name)) throw new GenError(pos, `'${name}' is a constant, not a type`);
      throw new GenError(pos, `unknown type '${name}'`);
    }
    if (found.from) return this.r.importName(found.from, name);
    if (!ctx.component?.has(name)) return this.r.tsName(name);
    const self = ctx.selves.get(name);
    if (self) {
      self.used = true;
      return self.name;
    }
    if (ctx.selves.size >= LIMITS.recursiveNesting) {
      throw new GenError(pos, `recursive types nested more than ${LIMITS.recursiveNesting} deep in one definition`);
    }
    // Another type of the cycle: written out here, with its own `$selfN` in
    // case it comes back to itself before it comes back to the outer type.
    const inner: Self = { name: `$self${ctx.selves.size + 1}`, used: false };
    const selves = new Map(ctx.selves).set(name, inner);
    const body = this.body(found.def, { ...ctx, selves }, ind);
    return inner.used ? `xdr.recursive((${inner.name}) => ${body})` : body;
  }

  private enumBody(body: A.EnumBody, ind: string): string {
    const values = this.r.enumValues.get(body)!;
    const lines = [...values].map(([name, v]) => `${ind}  ${name}: ${v},\n`);
    return `xdr.enum({\n${lines.join('')}${ind}})`;
  }

  private structBody(body: A.StructBody, ctx: Context, ind: string): string {
    const seen = new Set<string>();
    const lines = body.fields.map((f) => {
      if (!/^[A-Za-z]/.test(f.name)) throw new GenError(f.pos, `field '${f.name}' must start with a letter`);
      if (seen.has(f.name)) throw new GenError(f.pos, `field '${f.name}' appears twice`);
      seen.add(f.name);
      return `${ind}  ${f.name}: ${this.decl(f, ctx, `${ind}  `)},\n`;
    });
    return `xdr.struct({\n${lines.join('')}${ind}})`;
  }

  private unionBody(body: A.UnionBody, ctx: Context, ind: string): string {
    const d = body.discriminant;
    const disc = this.r.discriminant(d.type, d.pos);
    const discText = this.spec(d.type, ctx, ind);
    const seen = new Set<string>();
    const arms = body.arms.map((arm) => {
      const cases = arm.cases.map((c) => {
        const text = this.caseText(c, disc);
        if (seen.has(text)) throw new GenError(c.pos, `case ${text} appears twice`);
        seen.add(text);
        return text;
      });
      const label = cases.length === 1 ? cases[0] : `[${cases.join(', ')}]`;
      return `${ind}  xdr.arm(${label}, ${this.decl(arm.decl, ctx, `${ind}  `)}),\n`;
    });
    const def = body.defaultArm ? `, { default: ${this.decl(body.defaultArm, ctx, ind)} }` : '';
    return `xdr.union(${discText}, [\n${arms.join('')}${ind}]${def})`;
  }

  private caseText(c: A.Value, disc: ReturnType<Resolver['discriminant']>): string {
    if (disc.kind === 'enum') {
      if (c.kind === 'name' && disc.members.has(c.name)) return `'${c.name}'`;
      const v = this.r.value(c);
      for (const [name, n] of disc.members) if (n === v) return `'${name}'`;
      throw new GenError(c.pos, `case ${c.kind === 'name' ? c.name : v} is not a member of the discriminant's enum`);
    }
    const v = this.r.value(c);
    if (disc.kind === 'bool') {
      if (v !== 0n && v !== 1n) throw new GenError(c.pos, `a bool case must be TRUE or FALSE, got ${v}`);
      return v === 1n ? 'true' : 'false';
    }
    const [min, max] = disc.kind === 'int' ? [-(2n ** 31n), 2n ** 31n - 1n] : [0n, 2n ** 32n - 1n];
    if (v < min || v > max) throw new GenError(c.pos, `case ${v} is out of range for ${disc.kind === 'int' ? 'int' : 'unsigned int'}`);
    return String(v);
  }
}
