/**
 * Server: the TypeScript face of the native daemon core.
 *
 * Threads: everything here runs on the JS thread. Native worker threads hand
 * calls over through the addon's queue; the JS thread is woken once per
 * empty → non-empty transition and takes the calls in batches of flat data
 * (see native/addon/call_bridge.h for the layouts). Answers go back the same
 * way: one shared result area and one Buffer per flush.
 */
import { EventEmitter } from 'events';
import * as util from 'util';

import { RpcError, isRpcError } from './errors';
import { isInt32, isUint32 } from './int32';
import { native } from './native';
import type { AnyProgram, Handlers, Procedure } from './program';
import { decode, encode } from './xdr/codec';
import type { NativeServer, NativeServerOptions, NativeStats } from './native';

/** What a handler knows about the call it serves. */
export class CallContext {
  constructor(
    /** The program number of the call. */
    readonly program: number,
    /** The program version of the call. */
    readonly version: number,
    /** The procedure number (a signed 32-bit int). */
    readonly procedure: number,
    /** The serial the client chose; the reply carries it back. */
    readonly serial: number,
    /** The connection's id: unique for the life of the process. */
    readonly clientId: number,
  ) {}
}

/**
 * A raw handler: the call's XDR-encoded body in, the reply's XDR-encoded
 * body out (or a Promise of it). Throw an RpcError to send an error reply;
 * anything else thrown becomes an internal error reply and an 'error' event.
 * `body` is only valid for the call: copy it to keep it beyond.
 */
export type RawHandler = (body: Buffer, ctx: CallContext) => Uint8Array | Promise<Uint8Array>;

/** Handlers of one program version, by procedure number; '*' catches the rest. */
export interface RawHandlers {
  [procedure: number]: RawHandler;
  '*'?: RawHandler;
}

export interface ServerOptions extends NativeServerOptions {}

export type ListenOptions =
  | {
      /** A UNIX socket path; an existing path is an error (EADDRINUSE). */
      path: string;
      /** Permission bits of the socket, applied before it is reachable. Default 0o600. */
      mode?: number;
    }
  | {
      /** TCP port; 0 (the default) picks a free one. */
      port?: number;
      /** A numeric IPv4 or IPv6 address. Default '127.0.0.1'. */
      host?: string;
    };

export type AddressInfo = { path: string } | { host: string; port: number };

export interface CloseOptions {
  /**
   * How long calls already read may still finish, in milliseconds; then each
   * unanswered call gets the "server is shutting down" error. Default 10000.
   */
  graceMs?: number;
}

export interface CloseResult {
  /** Every call was answered and written within the grace period. */
  drained: boolean;
  /** Calls answered with the shutdown error when the grace period ended. */
  callsCancelled: number;
  /** Connections closed at the end. */
  clientsClosed: number;
}

export type ServerStats = NativeStats;

interface HandlerEntry {
  program: number;
  version: number;
  fn: RawHandler;
}

const DEFAULT_GRACE_MS = 10000;

