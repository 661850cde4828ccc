/**
 * Typed handlers (handle(program, { name: fn })) as raw ones: each decodes
 * its call's arguments with the procedure's schema, runs, and encodes what
 * it returns with the result schema.
 */
import { RpcError } from '../errors';
import type { AnyProgram, Procedure } from '../program';
import { decode, encode } from '../xdr/codec';
import type { CallContext } from './context';
import type { RawHandler, RawHandlers } from './types';
import { asError, isThenable } from './values';

type TypedFn = (args: unknown, ctx: CallContext) => unknown;

/** Wraps a typed handler as a raw one: decode, run, encode. */
export function typedHandler(proc: Procedure, fn: TypedFn): RawHandler {
  const encodeResult = (value: unknown): Buffer => {
    try {
      return encode(proc.result, value as never, { name: 'result' });
    } catch (e) {
      throw new TypeError(`the handler for ${proc.name} returned a value its result schema cannot encode: ${asError(e).message}`);
    }
  };
  return (body, ctx) => {
    let args: unknown;
    try {
      args = decode(proc.args, body, { name: 'args' });
    } catch (e) {
      throw RpcError.rpc(`Unable to decode message payload: ${asError(e).message}`);
    }
    const out = fn(args, ctx);
    return isThenable(out) ? Promise.resolve(out).then(encodeResult) : encodeResult(out);
  };
}

/**
 * A program's typed handlers, by procedure name, as raw handlers by
 * procedure number, with the names for stats(). Throws on a name the
 * program lacks or a handler that is not a function.
 */
export function typedHandlers(program: AnyProgram, handlers: Record<string, unknown>): { raw: RawHandlers; names: Map<number, string> } {
  if (typeof handlers !== 'object' || handlers === null) throw new TypeError('handlers must be an object of functions by procedure name');
  const raw: RawHandlers = {};
  const names = new Map<number, string>();
  for (const [name, fn] of Object.entries(handlers)) {
    const proc = Object.prototype.hasOwnProperty.call(program.procedures, name) ? program.procedures[name] : undefined;
    if (!proc) throw new TypeError(`the program has no procedure named '${name}'`);
    if (typeof fn !== 'function') throw new TypeError(`the handler for ${name} must be a function`);
    raw[proc.id] = typedHandler(proc, fn as TypedFn);
    names.set(proc.id, name);
  }
  return { raw, names };
}
