/**
 * Schema builders. Each returns a frozen plain object (see types.ts) and
 * checks its arguments, so a bad schema fails where it is written, not at the
 * first message.
 */
import { describe } from './errors';
import type {
  ArmSchema,
  ArraySchema,
  BoolSchema,
  DiscriminantSchema,
  DiscriminantValue,
  DoubleSchema,
  EnumSchema,
  Fields,
  FixedArraySchema,
  FixedOpaqueSchema,
  FloatSchema,
  HyperSchema,
  IntKind,
  IntSchema,
  OpaqueSchema,
  OptionalSchema,
  RecursiveSchema,
  Schema,
  SelfSchema,
  StringSchema,
  StructSchema,
  UnionSchema,
  VoidSchema,
} from './types';

/** The largest length an XDR length word can carry: 2^32 − 1. */
export const MAX_LENGTH = 0xffffffff;

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

/** An RFC 4506 identifier: a letter, then letters, digits and underscores. */
const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_]*$/;

const built = new WeakSet<object>();

/** Whether `x` is a node made by one of the builders here. */
export function isSchema(x: unknown): x is Schema {
  return typeof x === 'object' && x !== null && built.has(x) && (x as { kind: string }).kind !== 'arm';
}

function isArm(x: unknown): x is ArmSchema {
  return typeof x === 'object' && x !== null && built.has(x) && (x as { kind: string }).kind === 'arm';
}

/**
 * The key of the slot where compile.ts keeps a schema's generated encoder
 * and decoder. The schema itself is frozen; the slot object is not. A
 * property load finds them sooner than a WeakMap look-up.
 */
export const CODEC_SLOT: unique symbol = Symbol('xdrd.codecs');

/** What compile.ts keeps in a schema's slot (typed there). */
export interface CodecSlot {
  encoder: unknown;
  decoder: unknown;
}

function seal<T extends object>(node: T): T {
  built.add(node);
  const slot: CodecSlot = { encoder: undefined, decoder: undefined };
  Object.defineProperty(node, CODEC_SLOT, { value: slot, enumerable: false, writable: false, configurable: false });
  return Object.freeze(node);
}

// A bad schema is a programming error, so the builders throw plain
// `TypeError`s and `RangeError`s; `XdrError` is for bad values and bytes.

function mustBeSchema(x: unknown, where: string): void {
  if (!isSchema(x)) {
    const hint = typeof x === 'function' ? ' (a builder function: did you forget to call it, e.g. xdr.int()?)' : '';
    throw new TypeError(`${where}: not an XDR schema, got ${describe(x)}${hint}`);
  }
}

function checkLength(n: unknown, what: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_LENGTH) {
    throw new RangeError(`${what} must be an integer from 0 to ${MAX_LENGTH}, got ${describe(n)}`);
  }
  return n;
}

const padded = (n: number): number => n + ((4 - (n & 3)) & 3);

// --- integers -------------------------------------------------------------

function integer<K extends IntKind>(kind: K, min: number, max: number): () => IntSchema<K> {
  const node = seal({ kind, minSize: 4 as const, min, max });
  return () => node;
}

/** `int`: a 32-bit signed integer. */
export const int = integer('int', INT32_MIN, INT32_MAX);
/** `unsigned int`: a 32-bit unsigned integer. */
export const uint = integer('uint', 0, 0xffffffff);
/** rpcgen's `char`: −128..127, sent as a full 4-byte int. */
export const char = integer('char', -0x80, 0x7f);
/** rpcgen's `unsigned char`: 0..255, sent as a full 4-byte int. */
export const uchar = integer('uchar', 0, 0xff);
/** rpcgen's `short`: −32768..32767, sent as a full 4-byte int. */
export const short = integer('short', -0x8000, 0x7fff);
/** rpcgen's `unsigned short`: 0..65535, sent as a full 4-byte int. */
export const ushort = integer('ushort', 0, 0xffff);

// --- other primitives -----------------------------------------------------

const HYPER: HyperSchema<'hyper'> = seal({ kind: 'hyper', minSize: 8 });
const UHYPER: HyperSchema<'uhyper'> = seal({ kind: 'uhyper', minSize: 8 });
const FLOAT: FloatSchema = seal({ kind: 'float', minSize: 4 });
const DOUBLE: DoubleSchema = seal({ kind: 'double', minSize: 8 });
const BOOL: BoolSchema = seal({ kind: 'bool', minSize: 4 });
const VOID: VoidSchema = seal({ kind: 'void', minSize: 0 });

