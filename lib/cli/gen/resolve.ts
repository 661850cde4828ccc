/**
 * Names and constants of one `.x` file: which definition a name means (in
 * this file or in a module given with --include), the value of every
 * constant, enum members included, and the TS name each export gets.
 */
import type * as A from './ast';
import { GenError, type Pos } from './errors';
import { renames } from './names';

/** A module given with `--include`: its resolver and the specifier the output imports it by. */
export interface Imported {
  readonly resolver: Resolver;
  readonly specifier: string;
}

export type Discriminant =
  | { readonly kind: 'int' | 'uint' | 'bool' }
  | { readonly kind: 'enum'; readonly members: ReadonlyMap<string, bigint> };

interface Found<T> {
  readonly def: T;
  /** The module it comes from, when imported. */
  readonly from?: Imported;
  readonly owner: Resolver;
}

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;
const BUILTIN_CONSTANTS = new Map([['TRUE', 1n], ['FALSE', 0n]]);

export class Resolver {
  readonly types = new Map<string, A.TypeDefinition>();
  readonly consts = new Map<string, Extract<A.Definition, { kind: 'const' }>>();
  readonly programs: Extract<A.Definition, { kind: 'program' }>[] = [];
  /** Enum members, of named and inline enums, with their values. */
  readonly members = new Map<string, { value: bigint; pos: Pos }>();
  /** Members of each enum body. */
  readonly enumValues = new Map<A.EnumBody, Map<string, bigint>>();
  /**
   * Program, version and procedure names: constants in rpcgen's C (and in
   * other constants' values, as rpcb_prot.x uses them), by their numbers.
   */
  readonly programConsts = new Map<string, A.Value>();
  /** Warnings found while resolving (enum members that share a value). */
  readonly warnings: string[] = [];
  /** Names this module exports (types, constants, programs) and where each is defined. */
  readonly defined = new Map<string, Pos>();
  /** TS names imported from each included module, by specifier, for the import lines. */
  readonly used = new Map<string, Set<string>>();
  private tsNames = new Map<string, string>();
  /** Names of struct, union and enum definitions, for `typedef struct X X;`. */
  private readonly tagged = new Set<string>();
  private evaluating = new Set<string>();
  private constValues = new Map<string, bigint>();

  constructor(
    readonly defs: readonly A.Definition[],
    private readonly defines: ReadonlyMap<string, { value: string; pos?: Pos }>,
    readonly imports: readonly Imported[],
  ) {
    for (const d of defs) if (d.kind === 'struct' || d.kind === 'union' || d.kind === 'enum') this.tagged.add(d.name);
    for (const d of defs) this.collect(d);
    for (const d of defs) this.collectEnums(d);
  }

  private claim(name: string, pos: Pos): void {
    const other = this.defined.get(name) ?? this.members.get(name)?.pos;
    if (other) throw new GenError(pos, `'${name}' is already defined at ${other.file}:${other.line}:${other.col}`);
    for (const imp of this.imports) {
      if (imp.resolver.defined.has(name) || imp.resolver.members.has(name)) {
        throw new GenError(pos, `'${name}' is already defined in ${imp.specifier}`);
      }
    }
    this.defined.set(name, pos);
  }

  private collect(d: A.Definition): void {
    switch (d.kind) {
      case 'const':
        this.claim(d.name, d.pos);
        this.consts.set(d.name, d);
        return;
      case 'program':
        this.claim(d.name, d.pos);
        this.programConsts.set(d.name, d.number);
        for (const v of d.versions) {
          this.claim(v.name, v.pos);
          this.programConsts.set(v.name, v.number);
          for (const p of v.procedures) if (!this.programConsts.has(p.name)) this.programConsts.set(p.name, p.number);
        }
        this.programs.push(d);
        return;
      case 'typedef':
        // `typedef struct X X;` names the struct X by its own name: nothing new.
        if (d.decl.shape === 'plain' && d.decl.type.kind === 'ref' && d.decl.type.name === d.name) {
          if (this.tagged.has(d.name)) return;
        }
        this.claim(d.name, d.pos);
        this.types.set(d.name, d);
        return;
      default:
        this.claim(d.name, d.pos);
        this.types.set(d.name, d);
    }
  }

