/**
 * The JS end of native/addon/call_bridge: the one reader of the batch area
 * (calls in) and the one writer of the result area (answers out), plus the
 * notices that come as JSON. Every word offset, size and kind is the
 * addon's (`layout`), named there from call_bridge.h; none is counted here.
 *
 * Threads: JS thread only. Native worker threads queue calls and the JS
 * thread is woken once per empty → non-empty transition; it takes them in
 * batches of at most `maxBatch` (the addon asks for another turn while more
 * wait), and hands answers back the same way: their records go straight
 * into the result area, which is handed over with one Buffer (or one per
 * large answer) when it is full or at the end of the turn.
 */
import { HEADER_BYTES, MAX_MESSAGE_BYTES } from '../libvirt/wire';
import { native } from '../native';
import type { NativeLayout, NativeServer, NativeServerOptions, OnNative } from '../native';
import type { CompiledEncoder } from '../xdr/codec';
import type { Schema, Static } from '../xdr/types';
import { XdrWriter } from '../xdr/writer';
import type { ConnectNotice, DisconnectReason } from './connection';

/** The kinds of OnNative call: calls or notices wait, or a close() finished. */
export const CALLS_WAITING = 0;
export const CLOSE_FINISHED = 1;

export interface DisconnectNotice {
  kind: 'disconnect';
  id: number;
  reason: DisconnectReason;
}

export interface LogNotice {
  kind: 'log';
  /** The client it is about; 0 for none. */
  id: number;
  message: string;
}

export type Notice = ConnectNotice | DisconnectNotice | LogNotice;

/**
 * One call of a batch. Its body is `bodies[bodyStart, bodyStart +
 * bodyLength)`, only valid until the call is answered: `bodies` is the
 * batch's Buffer, or a lent Buffer over the received frame. No Buffer is
 * made per call here: a typed call is built from its values without one.
 */
export type CallVisitor = (
  slot: number,
  handlerIndex: number,
  procedure: number,
  serial: number,
  clientId: number,
  queueWaitUs: number,
  bodies: Buffer,
  bodyStart: number,
  bodyLength: number,
  /** The arguments a worker decoded (typed procedures), read from `valuesStart`; undefined for raw ones. */
  values: Float64Array | undefined,
  valuesStart: number,
) => void;

/**
 * Answers of at least this many bytes are passed as their own Buffer, not
 * copied into the answer arena: a copy of that size costs more than the
 * native side's per-Buffer look-up.
 */
const SEPARATE_ANSWER_BYTES = 32 * 1024;
/** The answer arena's size, and the most it keeps between flushes. */
const ARENA_BYTES = 64 * 1024;
const ARENA_KEEP_BYTES = 1024 * 1024;
/** How results are named in encoding errors. */
const RESULT_OPTIONS = { name: 'result' } as const;

/**
 * A copy of the addon's layout as an object literal. The addon's object is
 * built by N-API one property at a time and V8 keeps it in dictionary mode:
 * every read of it from the per-call code went through a generic property
 * look-up (perf: Builtins_LoadIC under takeCalls). The literal has one fixed
 * shape that optimized code reads directly.
 */
function fastLayout(l: NativeLayout): NativeLayout {
  return {
    maxBatch: l.maxBatch,
    inWords: l.inWords,
    outWords: l.outWords,
    batchAreaWords: l.batchAreaWords,
    resultAreaWords: l.resultAreaWords,
    resultBody: l.resultBody,
    resultError: l.resultError,
    lentBody: l.lentBody,
    inSlot: l.inSlot,
    inHandler: l.inHandler,
    inProcedure: l.inProcedure,
    inSerial: l.inSerial,
    inClientLow: l.inClientLow,
    inClientHigh: l.inClientHigh,
    inBodyLength: l.inBodyLength,
    inQueueWaitUs: l.inQueueWaitUs,
    inValues: l.inValues,
    outSlot: l.outSlot,
    outKind: l.outKind,
    outLength: l.outLength,
    outReserved: l.outReserved,
  };
}

/** A reply body larger than maxMessageBytes allows (answerValue): the call is answered with an error instead. */
export class ReplyTooLargeError extends Error {
  constructor(readonly bytes: number) {
    super(`a reply of ${bytes} bytes`);
  }
}

export class Bridge {
  /** The native server, made over this bridge's two areas. */
  readonly native: NativeServer;
  readonly #layout: NativeLayout;
  readonly #batch: Uint32Array;
  readonly #results: Uint32Array;

  // Answers waiting to be handed over: their records are written straight
  // into the result area as they come, #count of them (never more than
  // maxBatch: a full area is handed over at once). An answer's bytes are in
  // the arena, back to back in record order, or, when #own[i] is set, in
  // that Buffer of its own.
  #count = 0;
  /** Per record, an answer's own Buffer; undefined until a chunk has one. */
  #own: (Uint8Array | undefined)[] | undefined = undefined;
  /**
   * The answer arena: small answers are copied, and typed results encoded,
   * here back to back, so a hand-over gives native code one Buffer and no
   * answer costs an allocation of its own. Native code copies the bytes
   * before complete() returns, so the arena is reused at once.
   */
  #arena = new XdrWriter(ARENA_BYTES);

  /** The largest reply body a frame can carry (maxMessageBytes less the header). */
  readonly maxReplyBody: number;