/** `hyper`: a 64-bit signed integer, as a `bigint`. */
export const hyper = (): HyperSchema<'hyper'> => HYPER;
/** `unsigned hyper`: a 64-bit unsigned integer, as a `bigint`. */
export const uhyper = (): HyperSchema<'uhyper'> => UHYPER;
/** `float`: IEEE 754 single precision. */
export const float = (): FloatSchema => FLOAT;
/** `double`: IEEE 754 double precision. */
export const double = (): DoubleSchema => DOUBLE;
/** `bool`: `true`/`false`, 1/0 on the wire. */
export const bool = (): BoolSchema => BOOL;
/** `void`: no bytes; the value is `undefined`. */
export const voidType = (): VoidSchema => VOID;

/** `quadruple` is part of RFC 4506 but has no JS representation. */
export function quadruple(): never {
  throw new TypeError('quadruple (128-bit float) is not supported');
}

// --- enum -----------------------------------------------------------------

/**
 * `enum { A = 0, B = 1 }`. Values are the member names ("A" | "B"); the
 * numbers are only on the wire. Wire values must be distinct 32-bit ints.
 */
export function enumType<const M extends Readonly<Record<string, number>>>(values: M): EnumSchema<M> {
  if (typeof values !== 'object' || values === null) throw new TypeError(`enum: expected an object of members, got ${describe(values)}`);
  const names = new Map<number, keyof M & string>();
  for (const name of Object.keys(values)) {
    if (!IDENTIFIER.test(name)) throw new TypeError(`enum: member name ${JSON.stringify(name)} is not an XDR identifier`);
    const v = values[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) {
      throw new RangeError(`enum: member ${name} must be a 32-bit integer, got ${describe(v)}`);
    }
    const other = names.get(v);
    if (other !== undefined) throw new TypeError(`enum: members ${other} and ${name} share the value ${v}`);
    names.set(v, name);
  }
  if (names.size === 0) throw new TypeError('enum: needs at least one member');
  return seal({ kind: 'enum', minSize: 4, values: Object.freeze({ ...values }), names });
}

// --- strings and opaque data ------------------------------------------------

/** `string s<max>`: `max` counts UTF-8 bytes; omitted means `string s<>`. */
export function string(max: number = MAX_LENGTH): StringSchema {
  return seal({ kind: 'string', minSize: 4, max: checkLength(max, 'string: max') });
}

/** `opaque x<max>`: variable-length bytes; omitted max means `opaque x<>`. */
export function opaque(max: number = MAX_LENGTH): OpaqueSchema {
  return seal({ kind: 'opaque', minSize: 4, max: checkLength(max, 'opaque: max') });
}

/** `opaque x[length]`: exactly `length` bytes. */
export function fixedOpaque(length: number): FixedOpaqueSchema {
  const n = checkLength(length, 'fixedOpaque: length');
  return seal({ kind: 'fixedOpaque', minSize: padded(n), length: n });
}

// --- arrays and optional data -------------------------------------------------

function checkElement(element: unknown, where: string): void {
  mustBeSchema(element, where);
  if ((element as Schema).minSize === 0) {
    throw new TypeError(`${where}: elements must take at least one byte on the wire (not void or zero-length)`);
  }
}

/** `T x<max>`: up to `max` elements; omitted max means `T x<>`. */
export function array<T extends Schema>(element: T, max: number = MAX_LENGTH): ArraySchema<T> {
  checkElement(element, 'array');
  return seal({ kind: 'array', minSize: 4, element, max: checkLength(max, 'array: max') });
}

/** `T x[length]`: exactly `length` elements. */
export function fixedArray<T extends Schema>(element: T, length: number): FixedArraySchema<T> {
  checkElement(element, 'fixedArray');
  const n = checkLength(length, 'fixedArray: length');
  return seal({ kind: 'fixedArray', minSize: n * element.minSize, element, length: n });
}

/**
 * Whether a value of `s` can be `null`: an optional, or a recursive schema
 * whose body is one. (`self` is decided by `recursive()`, once its body is
 * known.)
 */
