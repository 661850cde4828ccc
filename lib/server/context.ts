/**
 * CallContext: what a handler knows about the call it serves, and the
 * signal that tells it to stop.
 *
 * Threads: JS thread only.
 */
import type { Connection } from './connection';

/** Why a call's signal fired. */
export type AbortCode =
  /** The client went away; whatever the handler answers is dropped. */
  | 'disconnect'
  /** close()'s grace period ended; the server answered the call itself. */
  | 'shutdown'
  /** The server's `callDeadlineMs` passed; the client got a timeout error. */
  | 'deadline';

/** The `reason` of a call's aborted signal. Compare `.code`, not `instanceof`. */
export class CallAbortedError extends Error {
  override readonly name = 'AbortError';
  constructor(
    readonly code: AbortCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The abort side of one call's signal. The server's call registry
 * (calls.ts) holds it and fires it; the CallContext a handler gets only
 * reads it, so nothing outside lib/server/ can abort a call. @internal
 *
 * The AbortController is made on first use of `signal`, so the many
 * handlers that never look at it cost nothing.
 */
export class CallSignal {
  #controller: AbortController | undefined;
  #reason: CallAbortedError | undefined;

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Fires the signal with `code`; later calls do nothing. */
  abort(code: AbortCode, message: string): void {
    if (this.#reason !== undefined) return;
    this.#reason = new CallAbortedError(code, message);
    this.#controller?.abort(this.#reason);
  }
}

/**
 * A read-only view of one call: its header, its connection, its timing and
 * its signal. The server keeps the call's state (answered or not, its
 * deadline timer, its counters) out of reach, in lib/server/calls.ts.
 */
export class CallContext {
  readonly #signal: CallSignal;

  constructor(
    /** The program number of the call. */
    readonly program: number,
    /** The program version of the call. */
    readonly version: number,
    /** The procedure number (a signed 32-bit int). */
    readonly procedure: number,
    /** The serial the client chose; the reply carries it back. */
    readonly serial: number,
    /** The connection the call came on. */
    readonly client: Connection,
    /** Microseconds the call waited between being read and reaching the handler. */
    readonly queueWaitUs: number = 0,
    /**
     * When the server gives up on the call (`callDeadlineMs`), in
     * Date.now() milliseconds; undefined when there is no deadline.
     */
    readonly deadline: number | undefined = undefined,
    /** The signal's source; a context made outside the server gets one that never fires. @internal */
    signal: CallSignal = new CallSignal(),
  ) {
    this.#signal = signal;
  }

  /** The connection's id (the same as `client.id`). */
  get clientId(): number {
    return this.client.id;
  }

  /**
   * Aborted when the answer can no longer matter: the client disconnected,
   * the server's shutdown grace ended, or the call's deadline passed. Its
   * `reason` is a CallAbortedError whose `code` says which.
   */
  get signal(): AbortSignal {
    return this.#signal.signal;
  }
}
