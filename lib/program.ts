/**
 * Program descriptions: which procedures and events an RPC program has, their
 * numbers and their schemas. Pure data plus types; the server and client
 * that use them live elsewhere.
 *
 *   const Echo = defineProgram({
 *     number: 0x20000001, version: 1,
 *     procedures: { echo: { id: 1, args: xdr.struct({ data: xdr.opaque(65536) }), result: xdr.void() } },
 *     events: { tick: { id: 2, body: xdr.uhyper() } },
 *   });
 *   Echo.procedures.echo   // { kind: 'procedure', name: 'echo', program: 0x20000001, version: 1, id: 1, args, result }
 *   type A = HandlerArgs<typeof Echo, 'echo'>;   // { data: Buffer }
 */
import { isInt32, isUint32 } from './int32';
import { describe } from './xdr/errors';
import { isSchema } from './xdr/schema';
import type { Schema, Static } from './xdr/types';

export interface ProcedureDef {
  /** The procedure number in the message header (a signed 32-bit int). */
  readonly id: number;
  readonly args: Schema;
  readonly result: Schema;
}

export interface EventDef {
  /** The procedure number an event message carries (a signed 32-bit int). */
  readonly id: number;
  readonly body: Schema;
}

export interface ProgramDef {
  /** The program number (an unsigned 32-bit int). */
  readonly number: number;
  /** The program version (an unsigned 32-bit int). */
  readonly version: number;
  readonly procedures: { readonly [name: string]: ProcedureDef };
  readonly events?: { readonly [name: string]: EventDef };
}

/** A procedure of a defined program: everything a call needs to be framed and typed. */
export interface Procedure<N extends string = string, A extends Schema = Schema, R extends Schema = Schema, Id extends number = number> {
  readonly kind: 'procedure';
  readonly name: N;
  readonly program: number;
  readonly version: number;
  readonly id: Id;
  readonly args: A;
  readonly result: R;
}

/** An event (a MESSAGE the server sends unasked) of a defined program. */
export interface ProgramEvent<N extends string = string, B extends Schema = Schema, Id extends number = number> {
  readonly kind: 'event';
  readonly name: N;
  readonly program: number;
  readonly version: number;
  readonly id: Id;
  readonly body: B;
}

type EventDefs<D extends ProgramDef> = D extends { readonly events: infer E extends { readonly [name: string]: EventDef } } ? E : {};

type ProcedureOf<N extends string, P> = P extends ProcedureDef ? Procedure<N, P['args'], P['result'], P['id']> : never;
type EventOf<N extends string, E> = E extends EventDef ? ProgramEvent<N, E['body'], E['id']> : never;

/** What `defineProgram` returns. */
export interface Program<D extends ProgramDef = ProgramDef> {
  readonly number: D['number'];
  readonly version: D['version'];
  readonly procedures: {
    readonly [K in keyof D['procedures'] & string]: ProcedureOf<K, D['procedures'][K]>;
  };
  readonly events: {
    readonly [K in keyof EventDefs<D> & string]: EventOf<K, EventDefs<D>[K]>;
  };
}

/** Any program, for constraints. */
export interface AnyProgram {
  readonly number: number;
  readonly version: number;
  readonly procedures: { readonly [name: string]: Procedure };
  readonly events: { readonly [name: string]: ProgramEvent };
}

export type ProcedureName<P extends AnyProgram> = keyof P['procedures'] & string;
export type EventName<P extends AnyProgram> = keyof P['events'] & string;

/** The decoded arguments a handler of procedure `K` receives. */
export type HandlerArgs<P extends AnyProgram, K extends ProcedureName<P>> =
  P['procedures'][K] extends Procedure<string, infer A, Schema, number> ? Static<A> : never;

/** The value a handler of procedure `K` must produce. */
export type HandlerResult<P extends AnyProgram, K extends ProcedureName<P>> =
  P['procedures'][K] extends Procedure<string, Schema, infer R, number> ? Static<R> : never;