function nullable(s: Schema): boolean {
  return s.kind === 'optional' || (s.kind === 'recursive' && nullable(s.body));
}

const NESTED_OPTIONAL =
  'an optional of an optional has two encodings of null (absent, and present holding absent), so decoding ' +
  'could not give back the bytes it read (DESIGN.md §7: one encoding per value)';

/** `T *x`: the value or `null`. `T` must not itself be optional (see NESTED_OPTIONAL). */
export function optional<T extends Schema>(element: T): OptionalSchema<T> {
  mustBeSchema(element, 'optional');
  if (nullable(element)) throw new TypeError(`optional: ${NESTED_OPTIONAL}`);
  return seal({ kind: 'optional', minSize: 4, element });
}

/** Whether `node` holds `optional(self)`, looking through nested recursive schemas as far as `self`'s own. */
function optionalOfSelf(node: Schema, self: SelfSchema, seen: Set<Schema>): boolean {
  if (seen.has(node)) return false;
  seen.add(node);
  switch (node.kind) {
    case 'optional':
      return node.element === self || optionalOfSelf(node.element, self, seen);
    case 'struct':
      return node.keys.some((k) => optionalOfSelf(node.fields[k], self, seen));
    case 'array': case 'fixedArray':
      return optionalOfSelf(node.element, self, seen);
    case 'union':
      return [...node.armsByValue.values(), ...(node.defaultArm ? [node.defaultArm] : [])].some((a) => optionalOfSelf(a, self, seen));
    case 'recursive':
      return optionalOfSelf(node.body, self, seen);
    default:
      return false;
  }
}

// --- struct -----------------------------------------------------------------

/** `struct { ... }`: fields in the order written. */
export function struct<F extends Fields>(fields: F): StructSchema<F> {
  if (typeof fields !== 'object' || fields === null) throw new TypeError(`struct: expected an object of fields, got ${describe(fields)}`);
  const keys = Object.keys(fields);
  if (keys.length === 0) throw new TypeError('struct: needs at least one field');
  let minSize = 0;
  for (const key of keys) {
    if (!IDENTIFIER.test(key)) throw new TypeError(`struct: field name ${JSON.stringify(key)} is not an XDR identifier`);
    mustBeSchema(fields[key], `struct field ${key}`);
    minSize += fields[key].minSize;
  }
  return seal({ kind: 'struct', minSize, fields: Object.freeze({ ...fields }), keys: Object.freeze(keys) });
}

// --- union ------------------------------------------------------------------

/**
 * One arm of a union: `xdr.arm(1, schema)` or, for a case list,
 * `xdr.arm([1, 2], schema)`. Cases are numbers, enum member names or
 * booleans, matching the discriminant.
 */
export function arm<const C extends number | string | boolean, T extends Schema>(cases: C | readonly C[], schema: T): ArmSchema<C, T> {
  const list: readonly C[] = Array.isArray(cases) ? [...(cases as readonly C[])] : [cases as C];
  if (list.length === 0) throw new TypeError('arm: needs at least one case');
  mustBeSchema(schema, `arm ${list.map((c) => describe(c)).join(', ')}`);
  return seal({ kind: 'arm', cases: Object.freeze(list), schema });
}

/** The wire value of a case, or a reason why it is not one. */
export function discriminantWire(d: DiscriminantSchema, tag: unknown): number | string {
  switch (d.kind) {
    case 'enum':
      return typeof tag === 'string' && Object.hasOwn(d.values, tag) ? d.values[tag] : `bad enum value ${describe(tag)}`;
    case 'bool':
      return typeof tag === 'boolean' ? (tag ? 1 : 0) : `expected a boolean, got ${describe(tag)}`;
    default:
      if (typeof tag !== 'number' || !Number.isInteger(tag)) return `expected an integer, got ${describe(tag)}`;
      return tag < d.min || tag > d.max ? `${d.kind === 'int' ? 'int' : 'unsigned int'} out of range: ${tag}` : tag;
  }
}

export interface UnionOptions<Def extends Schema | undefined> {
  /** The arm for every discriminant value no case names. */
  readonly default?: Def;
}

/**
 * `union switch (D d) { case ...: ...; default: ...; }`.
 *
 * A value is `{ tag, value }`: `tag` is the discriminant (a number, an enum
 * member name or a boolean) and `value` the selected arm's value. Void arms
 * have no `value`.
 */
