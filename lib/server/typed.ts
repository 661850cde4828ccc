/**
 * Typed handlers (handle(program, { name: fn })). Each procedure's argument
 * schema is compiled once into a decode plan (lib/xdr/plan.ts): a worker
 * decodes and checks every call with it, answers a call whose arguments do
 * not decode itself, and hands JS flat data that the plan's builder turns
 * into the argument object. The handler runs, and what it returns is
 * encoded with the result schema straight into the bridge's answer arena
 * (calls.ts, bridge.ts).
 *
 * Each typed procedure is also a raw handler that decodes on the JS thread
 * with the TypeScript codec: the same errors, used where the native side
 * cannot take the plan (a schema nested too deeply for a worker's stack).
 */
import { RpcError } from '../errors';
import type { AnyProgram, Procedure } from '../program';
import { compiledEncoder, decode, encode } from '../xdr/codec';
import type { CompiledEncoder } from '../xdr/codec';
import { compilePlan } from '../xdr/plan';
import type { DecodePlan } from '../xdr/plan';
import type { CallContext } from './context';
import type { RawHandler, RawHandlers } from './types';
import { asError, isThenable } from './values';

export type TypedFn = (args: unknown, ctx: CallContext) => unknown;

/** The name error paths start with, as libvirt's daemons say it. */
const ARGS = 'args';

/** A typed procedure: its plan, its handler, and how its results are encoded. */
export interface TypedProcedure {
  readonly plan: DecodePlan;
  /** The handler, called with the decoded arguments; returns the result (or a promise of it). */
  readonly run: TypedFn;
  /**
   * The result schema's compiled encoder, looked up once here rather than
   * per call: the server encodes results with it straight into its answer
   * arena.
   */
  readonly encoder: CompiledEncoder;
  /** The message of the TypeError for a result the schema cannot encode. */
  badResult(e: unknown): string;
}

/** The error reply for arguments that do not decode (also what workers send). */
export function argsError(e: unknown): RpcError {
  return RpcError.rpc(`Unable to decode message payload: ${asError(e).message}`);
}

function typedProcedure(proc: Procedure, fn: TypedFn): { typed: TypedProcedure; raw: RawHandler } {
  const badResult = (e: unknown): string => `the handler for ${proc.name} returned a value its result schema cannot encode: ${asError(e).message}`;
  const encodeResult = (value: unknown): Buffer => {
    try {
      return encode(proc.result, value as never, { name: 'result' });
    } catch (e) {
      throw new TypeError(badResult(e));
    }
  };
  // The fallback when a worker cannot take the plan: decoded and encoded here.
  const raw: RawHandler = (body, ctx) => {
    let args: unknown;
    try {
      args = decode(proc.args, body, { name: ARGS });
    } catch (e) {
      throw argsError(e);
    }
    const out = fn(args, ctx);
    return isThenable(out) ? Promise.resolve(out).then(encodeResult) : encodeResult(out);
  };
  return { typed: { plan: compilePlan(proc.args, ARGS), run: fn, encoder: compiledEncoder(proc.result), badResult }, raw };
}

/**
 * A program's typed handlers, by procedure number: each as a typed
 * procedure and as its raw fallback, with the names for stats(). Throws on a
 * name the program lacks or a handler that is not a function.
 */
export function typedHandlers(
  program: AnyProgram,
  handlers: Record<string, unknown>,
): { raw: RawHandlers; typed: Map<number, TypedProcedure>; names: Map<number, string> } {
  if (typeof handlers !== 'object' || handlers === null) throw new TypeError('handlers must be an object of functions by procedure name');
  const raw: RawHandlers = {};
  const typed = new Map<number, TypedProcedure>();
  const names = new Map<number, string>();
  for (const [name, fn] of Object.entries(handlers)) {
    const proc = Object.prototype.hasOwnProperty.call(program.procedures, name) ? program.procedures[name] : undefined;
    if (!proc) throw new TypeError(`the program has no procedure named '${name}'`);
    if (typeof fn !== 'function') throw new TypeError(`the handler for ${name} must be a function`);
    const t = typedProcedure(proc, fn as TypedFn);
    raw[proc.id] = t.raw;
    typed.set(proc.id, t.typed);
    names.set(proc.id, name);
  }
  return { raw, typed, names };
}
