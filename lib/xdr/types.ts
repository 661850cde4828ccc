/**
 * Schema nodes and the types inferred from them.
 *
 * A schema is a frozen plain object with a `kind`. The builders in schema.ts
 * are the only way to make one; the codec in codec.ts walks them.
 *
 * `minSize` on every node is a lower bound of the node's encoded size in
 * bytes. The decoder uses it to reject an array count that cannot fit in the
 * bytes left before it allocates anything for the elements.
 */

/** The 4-byte integer kinds: the RFC 4506 ones and rpcgen's narrow ones. */
export type IntKind = 'int' | 'uint' | 'char' | 'uchar' | 'short' | 'ushort';

export interface IntSchema<K extends IntKind = IntKind> {
  readonly kind: K;
  readonly minSize: 4;
  readonly min: number;
  readonly max: number;
}

export interface HyperSchema<K extends 'hyper' | 'uhyper' = 'hyper' | 'uhyper'> {
  readonly kind: K;
  readonly minSize: 8;
}

export interface FloatSchema {
  readonly kind: 'float';
  readonly minSize: 4;
}

export interface DoubleSchema {
  readonly kind: 'double';
  readonly minSize: 8;
}

export interface BoolSchema {
  readonly kind: 'bool';
  readonly minSize: 4;
}

export interface VoidSchema {
  readonly kind: 'void';
  readonly minSize: 0;
}

/** Values are the member names; `values` maps each name to its number. */
export interface EnumSchema<M extends Readonly<Record<string, number>> = Readonly<Record<string, number>>> {
  readonly kind: 'enum';
  readonly minSize: 4;
  readonly values: M;
  /** Member names by wire value. */
  readonly names: ReadonlyMap<number, keyof M & string>;
}

/** `string s<max>`: UTF-8 on the wire, `max` counts bytes. */
export interface StringSchema {
  readonly kind: 'string';
  readonly minSize: 4;
  readonly max: number;
}

/** `opaque x<max>`. */
export interface OpaqueSchema {
  readonly kind: 'opaque';
  readonly minSize: 4;
  readonly max: number;
}

/** `opaque x[length]`. */
export interface FixedOpaqueSchema {
  readonly kind: 'fixedOpaque';
  readonly minSize: number;
  readonly length: number;
}

/** `T x<max>`. */
export interface ArraySchema<T extends Schema = Schema> {
  readonly kind: 'array';
  readonly minSize: 4;
  readonly element: T;
  readonly max: number;
}

/** `T x[length]`. */
export interface FixedArraySchema<T extends Schema = Schema> {
  readonly kind: 'fixedArray';
  readonly minSize: number;
  readonly element: T;
  readonly length: number;
}

/** `T *x`. */
export interface OptionalSchema<T extends Schema = Schema> {
  readonly kind: 'optional';
  readonly minSize: 4;
  readonly element: T;
}

export type Fields = { readonly [name: string]: Schema };

export interface StructSchema<F extends Fields = Fields> {
  readonly kind: 'struct';
  readonly minSize: number;
  readonly fields: F;
  /** Field names in wire order. */
  readonly keys: readonly string[];
}

/** The schemas a union may switch on (RFC 4506: int, unsigned int, enum, bool). */
export type DiscriminantSchema = IntSchema<'int'> | IntSchema<'uint'> | EnumSchema | BoolSchema;

/** A JS value of a discriminant: a number, an enum member name or a boolean. */
export type DiscriminantValue<D extends DiscriminantSchema> =
  D extends EnumSchema<infer M> ? keyof M & string : D extends BoolSchema ? boolean : number;

/** One arm of a union: the case values that select it and its schema. */
export interface ArmSchema<C extends number | string | boolean = number | string | boolean, T extends Schema = Schema> {
  readonly kind: 'arm';
  readonly cases: readonly C[];
  readonly schema: T;
}

export interface UnionSchema<
  D extends DiscriminantSchema = DiscriminantSchema,
  A extends readonly ArmSchema[] = readonly ArmSchema[],
  Def extends Schema | undefined = Schema | undefined,