  /** Walks every enum body (inline ones too) and numbers its members. */
  private collectEnums(d: A.Definition): void {
    const visitSpec = (t: A.DeclType | undefined): void => {
      if (!t) return;
      if (t.kind === 'enum') this.numberEnum(t.body);
      else if (t.kind === 'struct') t.body.fields.forEach(visitDecl);
      else if (t.kind === 'union') visitUnion(t.body);
    };
    const visitDecl = (decl: A.Decl): void => {
      if (decl.shape !== 'void') visitSpec(decl.type);
    };
    const visitUnion = (u: A.UnionBody): void => {
      visitDecl(u.discriminant);
      u.arms.forEach((a) => visitDecl(a.decl));
      if (u.defaultArm) visitDecl(u.defaultArm);
    };
    if (d.kind === 'enum') this.numberEnum(d.body);
    else if (d.kind === 'struct') d.body.fields.forEach(visitDecl);
    else if (d.kind === 'union') visitUnion(d.body);
    else if (d.kind === 'typedef') visitDecl(d.decl);
  }

  private numberEnum(body: A.EnumBody): void {
    const values = new Map<string, bigint>();
    const owners = new Map<bigint, string>();
    let next = 0n;
    for (const m of body.members) {
      const v = m.value ? this.value(m.value) : next;
      if (v < INT32_MIN || v > INT32_MAX) throw new GenError(m.value?.pos ?? m.pos, `enum member '${m.name}' = ${v} is not a 32-bit int`);
      if (!/^[A-Za-z]/.test(m.name)) throw new GenError(m.pos, `enum member '${m.name}' must start with a letter`);
      this.claim(m.name, m.pos);
      this.defined.delete(m.name); // members are constants of the .x world, not exports
      this.members.set(m.name, { value: v, pos: m.pos });
      const other = owners.get(v);
      if (other !== undefined) {
        // xdr.enum needs distinct values: the first name stands for both.
        this.warnings.push(`${m.pos.file}:${m.pos.line}:${m.pos.col}: warning: enum member '${m.name}' has the value of '${other}' (${v}); the schema knows it as '${other}'`);
      } else {
        owners.set(v, m.name);
        values.set(m.name, v);
      }
      next = v + 1n;
    }
    this.enumValues.set(body, values);
  }

  /** Reserves the name of a `--program` export. */
  claimExport(name: string, pos: Pos): void {
    this.claim(name, pos);
  }

  /** Computes the TS names; `alsoTaken` are the names imported from other modules. */
  finishNames(): void {
    const imported = this.imports.flatMap((i) => [...i.resolver.defined.keys()].map((n) => i.resolver.tsName(n)));
    this.tsNames = renames(this.defined.keys(), imported);
  }

  tsName(name: string): string {
    return this.tsNames.get(name) ?? name;
  }

  /** The renames made, for warnings. */
  renamed(): [string, string, Pos][] {
    return [...this.tsNames].map(([from, to]) => [from, to, this.defined.get(from)!]);
  }

  /** The TS name of an imported definition, noted for the import line. */
  importName(from: Imported, name: string): string {
    const ts = from.resolver.tsName(name);
    let set = this.used.get(from.specifier);
    if (!set) this.used.set(from.specifier, (set = new Set()));
    set.add(ts);
    return ts;
  }

  findType(name: string): Found<A.TypeDefinition> | undefined {
    const local = this.types.get(name);
    if (local) return { def: local, owner: this };
    for (const imp of this.imports) {
      const t = imp.resolver.types.get(name);
      if (t) return { def: t, from: imp, owner: imp.resolver };
    }
    return undefined;
  }