/** A thrown value as an Error, without losing what it was. */
function asError(e: unknown): Error {
  if (e instanceof Error) return e;
  return new Error(`a non-Error value was thrown: ${util.inspect(e, { depth: 1 })}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'object') return `an object (${(v as object).constructor?.name ?? 'Object'})`;
  return `a ${typeof v}`;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as PromiseLike<unknown>).then === 'function';
}

function checkUint32(v: unknown, what: string): number {
  if (!isUint32(v))
    throw new RangeError(`${what} must be an unsigned 32-bit integer, got ${util.inspect(v)}`);
  return v;
}

function checkInt32(v: unknown, what: string): number {
  if (!isInt32(v))
    throw new RangeError(`${what} must be a signed 32-bit integer, got ${util.inspect(v)}`);
  return v;
}

function listenError(errno: number, detail: string, address: string, port?: number): Error {
  const [code, text] = util.getSystemErrorMap().get(-errno) ?? [`E${errno}`, detail];
  const where = port === undefined ? address : `${address}:${port}`;
  const err = new Error(`listen ${code}: ${text} ${where}`) as NodeJS.ErrnoException & {
    address?: string;
    port?: number;
    detail?: string;
  };
  err.code = code;
  err.errno = -errno;
  err.syscall = 'listen';
  err.address = address;
  if (port !== undefined) err.port = port;
  err.detail = detail;
  return err;
}

/** Wraps a typed handler as a raw one: decode, run, encode. */
function typedHandler(proc: Procedure, fn: (args: unknown, ctx: CallContext) => unknown): RawHandler {
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
 * An RPC server speaking libvirt's wire protocol, with native threads doing
 * the I/O and TypeScript handlers doing the work.
 *
 * Events: 'listening' (address), 'close' (result), 'error' (err, ctx) when a
 * handler throws something that is not an RpcError or returns a non-Buffer.
 * Without an 'error' listener such errors become process warnings: the
 * server never goes down for a handler.
 */
export class Server extends EventEmitter {
  readonly #native: NativeServer;
  readonly #batch: Uint32Array;
  readonly #results: Uint32Array;
  readonly #inWords: number;
  readonly #outWords: number;
  readonly #maxBatch: number;
  readonly #kindBody: number;
  readonly #kindError: number;
  readonly #handlers: HandlerEntry[] = [];
  readonly #addresses: AddressInfo[] = [];
  #closing: Promise<CloseResult> | undefined;
  #resolveClose: ((r: CloseResult) => void) | undefined;

  // Answers waiting for the next flush, in parallel arrays.
  #outSlots: number[] = [];
  #outKinds: number[] = [];
  #outBytes: Uint8Array[] = [];
  #flushQueued = false;

  constructor(options: ServerOptions = {}) {
    super();
    const addon = native();
    const layout = addon.layout;
    this.#inWords = layout.inWords;
    this.#outWords = layout.outWords;
    this.#maxBatch = layout.maxBatch;
    this.#kindBody = layout.resultBody;
    this.#kindError = layout.resultError;
    this.#batch = new Uint32Array(layout.batchAreaWords);
    this.#results = new Uint32Array(layout.resultAreaWords);
    this.#native = new addon.NativeServer({ ...options }, this.#onNative, this.#batch, this.#results);
  }

  /**
   * Registers typed handlers for a program made with `defineProgram`: each
   * gets its arguments decoded with the procedure's schema and returns (or
   * resolves) a value of its result schema, which is encoded for it.
   * Arguments that do not decode get the error "Unable to decode message
   * payload: <field path and reason>" without reaching the handler; a result
   * that does not encode is an internal error and an 'error' event.
   * Procedures left out answer "unknown procedure". Before the first
   * listen(), like every registration.
   */
  handle<P extends AnyProgram>(program: P, handlers: Partial<Handlers<P, CallContext>>): this;
  /**
   * Registers raw handlers for one program version, by procedure number
   * ('*' for the rest): XDR bytes in, XDR bytes out. Call before the first
   * listen(): the running server's table is fixed. A later registration of
   * the same procedure replaces the earlier one.
   */
  handle(program: number, version: number, handlers: RawHandlers): this;
  handle(...a: unknown[]): this {
    if (typeof a[0] === 'object' && a[0] !== null) return this.#handleProgram(a[0] as AnyProgram, a[1] as Record<string, unknown>);
    return this.#handleRaw(a[0] as number, a[1] as number, a[2] as RawHandlers);
  }

  #handleProgram(program: AnyProgram, handlers: Record<string, unknown>): this {
    if (typeof handlers !== 'object' || handlers === null) throw new TypeError('handlers must be an object of functions by procedure name');
    const raw: RawHandlers = {};
    for (const [name, fn] of Object.entries(handlers)) {
      const proc = Object.prototype.hasOwnProperty.call(program.procedures, name) ? program.procedures[name] : undefined;
      if (!proc) throw new TypeError(`the program has no procedure named '${name}'`);
      if (typeof fn !== 'function') throw new TypeError(`the handler for ${name} must be a function`);
      raw[proc.id] = typedHandler(proc, fn as (args: unknown, ctx: CallContext) => unknown);
    }
    return this.#handleRaw(program.number, program.version, raw);
  }

  #handleRaw(program: number, version: number, handlers: RawHandlers): this {
    checkUint32(program, 'program');
    checkUint32(version, 'version');
    if (this.#native.state !== 'idle') {
      const err = new Error('handle() must be called before listen(): the running server\'s handler table is fixed') as NodeJS.ErrnoException;
      err.code = 'ERR_XDRD_SERVER_RUNNING';
      throw err;
    }
    for (const key of Object.keys(handlers)) {
      const fn = (handlers as Record<string, unknown>)[key];
      if (typeof fn !== 'function') throw new TypeError(`the handler for ${key} must be a function`);
      if (key !== '*' && !/^-?\d+$/.test(key)) throw new TypeError(`handler keys are procedure numbers or '*', got '${key}'`);
    }
    for (const key of Object.keys(handlers)) {
      const fn = (handlers as Record<string, RawHandler>)[key]!;
      const index = this.#handlers.push({ program, version, fn }) - 1;
      if (key === '*') this.#native.handleProgram(program, version, index);
      else this.#native.handle(program, version, checkInt32(Number(key), 'procedure'), index);
    }
    return this;
  }

  /** Opens a listener and starts serving. Resolves with its address. */
  async listen(options: ListenOptions): Promise<AddressInfo> {
    if (this.#native.state === 'closing') {
      const err = new Error('listen() while the server is closing') as NodeJS.ErrnoException;
      err.code = 'ERR_SERVER_NOT_RUNNING';
      throw err;
    }
    let address: AddressInfo;
    if ('path' in options) {
      if (typeof options.path !== 'string' || options.path === '') throw new TypeError('path must be a non-empty string');
      const mode = options.mode ?? 0o600;
      if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new RangeError('mode must be permission bits (0 to 0o7777)');
      const r = this.#native.listenUnix(options.path, mode);
      if (!r.ok) throw listenError(r.errno ?? 0, r.message ?? '', options.path);
      address = { path: r.path ?? options.path };
    } else {
      const host = options.host ?? '127.0.0.1';
      const port = options.port ?? 0;
      if (typeof host !== 'string') throw new TypeError('host must be a string');
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('port must be from 0 to 65535');
      const r = this.#native.listenTcp(host, port);
      if (!r.ok) throw listenError(r.errno ?? 0, r.message ?? '', host, port);
      address = { host: r.host ?? host, port: r.port ?? port };
    }
    this.#native.start();
    this.#addresses.push(address);
    this.emit('listening', address);
    return address;
  }

  /**
   * The first address listened on, or null when not listening (like
   * net.Server's address()). addresses() lists them all.
   */
  address(): AddressInfo | null {
    const first = this.#addresses[0];
    return first ? { ...first } : null;
  }

  /**
   * Lets the process exit while this server is the only thing keeping it
   * alive (like net.Server's unref()). It keeps serving while the process
   * runs. Holds across close() and listen().
   */
  unref(): this {
    this.#native.setRef(false);
    return this;
  }

  /** Undoes unref(): a listening server keeps the process alive (the default). */
  ref(): this {
    this.#native.setRef(true);
    return this;
  }

  /** The addresses being listened on. */
  addresses(): AddressInfo[] {
    return this.#addresses.map((a) => ({ ...a }));
  }

  /** True from the first listen() until close() completes. */
  get listening(): boolean {
    return this.#native.state !== 'idle';
  }

  /**
   * Stops accepting at once; lets calls already read finish for `graceMs`;
   * then answers the rest with the shutdown error, closes every connection
   * and joins every thread. A second call returns the first one's promise.
   * A closed server may listen() again.
   */
  close(options: CloseOptions = {}): Promise<CloseResult> {
    if (this.#closing) return this.#closing;
    const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    if (!isUint32(graceMs))
      return Promise.reject(new RangeError('graceMs must be a non-negative integer'));
    if (this.#native.state === 'idle') return Promise.resolve({ drained: true, callsCancelled: 0, clientsClosed: 0 });
    this.#closing = new Promise<CloseResult>((resolve) => {
      this.#resolveClose = resolve;
    });
    this.#native.close(graceMs);
    return this.#closing;
  }

  /** Counters of the core and of the JS bridge. */
  stats(): ServerStats {
    return this.#native.stats();
  }

  // ---- The bridge (JS thread) ------------------------------------------------

  readonly #onNative = (kind: number, drained?: boolean, cancelled?: number, clientsClosed?: number): void => {
    try {
      if (kind === 0) this.#drain();
      else this.#closed(drained === true, cancelled ?? 0, clientsClosed ?? 0);
    } catch (e) {
      // Only a bug in xdrd itself gets here: handlers' throws are caught.
      process.emitWarning(asError(e), 'XdrdInternalWarning');
    }
  };

  #drain(): void {
    const bodies = this.#native.takeBatch();
    if (bodies === undefined) return;
    const a = this.#batch;
    const n = a[0]!;
    const words = this.#inWords;
    let offset = 0;
    for (let i = 0, at = 1; i < n; i++, at += words) {
      const slot = a[at]!;
      const entry = this.#handlers[a[at + 1]!]!;
      const length = a[at + 6]!;
      const body = bodies.subarray(offset, offset + length);
      offset += length;
      const ctx = new CallContext(entry.program, entry.version, a[at + 2]! | 0, a[at + 3]!, a[at + 5]! * 4294967296 + a[at + 4]!);
      let result: Uint8Array | Promise<Uint8Array>;
      try {
        result = entry.fn(body, ctx);
      } catch (e) {
        this.#failed(slot, e, ctx);
        continue;
      }
      if (isThenable(result)) {
        result.then(
          (v) => this.#settledLater(slot, v, ctx, false),
          (e: unknown) => this.#settledLater(slot, e, ctx, true),
        );
      } else {
        this.#succeeded(slot, result, ctx);
      }
    }
    this.#flush();
  }

  #settledLater(slot: number, value: unknown, ctx: CallContext, failed: boolean): void {
    if (failed) this.#failed(slot, value, ctx);
    else this.#succeeded(slot, value, ctx);
    // Promises settled in the same turn share one flush.
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => {
        this.#flushQueued = false;
        this.#flush();
      });
    }
  }

  #succeeded(slot: number, value: unknown, ctx: CallContext): void {
    if (value instanceof Uint8Array) {
      this.#queueAnswer(slot, this.#kindBody, value);
      return;
    }
    const problem = `the handler for procedure ${ctx.procedure} of program ${ctx.program} returned ${describe(value)}, not a Buffer`;
    this.#queueAnswer(slot, this.#kindError, RpcError.internal(problem).encode());
    this.#report(new TypeError(problem), ctx);
  }

  #failed(slot: number, thrown: unknown, ctx: CallContext): void {
    if (isRpcError(thrown)) {
      let bytes: Buffer;
      try {
        bytes = thrown.encode();
      } catch (e) {
        const problem = `the handler for procedure ${ctx.procedure} threw an RpcError that cannot be encoded: ${asError(e).message}`;
        this.#queueAnswer(slot, this.#kindError, RpcError.internal(problem).encode());
        this.#report(new TypeError(problem), ctx);
        return;
      }
      this.#queueAnswer(slot, this.#kindError, bytes);
      return;
    }
    const err = asError(thrown);
    const reply = RpcError.internal(`the handler for procedure ${ctx.procedure} of program ${ctx.program} failed: ${err.message}`);
    this.#queueAnswer(slot, this.#kindError, reply.encode());
    this.#report(err, ctx);
  }

  #queueAnswer(slot: number, kind: number, bytes: Uint8Array): void {
    this.#outSlots.push(slot);
    this.#outKinds.push(kind);
    this.#outBytes.push(bytes);
  }

  /** Hands every queued answer to native code, at most maxBatch per call. */
  #flush(): void {
    const total = this.#outSlots.length;
    if (total === 0) return;
    const slots = this.#outSlots;
    const kinds = this.#outKinds;
    const bytes = this.#outBytes;
    this.#outSlots = [];
    this.#outKinds = [];
    this.#outBytes = [];
    const r = this.#results;
    const words = this.#outWords;
    for (let start = 0; start < total; start += this.#maxBatch) {
      const end = Math.min(total, start + this.#maxBatch);
      let size = 0;
      for (let i = start, at = 0; i < end; i++, at += words) {
        const len = bytes[i]!.length;
        r[at] = slots[i]!;
        r[at + 1] = kinds[i]!;
        r[at + 2] = len;
        r[at + 3] = 0;
        size += len;
      }
      const data = end - start === 1 ? Buffer.from(bytes[start]!.buffer, bytes[start]!.byteOffset, size) : Buffer.concat(bytes.slice(start, end), size);
      this.#native.complete(end - start, data);
    }
  }

  #report(err: Error, ctx: CallContext): void {
    process.nextTick(() => {
      if (this.listenerCount('error') > 0) this.emit('error', err, ctx);
      else process.emitWarning(err, 'XdrdHandlerWarning');
    });
  }

  #closed(drained: boolean, callsCancelled: number, clientsClosed: number): void {
    this.#native.finishClose();
    this.#flush();
    const result: CloseResult = { drained, callsCancelled, clientsClosed };
    const resolve = this.#resolveClose;
    this.#closing = undefined;
    this.#resolveClose = undefined;
    this.#addresses.length = 0;
    resolve?.(result);
    this.emit('close', result);
  }
}