> {
  readonly kind: 'union';
  readonly minSize: number;
  readonly discriminant: D;
  readonly arms: A;
  readonly defaultArm: Def;
  /** Arm schemas by the discriminant's wire value. */
  readonly armsByValue: ReadonlyMap<number, Schema>;
}

/** The `self` placeholder handed to the callback of `xdr.recursive`. */
export interface SelfSchema {
  readonly kind: 'self';
  readonly minSize: number;
  /** The recursive schema this placeholder stands for (set once it exists). */
  readonly target: RecursiveSchema;
}

export interface RecursiveSchema<B extends Schema = Schema> {
  readonly kind: 'recursive';
  readonly minSize: number;
  readonly body: B;
}

/** Any schema node. */
export type Schema =
  | IntSchema
  | HyperSchema
  | FloatSchema
  | DoubleSchema
  | BoolSchema
  | VoidSchema
  | EnumSchema
  | StringSchema
  | OpaqueSchema
  | FixedOpaqueSchema
  | ArraySchema
  | FixedArraySchema
  | OptionalSchema
  | StructSchema
  | UnionSchema
  | SelfSchema
  | RecursiveSchema;

// ---------------------------------------------------------------------------
// Inference.
//
// `Self` carries the type a `self` placeholder stands for, wrapped in a
// one-element tuple: TypeScript resolves type arguments inside tuple types
// lazily, which lets `RecursiveStatic` refer to itself.

type ArmStatic<C, T, Self extends [unknown]> = T extends VoidSchema
  ? { tag: C; value?: undefined }
  : { tag: C; value: StaticOf<T, Self> };

type CoveredCases<A> = A extends readonly ArmSchema<infer C, Schema>[] ? C : never;

type DefaultTag<D extends DiscriminantSchema, A> =
  D extends EnumSchema<infer M>
    ? Exclude<keyof M & string, CoveredCases<A>>
    : D extends BoolSchema
      ? Exclude<boolean, CoveredCases<A>>
      : number;

type UnionStatic<D extends DiscriminantSchema, A, Def, Self extends [unknown]> =
  | { [I in keyof A]: A[I] extends ArmSchema<infer C, infer T> ? ArmStatic<C, T, Self> : never }[keyof A & number]
  | (Def extends Schema ? ArmStatic<DefaultTag<D, A>, Def, Self> : never);

// The wide `Schema` (a generic's constraint) maps to `unknown`; without this
// stop, `RecursiveSchema<Schema>` would unfold forever.
type StaticOf<S, Self extends [unknown]> = Schema extends S ? unknown : StaticNode<S, Self>;

type StaticNode<S, Self extends [unknown]> =
  S extends IntSchema | FloatSchema | DoubleSchema ? number
  : S extends HyperSchema ? bigint
  : S extends BoolSchema ? boolean
  : S extends VoidSchema ? undefined
  : S extends StringSchema ? string
  : S extends OpaqueSchema | FixedOpaqueSchema ? Buffer
  : S extends EnumSchema<infer M> ? keyof M & string
  : S extends OptionalSchema<infer T> ? StaticOf<T, Self> | null
  : S extends ArraySchema<infer T> ? StaticOf<T, Self>[]
  : S extends FixedArraySchema<infer T> ? StaticOf<T, Self>[]
  : S extends StructSchema<infer F> ? { -readonly [K in keyof F]: StaticOf<F[K], Self> }
  : S extends UnionSchema<infer D, infer A, infer Def> ? UnionStatic<D, A, Def, Self>
  : S extends SelfSchema ? Self[0]
  : S extends RecursiveSchema<infer B> ? RecursiveStatic<B>
  : never;

type RecursiveStatic<B> = StaticOf<B, [RecursiveStatic<B>]>;

/**
 * The TypeScript type of the values a schema describes: what `decode`
 * returns and what `encode` takes.
 */
export type Static<S extends Schema> = StaticOf<S, [never]>;

/** Another name for `Static`, in the style of zod. */
export type Infer<S extends Schema> = Static<S>;
