/**
 * What handlers and hooks throw or return, seen from the server: thrown
 * values as Errors, promises told from plain results, results described
 * in error messages.
 */
import * as util from 'util';

/** A thrown value as an Error, without losing what it was. */
export function asError(e: unknown): Error {
  if (e instanceof Error) return e;
  return new Error(`a non-Error value was thrown: ${util.inspect(e, { depth: 1 })}`);
}

/** What kind of value `v` is, for "returned ..., not a Buffer". */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'object') return `an object (${(v as object).constructor?.name ?? 'Object'})`;
  return `a ${typeof v}`;
}

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as PromiseLike<unknown>).then === 'function';
}
