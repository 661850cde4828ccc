/**
 * The syntax tree of a `.x` file: RFC 4506 §6.3 definitions plus RFC 5531
 * program definitions, with positions for error messages.
 */
import type { Pos } from './errors';

/** A constant as written: a number (sign applied; `text` as written) or a name. */
export type Value =
  | { readonly kind: 'num'; readonly value: bigint; readonly text?: string; readonly pos: Pos }
  | { readonly kind: 'name'; readonly name: string; readonly pos: Pos };

/** A string constant (rpcgen's extension): exported as a TS string, never a length. */
export interface StringValue {
  readonly kind: 'str';
  readonly value: string;
  readonly pos: Pos;
}

/** The built-in types, rpcgen's narrow ones and the C aliases mapped onto them. */
export type Prim =
  | 'int' | 'uint' | 'hyper' | 'uhyper' | 'float' | 'double' | 'bool'
  | 'char' | 'uchar' | 'short' | 'ushort' | 'quadruple';

export type TypeSpec =
  | { readonly kind: 'prim'; readonly prim: Prim; readonly pos: Pos }
  | { readonly kind: 'ref'; readonly name: string; readonly pos: Pos }
  | { readonly kind: 'enum'; readonly body: EnumBody; readonly pos: Pos }
  | { readonly kind: 'struct'; readonly body: StructBody; readonly pos: Pos }
  | { readonly kind: 'union'; readonly body: UnionBody; readonly pos: Pos };

/** `opaque` and `string` are only declarations' types, never type specifiers alone. */
export type DeclType = TypeSpec | { readonly kind: 'opaque' | 'string'; readonly pos: Pos };

/**
 * One declaration: `T x`, `T x[n]`, `T x<n>` / `T x<>`, `T *x`, or `void`.
 * `size` is absent for `<>`.
 */
export type Decl =
  | { readonly shape: 'void'; readonly pos: Pos }
  | {
      readonly shape: 'plain' | 'fixed' | 'var' | 'optional';
      readonly name: string;
      readonly type: DeclType;
      readonly size?: Value;
      readonly pos: Pos;
    };

export type NamedDecl = Exclude<Decl, { shape: 'void' }>;

export interface EnumMember {
  readonly name: string;
  /** Absent when written without `= value` (rpcgen counts on, as C does). */
  readonly value?: Value;
  readonly pos: Pos;
}
export interface EnumBody {
  readonly members: readonly EnumMember[];
}
export interface StructBody {
  readonly fields: readonly NamedDecl[];
}
export interface UnionArm {
  readonly cases: readonly Value[];
  readonly decl: Decl;
}
export interface UnionBody {
  readonly discriminant: NamedDecl;
  readonly arms: readonly UnionArm[];
  readonly defaultArm?: Decl;
}

export interface Procedure {
  readonly name: string;
  /** undefined: void. `string` (rpcgen's `string<>`) is allowed here. */
  readonly result: DeclType | undefined;
  /** Empty: void. */
  readonly args: readonly DeclType[];
  readonly number: Value;
  readonly pos: Pos;
}
export interface Version {
  readonly name: string;
  readonly number: Value;
  readonly procedures: readonly Procedure[];
  readonly pos: Pos;
}

export type Definition =
  | { readonly kind: 'const'; readonly name: string; readonly value: Value | StringValue; readonly pos: Pos }
  | { readonly kind: 'typedef'; readonly name: string; readonly decl: NamedDecl; readonly pos: Pos }
  | { readonly kind: 'enum'; readonly name: string; readonly body: EnumBody; readonly pos: Pos }
  | { readonly kind: 'struct'; readonly name: string; readonly body: StructBody; readonly pos: Pos }
  | { readonly kind: 'union'; readonly name: string; readonly body: UnionBody; readonly pos: Pos }
  | { readonly kind: 'program'; readonly name: string; readonly number: Value; readonly versions: readonly Version[]; readonly pos: Pos };

export type TypeDefinition = Extract<Definition, { kind: 'typedef' | 'enum' | 'struct' | 'union' }>;