/** The body of event `K`. */
export type EventBody<P extends AnyProgram, K extends EventName<P>> =
  P['events'][K] extends ProgramEvent<string, infer B, number> ? Static<B> : never;

/** A void result may also come from a function that returns nothing. */
type Returned<R> = undefined extends R ? R | void : R;

/**
 * The shape of a handler of procedure `K`, sync or async. `Ctx` is the call
 * context the server will pass (not defined yet, hence a parameter).
 */
export type Handler<P extends AnyProgram, K extends ProcedureName<P>, Ctx = unknown> = (
  args: HandlerArgs<P, K>,
  ctx: Ctx,
) => Returned<HandlerResult<P, K>> | Promise<Returned<HandlerResult<P, K>>>;

/** One handler per procedure of `P`. */
export type Handlers<P extends AnyProgram, Ctx = unknown> = {
  readonly [K in ProcedureName<P>]: Handler<P, K, Ctx>;
};


function checkUint32(v: unknown, what: string): number {
  if (!isUint32(v)) {
    throw new RangeError(`defineProgram: ${what} must be an unsigned 32-bit integer, got ${describe(v)}`);
  }
  return v;
}

function checkId(v: unknown, what: string): number {
  if (!isInt32(v)) {
    throw new RangeError(`defineProgram: ${what} id must be a signed 32-bit integer, got ${describe(v)}`);
  }
  return v;
}

function checkSchema(v: unknown, what: string): Schema {
  if (!isSchema(v)) throw new TypeError(`defineProgram: ${what} is not an XDR schema, got ${describe(v)}`);
  return v;
}

function entries(v: unknown, what: string): [string, Record<string, unknown>][] {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError(`defineProgram: ${what} must be an object, got ${describe(v)}`);
  return Object.entries(v).map(([name, def]) => {
    if (typeof def !== 'object' || def === null) throw new TypeError(`defineProgram: ${what}.${name} must be an object, got ${describe(def)}`);
    return [name, def as Record<string, unknown>];
  });
}

/**
 * Check a program definition and return its frozen, typed description.
 * Procedure and event ids share one number space (as in libvirt, where
 * events are procedure numbers too), so they must all be distinct.
 */
export function defineProgram<const D extends ProgramDef>(def: D): Program<D> {
  if (typeof def !== 'object' || def === null) throw new TypeError(`defineProgram: expected a definition object, got ${describe(def)}`);
  const program = checkUint32(def.number, 'number');
  const version = checkUint32(def.version, 'version');
  const owners = new Map<number, string>();
  const claim = (id: number, who: string): void => {
    const other = owners.get(id);
    if (other !== undefined) throw new TypeError(`defineProgram: ${other} and ${who} share id ${id}`);
    owners.set(id, who);
  };

  const procedures = entries(def.procedures, 'procedures').map(([name, p]) => {
    const id = checkId(p.id, `procedure ${name}`);
    claim(id, `procedure ${name}`);
    const proc: Procedure = {
      kind: 'procedure',
      name,
      program,
      version,
      id,
      args: checkSchema(p.args, `procedure ${name} args`),
      result: checkSchema(p.result, `procedure ${name} result`),
    };
    return [name, Object.freeze(proc)] as const;
  });

  const events = entries(def.events ?? {}, 'events').map(([name, e]) => {
    const id = checkId(e.id, `event ${name}`);
    claim(id, `event ${name}`);
    const ev: ProgramEvent = { kind: 'event', name, program, version, id, body: checkSchema(e.body, `event ${name} body`) };
    return [name, Object.freeze(ev)] as const;
  });

  // Object.fromEntries defines own properties, so a key named "__proto__"
  // stays a key instead of replacing the prototype.
  const result: AnyProgram = {
    number: program,
    version,
    procedures: Object.freeze(Object.fromEntries(procedures)),
    events: Object.freeze(Object.fromEntries(events)),
  };
  return Object.freeze(result) as unknown as Program<D>;
}
