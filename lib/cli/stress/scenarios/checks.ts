/**
 * Checks of a reply (`Check`): what a call must get back, combined and
 * counted in the tally by kind.
 */
import { ErrorCode, xdr } from '../../../index';
import type { Check, Outcome } from '../peer';
import type { StressContext } from './plan';

export function describeOutcome(o: Outcome): string {
  return o.kind === 'ok' ? `a result (${o.body.length} bytes)` : `error ${o.error.code} '${o.error.message}'`;
}

/** A result that decodes with `schema` and passes `test`. */
export function expectValue<S extends xdr.Schema>(schema: S, test: (v: xdr.Static<S>) => string | undefined): Check {
  return (o) => {
    if (o.kind !== 'ok') return `expected a result, got ${describeOutcome(o)}`;
    let v: xdr.Static<S>;
    try {
      v = xdr.decode(schema, o.body);
    } catch (e) {
      return `the result does not decode: ${(e as Error).message}`;
    }
    return test(v);
  };
}

export function sameBytes(expected: Uint8Array): (v: Buffer) => string | undefined {
  return (v) => (Buffer.compare(v, expected) === 0 ? undefined : `expected ${expected.length} bytes back, got ${v.length} different ones`);
}

/** An error reply with this code (and text in its message, if given). */
export function expectError(code: number, text?: string): Check {
  return (o) => {
    if (o.kind !== 'error') return `expected error ${code}, got ${describeOutcome(o)}`;
    if (o.error.code !== code) return `expected error ${code}, got ${describeOutcome(o)}`;
    if (text !== undefined && !o.error.message.includes(text)) return `expected '${text}' in the message, got '${o.error.message}'`;
    return undefined;
  };
}

/** The first check that accepts the outcome wins; otherwise the first complaint. */
export function anyOf(...checks: Check[]): Check {
  return (o) => {
    let first: string | undefined;
    for (const c of checks) {
      const complaint = c(o);
      if (complaint === undefined) return undefined;
      first ??= complaint;
    }
    return first;
  };
}

/** Counts `key` in the tally when the check passes: outcomes by kind. */
export function counted(check: Check, ctx: StressContext, key: string): Check {
  return (o) => {
    const complaint = check(o);
    if (complaint === undefined) ctx.tally.add(key);
    return complaint;
  };
}

/** OPERATION_TIMEOUT from callDeadlineMs: acceptable for any asynchronous handler. */
export function timedOut(ctx: StressContext): Check {
  return counted(expectError(ErrorCode.OPERATION_TIMEOUT, 'Timed out during operation'), ctx, 'deadline.timeouts');
}

/** What close() answers for calls it cancels. */
export function shutDown(ctx: StressContext): Check {
  return counted(expectError(ErrorCode.INTERNAL_ERROR, 'server is shutting down'), ctx, 'close.shutdownReplies');
}

