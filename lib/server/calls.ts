/**
 * The calls the handlers have: the in-flight table, per-call deadlines,
 * aborts, and the rule that every call is answered exactly once, whoever
 * answers it (its handler, its deadline, its client leaving). A call's
 * state lives here, out of reach of the CallContext its handler gets.
 *
 * Threads: JS thread only.
 */
import { performance } from 'perf_hooks';

import { RpcError, isRpcError } from '../errors';
import { ReplyTooLargeError } from './bridge';
import type { Connection } from './connection';
import { CallContext, CallSignal } from './context';
import type { AbortCode } from './context';
import type { HandlerEntry } from './handlers';
import type { ProcedureRecord } from './procedure-stats';
import type { TypedProcedure } from './typed';
import type { CompiledEncoder } from '../xdr/codec';
import { asError, describeValue, isThenable } from './values';

/** Where answers go, and what the server does with handler failures. */
export interface CallHost {
  /** The largest reply body a frame may carry; a larger answer fails the call. */
  readonly maxReplyBody: number;
  answer(slot: number, body: Uint8Array): void;
  /** Encodes `value` with `encoder` as the reply body; throws (queuing nothing) if it does not fit. */
  answerValue(slot: number, encoder: CompiledEncoder, value: unknown): void;
  answerError(slot: number, error: Uint8Array): void;
  /** Answers given outside a drain go out at the end of the current turn. */
  scheduleFlush(): void;
  /** A handler's failure that is not an RpcError, for the 'error' event. */
  report(err: Error, ctx: CallContext): void;
}

/**
 * One call a handler has, by the slot the native side keeps it in. It is
 * also the source of its context's signal: one object per call fewer on the
 * hottest path (the JS thread's cost per call is what small calls pay).
 */
class InFlight extends CallSignal {
  /** Set once the call is answered (or given up): later results are dropped. */
  done = false;
  deadlineTimer: NodeJS.Timeout | undefined;
  /**
   * performance.now() when the handler was called: for the calls of a
   * batch, the clock read that ended the call before it (CallRegistry.#now).
   */
  startedAt = 0;
  /** Set by CallRegistry.start right after the context is made. */
  ctx!: CallContext;
  /** A typed call's procedure: its result is a value to encode, not bytes. */
  typed: TypedProcedure | undefined = undefined;
  // Its place in its client's CallList while a handler has it.
  list: CallList | undefined = undefined;
  prev: InFlight | undefined = undefined;
  next: InFlight | undefined = undefined;

  constructor(
    readonly slot: number,
    /** Where the call's counters and latencies go. */
    readonly record: ProcedureRecord,
  ) {
    super();
  }
}

/**
 * A client's calls in the handlers, oldest first: a list threaded through
 * the calls themselves, so starting and ending a call costs no Map insert
 * or delete, only a few pointer writes.
 */
class CallList {
  head: InFlight | undefined = undefined;
  tail: InFlight | undefined = undefined;

  add(call: InFlight): void {
    call.list = this;
    call.prev = this.tail;
    call.next = undefined;
    if (this.tail === undefined) this.head = call;
    else this.tail.next = call;
    this.tail = call;
  }

  remove(call: InFlight): void {
    if (call.list !== this) return;
    if (call.prev === undefined) this.head = call.next;
    else call.prev.next = call.next;
    if (call.next === undefined) this.tail = call.prev;
    else call.next.prev = call.prev;
    call.list = call.prev = call.next = undefined;
  }

  /** The calls now in the list (a copy: the caller may end them). */
  calls(): InFlight[] {
    const out: InFlight[] = [];
    for (let c = this.head; c !== undefined; c = c.next) out.push(c);
    return out;
  }
}

const NO_VALUES = new Float64Array(0);

export class CallRegistry {
  readonly #host: CallHost;
  readonly #deadlineMs: number;
  /**
   * The calls in the handlers, by client id. A client's list stays while
   * the client does (abandon() drops it), even when empty: a client with
   * one call at a time would otherwise make a new one per call.
   */
  readonly #byClient = new Map<number, CallList>();
  /** The list #track() used last (a batch's calls come in runs from one client), until abandon() drops it. */
  #lastClient: Connection | undefined = undefined;
  #lastList: CallList | undefined = undefined;
  /**
   * The last clock read of this batch: set by beginBatch(), then by each
   * call's end. The calls of a batch run back to back, so a call's start is
   * the previous one's end: one performance.now() per call, not two. A
   * call's runTime therefore also holds the bridge's own work for it (a
   * fraction of a microsecond).
   */
  #now = 0;
  #handlerErrors = 0;
  #lateResults = 0;