  findConst(name: string): Found<Extract<A.Definition, { kind: 'const' }>> | undefined {
    const local = this.consts.get(name);
    if (local) return { def: local, owner: this };
    for (const imp of this.imports) {
      const c = imp.resolver.consts.get(name);
      if (c) return { def: c, from: imp, owner: imp.resolver };
    }
    return undefined;
  }

  /** The value of a constant as written; throws naming what is missing. */
  value(v: A.Value): bigint {
    if (v.kind === 'num') return v.value;
    const { name, pos } = v;
    const c = this.findConst(name);
    if (c) {
      if (c.owner !== this) return c.owner.value({ kind: 'name', name, pos });
      const known = this.constValues.get(name);
      if (known !== undefined) return known;
      if (c.def.value.kind === 'str') throw new GenError(pos, `constant '${name}' is a string, not a number`);
      this.enter(name, pos);
      const value = this.value(c.def.value);
      this.evaluating.delete(name);
      this.constValues.set(name, value);
      return value;
    }
    const prog = this.programConsts.get(name);
    if (prog) {
      this.enter(name, pos);
      try {
        return this.value(prog);
      } finally {
        this.evaluating.delete(name);
      }
    }
    const member = this.members.get(name) ?? this.imports.map((i) => i.resolver.members.get(name)).find((m) => m);
    if (member) return member.value;
    const def = this.defines.get(name);
    if (def !== undefined) {
      const text = def.value.trim();
      const m = /^(-?)\s*(0[xX][0-9A-Fa-f]+|0[0-7]*|[1-9][0-9]*)[uUlL]*$/.exec(text);
      if (!m) throw new GenError(pos, `constant '${name}' is defined as '${text}', not as a number; give a number with -D ${name}=N`);
      const n = BigInt(/^0[0-7]+$/.test(m[2]) ? `0o${m[2].slice(1)}` : m[2]);
      return m[1] ? -n : n;
    }
    const builtin = BUILTIN_CONSTANTS.get(name);
    if (builtin !== undefined) return builtin;
    if (this.findType(name)) throw new GenError(pos, `'${name}' is a type, not a constant`);
    throw new GenError(pos, `constant '${name}' is not defined; give it with -D ${name}=VALUE`);
  }

  /** Starts evaluating a named constant: no cycles, and chains of names at most 1000 long. */
  private enter(name: string, pos: Pos): void {
    if (this.evaluating.has(name)) throw new GenError(pos, `constant '${name}' is defined in terms of itself`);
    if (this.evaluating.size >= 1000) throw new GenError(pos, 'a constant defined through more than 1000 other names');
    this.evaluating.add(name);
  }

  /** A length or maximum: 0 .. 2^32 − 1. */
  size(v: A.Value): number {
    const n = this.value(v);
    if (n < 0n || n > 0xffffffffn) throw new GenError(v.pos, `a length must be from 0 to 4294967295, got ${n}`);
    return Number(n);
  }

  /** What a union switches on, through typedefs. */
  discriminant(spec: A.DeclType, pos: Pos): Discriminant {
    let t: A.DeclType = spec;
    let owner: Resolver = this;
    for (let hops = 0; hops < 100; hops++) {
      if (t.kind === 'prim') {
        if (t.prim === 'int' || t.prim === 'uint' || t.prim === 'bool') return { kind: t.prim };
        break;
      }
      if (t.kind === 'enum') return { kind: 'enum', members: owner.enumValues.get(t.body)! };
      if (t.kind !== 'ref') break;
      const found = owner.findType(t.name);
      if (!found) throw new GenError(t.pos, `unknown type '${t.name}'`);
      owner = found.owner;
      const def = found.def;
      if (def.kind === 'enum') return { kind: 'enum', members: owner.enumValues.get(def.body)! };
      if (def.kind !== 'typedef' || def.decl.shape !== 'plain') break;
      t = def.decl.type;
    }
    throw new GenError(pos, 'a union discriminant must be int, unsigned int, bool or an enum');
  }
}