export function union<
  D extends DiscriminantSchema,
  const A extends readonly ArmSchema<DiscriminantValue<D>, Schema>[],
  Def extends Schema | undefined = undefined,
>(discriminant: D, arms: A, options?: UnionOptions<Def>): UnionSchema<D, A, Def> {
  mustBeSchema(discriminant, 'union discriminant');
  const k = discriminant.kind;
  if (k !== 'int' && k !== 'uint' && k !== 'enum' && k !== 'bool') {
    throw new TypeError(`union: the discriminant must be int, unsigned int, enum or bool, got ${k}`);
  }
  if (!Array.isArray(arms)) throw new TypeError(`union: expected an array of xdr.arm(...), got ${describe(arms)}`);
  const defaultArm = options?.default as Def;
  if (defaultArm !== undefined) mustBeSchema(defaultArm, 'union default');
  if (arms.length === 0 && defaultArm === undefined) throw new TypeError('union: needs at least one arm');
  const armsByValue = new Map<number, Schema>();
  let smallest = defaultArm === undefined ? Infinity : defaultArm.minSize;
  for (const a of arms) {
    if (!isArm(a)) throw new TypeError(`union: arms must be made with xdr.arm(...), got ${describe(a)}`);
    for (const c of a.cases) {
      const wire = discriminantWire(discriminant, c);
      if (typeof wire === 'string') throw new TypeError(`union case ${describe(c)}: ${wire}`);
      if (armsByValue.has(wire)) throw new TypeError(`union: case ${describe(c)} appears twice`);
      armsByValue.set(wire, a.schema);
    }
    smallest = Math.min(smallest, a.schema.minSize);
  }
  const frozenArms = Object.freeze([...arms]) as unknown as A;
  return seal({ kind: 'union', minSize: 4 + smallest, discriminant, arms: frozenArms, defaultArm, armsByValue });
}

// --- recursion --------------------------------------------------------------

/**
 * Whether `node` reaches `self` through struct fields and fixed arrays only.
 * `clear` remembers nodes already found not to, so shared subtrees are
 * walked once.
 */
function reachesUnguarded(node: Schema, self: SelfSchema, clear: Set<Schema>): boolean {
  if (clear.has(node)) return false;
  let found: boolean;
  switch (node.kind) {
    case 'self':
      found = node === self;
      break;
    case 'struct':
      found = node.keys.some((k) => reachesUnguarded(node.fields[k], self, clear));
      break;
    case 'fixedArray':
      found = node.length > 0 && reachesUnguarded(node.element, self, clear);
      break;
    case 'recursive':
      found = reachesUnguarded(node.body, self, clear);
      break;
    default:
      found = false;
  }
  if (!found) clear.add(node);
  return found;
}

/**
 * A schema that refers to itself, e.g. a linked list:
 * `xdr.recursive(self => xdr.struct({ value: xdr.int(), next: xdr.optional(self) }))`.
 *
 * `self` must be reached through an optional, a variable-length array or a
 * union, otherwise no finite value exists. Decoding and encoding count how
 * deep they are in recursive schemas and stop at `maxDepth`.
 */
export function recursive<B extends Schema>(build: (self: SelfSchema) => B): RecursiveSchema<B> {
  // Every guarded occurrence of `self` sits below an optional flag, an array
  // count or a union discriminant, so 4 bytes is a safe lower bound for it.
  const self: { kind: 'self'; minSize: number; target: RecursiveSchema | undefined } = { kind: 'self', minSize: 4, target: undefined };
  built.add(self);
  const body = build(self as SelfSchema);
  mustBeSchema(body, 'recursive');
  if (reachesUnguarded(body, self as SelfSchema, new Set())) {
    throw new TypeError('recursive: the schema contains itself without an optional, a variable-length array or a union in between');
  }
  // optional(self) is an optional of an optional when the body is one
  // itself (\`recursive(self => optional(self))\`): optional() could not tell.
  if (nullable(body) && optionalOfSelf(body, self as SelfSchema, new Set())) {
    throw new TypeError(`recursive: ${NESTED_OPTIONAL}`);
  }
  const node = seal({ kind: 'recursive' as const, minSize: body.minSize, body });
  self.target = node;
  Object.freeze(self);
  return node;
}