  /** `deadlineMs`: the server's callDeadlineMs; 0 for none. */
  constructor(host: CallHost, deadlineMs: number) {
    this.#host = host;
    this.#deadlineMs = deadlineMs;
  }

  /** Answers handlers gave with an error (thrown, rejected, bad result, deadline). */
  get handlerErrors(): number {
    return this.#handlerErrors;
  }

  /** Handler results that came after their call was answered otherwise, and were dropped. */
  get lateResults(): number {
    return this.#lateResults;
  }

  /** Before the calls of a batch are started: reads the clock they start from. */
  beginBatch(): void {
    this.#now = performance.now();
  }

  /**
   * Hands the call in `slot` to its handler and sees that it is answered
   * once. Only between beginBatch() and the end of that batch. The body is
   * `bodies[bodyStart, bodyStart + bodyLength)`; raw handlers get it as a
   * Buffer of its own, typed ones are built from the values without one.
   */
  start(
    slot: number,
    entry: HandlerEntry,
    procedure: number,
    serial: number,
    client: Connection,
    queueWaitUs: number,
    bodies: Buffer,
    bodyStart: number,
    bodyLength: number,
    values: Float64Array | undefined,
    valuesStart: number,
  ): void {
    const deadlineMs = this.#deadlineMs;
    const call = new InFlight(slot, entry.record ?? entry.table.get(procedure));
    const ctx = new CallContext(entry.program, entry.version, procedure, serial, client, queueWaitUs, deadlineMs > 0 ? Date.now() + deadlineMs : undefined, call);
    call.ctx = ctx;
    call.record.calls++;
    call.record.queueWait.record(queueWaitUs);
    this.#track(call);
    if (deadlineMs > 0) call.deadlineTimer = setTimeout(this.#deadlinePassed, deadlineMs, call).unref();
    call.startedAt = this.#now;
    let result: unknown;
    try {
      // A typed procedure's arguments were decoded and checked on a worker:
      // build them from the flat data (a call without values decoded to
      // nothing, e.g. void arguments).
      const typed = entry.typed;
      if (typed === undefined) {
        result = entry.fn(bodies.subarray(bodyStart, bodyStart + bodyLength), ctx);
      } else {
        call.typed = typed;
        result = typed.run(typed.plan.build(bodies, values ?? NO_VALUES, valuesStart, bodyStart), ctx);
      }
    } catch (e) {
      this.#failed(call, e);
      return;
    }
    if (isThenable(result)) {
      (result as Promise<unknown>).then(
        (v) => this.#settledLater(call, v, false),
        (e: unknown) => this.#settledLater(call, e, true),
      );
    } else {
      this.#succeeded(call, result);
    }
  }

  /**
   * The client is gone: its calls' signals fire, and their slots are given
   * back now (the answers are dropped natively), so the client is freed
   * without waiting for handlers that may never finish.
   */
  abandon(client: Connection): void {
    if (client === this.#lastClient) {
      this.#lastClient = undefined;
      this.#lastList = undefined;
    }
    const list = this.#byClient.get(client.id);
    if (list === undefined) return;
    this.#byClient.delete(client.id);
    for (const call of list.calls()) {
      call.abort('disconnect', 'the client disconnected');
      this.#giveUp(call, RpcError.rpc('the client disconnected'));
      call.record.abandoned++;
    }
  }

  /** Fires the signal of every call still in the handlers (close()'s grace ended). */
  abortAll(code: AbortCode, message: string): void {
    for (const list of this.#byClient.values()) for (const call of list.calls()) call.abort(code, message);
  }

  #track(call: InFlight): void {
    const client = call.ctx.client;
    let list = client === this.#lastClient ? this.#lastList : this.#byClient.get(client.id);
    if (list === undefined) {
      list = new CallList();
      this.#byClient.set(client.id, list);
    }
    this.#lastClient = client;
    this.#lastList = list;
    list.add(call);
    client.callStarted();
  }

  #untrack(call: InFlight): void {
    call.list?.remove(call);
    call.ctx.client.callEnded();
  }

