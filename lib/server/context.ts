/**
 * CallContext: what a handler knows about the call it serves, and the
 * signal that tells it to stop.
 *
 * Threads: JS thread only. The AbortController is made on first use of
 * `signal`, so the many handlers that never look at it cost nothing.
 */
import type { Connection } from './connection';
import type { ProcedureRecord } from './procedure-stats';

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

export class CallContext {
  #controller: AbortController | undefined;
  #abortReason: CallAbortedError | undefined;
  /** @internal Set once the call is answered (or given up): later results are dropped. */
  done = false;
  /** @internal The timer of the per-call deadline. */
  deadlineTimer: NodeJS.Timeout | undefined;
  /** @internal performance.now() when the handler was called. */
  startedAt = 0;
  /** @internal Where the call's counters and latencies go. */
  record!: ProcedureRecord;

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
  ) {}

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
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  /** @internal */
  abort(code: AbortCode, message: string): void {
    if (this.#abortReason !== undefined) return;
    this.#abortReason = new CallAbortedError(code, message);
    this.#controller?.abort(this.#abortReason);
  }
}