  constructor(options: NativeServerOptions, onNative: OnNative) {
    this.maxReplyBody = (options.maxMessageBytes ?? MAX_MESSAGE_BYTES) - HEADER_BYTES;
    const addon = native();
    this.#layout = fastLayout(addon.layout);
    this.#batch = new Uint32Array(this.#layout.batchAreaWords);
    this.#results = new Uint32Array(this.#layout.resultAreaWords);
    this.native = new addon.NativeServer(options, onNative, this.#batch, this.#results);
  }

  /** The connect, disconnect and log notices queued since the last take, in order. */
  takeNotices(): Notice[] {
    const json = this.native.takeNotices();
    return json === undefined ? [] : (JSON.parse(json) as Notice[]);
  }

  /**
   * Takes one batch of calls and hands each to `visit`, in the order they
   * were queued. Large bodies come lent, each a Buffer of its own (the lent
   * bit of the length word); the rest sit back to back in one Buffer.
   */
  takeCalls(visit: CallVisitor): void {
    const taken = this.native.takeBatch();
    if (taken === undefined) return;
    let bodies: Buffer;
    let values: Float64Array | undefined;
    let lent: Buffer[] | undefined;
    if (Array.isArray(taken)) {
      bodies = taken[0];
      values = taken[1];
      lent = taken as unknown as Buffer[];
    } else {
      bodies = taken;
    }
    let nextLent = 2;
    const { inWords, inSlot, inHandler, inProcedure, inSerial, inClientLow, inClientHigh, inBodyLength, inQueueWaitUs, inValues, lentBody } = this.#layout;
    const a = this.#batch;
    const n = a[0]!;  // word 0: the number of records
    let offset = 0;
    let valuesAt = 0;
    for (let i = 0, at = 1; i < n; i++, at += inWords) {
      const length = a[at + inBodyLength]!;
      let from: Buffer, start: number, size: number;
      if (length >= lentBody) {
        from = lent![nextLent++]!;
        start = 0;
        size = from.length;
      } else {
        from = bodies;
        start = offset;
        size = length;
        offset += length;
      }
      const count = a[at + inValues]!;
      visit(
        a[at + inSlot]!,
        a[at + inHandler]!,
        a[at + inProcedure]! | 0,
        a[at + inSerial]!,
        a[at + inClientHigh]! * 4294967296 + a[at + inClientLow]!,
        a[at + inQueueWaitUs]!,
        from,
        start,
        size,
        count === 0 ? undefined : values,
        valuesAt,
      );
      valuesAt += count;
    }
  }

  /** Queues a reply with status OK and `body`, for the next flush. */
  answer(slot: number, body: Uint8Array): void {
    this.#queue(slot, this.#layout.resultBody, body);
  }

  /** Queues an error reply; `error` is an encoded remote_error (RpcError.encode()). */
  answerError(slot: number, error: Uint8Array): void {
    this.#queue(slot, this.#layout.resultError, error);
  }

  /**
   * Queues a reply with status OK whose body is `value` encoded by
   * `encoder` (a typed procedure's result encoder, looked up once), straight
   * into the answer arena. Throws the codec's XdrError (path from "result")
   * if the value does not fit the schema, or ReplyTooLargeError if its
   * encoding is larger than a frame may carry; nothing is queued then.
   */
  answerValue<S extends Schema>(slot: number, encoder: CompiledEncoder<S>, value: Static<S>): void {
    const start = this.#arena.length;
    encoder.writeTo(value, this.#arena, RESULT_OPTIONS);
    const bytes = this.#arena.length - start;
    if (bytes > this.maxReplyBody) {
      this.#arena.truncate(start);
      throw new ReplyTooLargeError(bytes);
    }
    this.#push(slot, this.#layout.resultBody, bytes, undefined);
  }

  #queue(slot: number, kind: number, bytes: Uint8Array): void {
    if (bytes.length >= SEPARATE_ANSWER_BYTES) {
      this.#push(slot, kind, bytes.length, bytes);
    } else {
      this.#arena.raw(bytes);
      this.#push(slot, kind, bytes.length, undefined);
    }
  }

  /** Writes one answer's record; hands the area over once it is full. */
  #push(slot: number, kind: number, length: number, own: Uint8Array | undefined): void {
    const { outWords, outSlot, outKind, outLength, outReserved, maxBatch } = this.#layout;
    const i = this.#count;
    const r = this.#results;
    const at = i * outWords;
    r[at + outSlot] = slot;
    r[at + outKind] = kind;
    r[at + outLength] = length;
    r[at + outReserved] = 0;
    if (own !== undefined) (this.#own ??= [])[i] = own;
    this.#count = i + 1;
    if (i + 1 === maxBatch) this.flush();
  }

  /** Hands every queued answer to native code (one complete() per full result area). */
  flush(): void {
    const count = this.#count;
    if (count === 0) return;
    const own = this.#own;
    try {
      const arena = this.#arena.view();
      if (own === undefined) {
        this.native.complete(count, arena);
      } else {
        // Some answers have Buffers of their own: one Uint8Array per
        // answer, the arena's as views of it.
        const { outWords, outLength } = this.#layout;
        const r = this.#results;
        const each: Uint8Array[] = [];
        for (let i = 0, from = 0; i < count; i++) {
          const o = own[i];
          if (o !== undefined) {
            each.push(o);
          } else {
            const to = from + r[i * outWords + outLength]!;
            each.push(arena.subarray(from, to));
            from = to;
          }
        }
        this.native.complete(count, each);
      }
    } finally {
      // Emptied whatever happened: a complete() that throws (a bug) must not
      // leave answers to be sent twice.
      this.#count = 0;
      this.#own = undefined;
      // A burst of large answers does not keep a large arena.
      if (this.#arena.capacity > ARENA_KEEP_BYTES) this.#arena = new XdrWriter(ARENA_BYTES);
      else this.#arena.reset();
    }
  }
}