  readonly #deadlinePassed = (call: InFlight): void => {
    if (call.done) return;
    call.abort('deadline', `the call passed its deadline of ${this.#deadlineMs} ms`);
    call.record.deadlines++;
    call.record.errors++;
    this.#handlerErrors++;
    this.#giveUp(call, RpcError.timeout(`the call did not finish within ${this.#deadlineMs} ms`));
    this.#host.scheduleFlush();
  };

  /** Answers a call the handler still has; its own answer will be dropped. */
  #giveUp(call: InFlight, error: RpcError): void {
    this.#finish(call);
    this.#host.answerError(call.slot, error.encode());
  }

  /** Marks the call answered: exactly once per call, whoever answers. */
  #finish(call: InFlight): boolean {
    if (call.done) {
      this.#lateResults++;
      return false;
    }
    call.done = true;
    if (call.deadlineTimer !== undefined) clearTimeout(call.deadlineTimer);
    const now = performance.now();
    this.#now = now;
    call.record.runTime.record((now - call.startedAt) * 1000);
    this.#untrack(call);
    return true;
  }

  #settledLater(call: InFlight, value: unknown, failed: boolean): void {
    if (failed) this.#failed(call, value);
    else this.#succeeded(call, value);
    // Promises settled in the same turn share one flush.
    this.#host.scheduleFlush();
  }

  #succeeded(call: InFlight, value: unknown): void {
    if (!this.#finish(call)) return;
    const typed = call.typed;
    if (typed !== undefined) {
      try {
        this.#host.answerValue(call.slot, typed.encoder, value);
      } catch (e) {
        if (e instanceof ReplyTooLargeError) {
          this.#tooLarge(call, e.bytes);
          return;
        }
        // The same reply and event as a typed handler that threw it.
        const err = new TypeError(typed.badResult(e));
        this.#handlerFailed(call, this.#internalFailure(call, err), err);
      }
      return;
    }
    if (value instanceof Uint8Array) {
      if (value.length > this.#host.maxReplyBody) this.#tooLarge(call, value.length);
      else this.#host.answer(call.slot, value);
      return;
    }
    const { ctx } = call;
    const problem = `the handler for procedure ${ctx.procedure} of program ${ctx.program} returned ${describeValue(value)}, not a Buffer`;
    this.#handlerFailed(call, RpcError.internal(problem), new TypeError(problem));
  }

  #failed(call: InFlight, thrown: unknown): void {
    if (!this.#finish(call)) return;
    const { ctx } = call;
    if (isRpcError(thrown)) {
      let bytes: Buffer;
      try {
        bytes = thrown.encode();
      } catch (e) {
        const problem = `the handler for procedure ${ctx.procedure} threw an RpcError that cannot be encoded: ${asError(e).message}`;
        this.#handlerFailed(call, RpcError.internal(problem), new TypeError(problem));
        return;
      }
      call.record.errors++;
      this.#handlerErrors++;
      this.#host.answerError(call.slot, bytes);
      return;
    }
    const err = asError(thrown);
    this.#handlerFailed(call, this.#internalFailure(call, err), err);
  }

  /**
   * An answer no frame can carry: the client gets the internal error the
   * native side words for it (the same text a C++ handler's gets), and the
   * call counts as a handler failure, with an 'error' event.
   */
  #tooLarge(call: InFlight, bytes: number): void {
    const { ctx } = call;
    const limit = this.#host.maxReplyBody;
    const report = new RangeError(
      `the handler for procedure ${ctx.procedure} of program ${ctx.program} returned a reply of ${bytes} bytes; maxMessageBytes allows ${limit} after the header`,
    );
    this.#handlerFailed(call, RpcError.internal(`reply of ${bytes} bytes exceeds the maximum message size`), report);
  }

  /** The reply for a handler that failed with something other than an RpcError. */
  #internalFailure(call: InFlight, err: Error): RpcError {
    const { ctx } = call;
    return RpcError.internal(`the handler for procedure ${ctx.procedure} of program ${ctx.program} failed: ${err.message}`);
  }

  #handlerFailed(call: InFlight, reply: RpcError, report: Error): void {
    call.record.errors++;
    this.#handlerErrors++;
    this.#host.answerError(call.slot, reply.encode());
    this.#host.report(report, call.ctx);
  }
}
