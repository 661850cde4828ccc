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

import { Connection } from './connection';
import type { ConnectNotice, ConnectionHost, DisconnectReason } from './connection';
import { CallContext } from './context';
import { RpcError, isRpcError } from './errors';
import { isInt32, isUint32 } from './int32';
import { native } from './native';
import type { NativeServer, NativeServerOptions, NativeStats } from './native';
import { ProcedureTable } from './procedure-stats';
import type { ProcedureStats } from './procedure-stats';
import type { AnyProgram, Handlers, Procedure, ProgramEvent } from './program';
import type { Static } from './xdr';
import { decode, encode } from './xdr/codec';

export { CallContext } from './context';

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

export interface ServerOptions extends Omit<NativeServerOptions, 'requireAuthorization'> {
  /**
   * Decides whether a new connection may talk to the server; may be async.
   * Until it settles the connection is not read (its calls wait in the
   * kernel) and counts as unauthenticated. `true` lets it in; anything else,
   * or a throw, closes it before any of its calls is read (reason 'denied').
   * Default: every connection is let in at once.
   */
  authorize?: (client: Connection) => boolean | Promise<boolean>;
  /**
   * With `authorize`: connections at most that wait for it to settle; at the
   * bound the server stops accepting (new ones wait in the listen backlog)
   * until one settles. Default 20 (libvirtd's max_anonymous_clients).
   */
  maxUnauthenticatedClients?: number;
  /**
   * A deadline for every call, in milliseconds from the handler being
   * called: when it passes, the client gets an OPERATION_TIMEOUT error, the
   * call's `ctx.signal` aborts with code 'deadline', and whatever the
   * handler answers later is dropped. Default 0: no deadline.
   */
  callDeadlineMs?: number;
  /**
   * What the native loop thread waits in: 'epoll' (the default; a turn costs
   * the connections that are ready, so thousands of idle ones cost nothing)
   * or 'poll' (poll(2) over every connection each turn; kept as the
   * reference). The environment variable XDRD_EVENT_BACKEND=epoll|poll
   * overrides it, for tests; any other value of it makes listen() fail with
   * an error naming the variable.
   */
  eventBackend?: 'epoll' | 'poll';
}

interface ListenCommon {
  /**
   * Marks the connections this listener accepts as read-only
   * (`ctx.client.readOnly`), for handlers to enforce. Default false.
   */
  readOnly?: boolean;
}

export type ListenOptions =
  | (ListenCommon & {
      /**
       * A UNIX socket path. An existing path is replaced only when it is a
       * stale socket nobody listens on; a live socket, a file or anything
       * else there is an EADDRINUSE error.
       */
      path: string;
      /** Permission bits of the socket, in force before the path appears. Default 0o600. */
      mode?: number;
    })
  | (ListenCommon & {
      /** TCP port; 0 (the default) picks a free one. */
      port?: number;
      /** A numeric IPv4 or IPv6 address. Default '127.0.0.1'. */
      host?: string;
    })
  | (ListenCommon & {
      /**
       * A listening socket the process inherited (socket activation, a
       * parent's descriptor). The server owns it from then on and closes it
       * on close(); a UNIX path it has is left in place.
       */
      fd: number;
    });

export type AddressInfo = { path: string } | { host: string; port: number };

/** One record of the native side's log: what it dropped, refused or paused. */
export interface LogRecord {
  message: string;
  /** The connection it is about, if any. */
  clientId: number | null;
  /** When the JS side received it. */
  time: Date;
}

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

export interface ServerStats extends NativeStats {
  /** Connections the JS side knows (accepted and not yet reported gone). */
  connections: number;
  /** Replies with an error: the loop's protocol errors and the handlers' (errorReplies + handlerErrors). */
  callsFailed: number;
  /** Answers handlers gave with an error (thrown, rejected, bad result, deadline). */
  handlerErrors: number;
  /** Handler results that came after their client left or their deadline passed, and were dropped. */
  lateResultsDropped: number;
  /** Per procedure: calls, errors and latency, split into queue wait and run time. */
  procedures: ProcedureStats[];
}

interface HandlerEntry {
  program: number;
  version: number;
  fn: RawHandler;
  table: ProcedureTable;
}

const DEFAULT_GRACE_MS = 10000;

/**
 * Natives of the servers now running. process.exit() on the main thread
 * leaves without running the addon's cleanup hook, so the 'exit' listener
 * stops them (no grace; every xdrd thread joined) before exit() tears the
 * process down under threads that would still hold locks.
 */
const runningNatives = new Set<NativeServer>();
let exitListener = false;
function stopAllOnExit(): void {
  for (const n of runningNatives) n.stopNow();
  runningNatives.clear();
}
const DEFAULT_MAX_MESSAGE_BYTES = 33554432;
/** Bit 31 of a batch record's length word: the body is lent (native/addon/call_bridge.h). */
const LENT_BODY = 0x80000000;
/**
 * A flush carrying at least this many bytes passes one Buffer per answer
 * instead of concatenating them: a copy of that size costs more than the
 * native side's per-Buffer look-up.
 */
const SEPARATE_ANSWERS_BYTES = 64 * 1024;
const HEADER_BYTES = 24;

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
  // Node's wording first; then why, when the native side knows more than
  // the errno says (for a UNIX path: a file there, or a live socket).
  const why = /^listen on UNIX socket '.*': (path .*)$/s.exec(detail)?.[1];
  const err = new Error(`listen ${code}: ${text} ${where}${why ? ` (${why})` : ''}`) as NodeJS.ErrnoException & {
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
 * Events
 *   'listening' (address)             a listener opened
 *   'connection' (client)             a client was accepted (before `authorize` settles)
 *   'disconnect' (client, reason)     a client is gone; `reason` says why
 *   'log' (record)                    the native side dropped, refused or paused something
 *   'error' (err, ctx?)               a handler or `authorize` threw something that is not
 *                                     an RpcError, or returned what cannot be sent. Without
 *                                     a listener it becomes a process warning: the server
 *                                     never goes down for a handler.
 *   'close' (result)                  close() finished; every thread is joined
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
  readonly #connections = new Map<number, Connection>();
  readonly #authorize: ((client: Connection) => boolean | Promise<boolean>) | undefined;
  readonly #deadlineMs: number;
  readonly #maxMessageBytes: number;
  readonly #host: ConnectionHost;
  #closing: Promise<CloseResult> | undefined;
  #resolveClose: ((r: CloseResult) => void) | undefined;
  #graceTimer: NodeJS.Timeout | undefined;
  #handlerErrors = 0;
  #lateResults = 0;

  // Answers waiting for the next flush, in parallel arrays.
  #outSlots: number[] = [];
  #outKinds: number[] = [];
  #outBytes: Uint8Array[] = [];
  #flushQueued = false;
  // Connections to close once the answers queued before are handed over.
  #closeAfterFlush: Connection[] = [];
  // Disconnects pulled during a drain, applied at its end.
  #departures: DisconnectNotice[] = [];

  constructor(options: ServerOptions = {}) {
    super();
    const { authorize, callDeadlineMs, ...nativeOptions } = options;
    if (authorize !== undefined && typeof authorize !== 'function') throw new TypeError('options.authorize must be a function');
    const deadline = callDeadlineMs ?? 0;
    if (!isUint32(deadline) || deadline > 0x7fffffff) throw new RangeError('options.callDeadlineMs must be an integer from 0 to 2147483647');
    this.#authorize = authorize;
    this.#deadlineMs = deadline;
    this.#maxMessageBytes = nativeOptions.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const addon = native();
    const layout = addon.layout;
    this.#inWords = layout.inWords;
    this.#outWords = layout.outWords;
    this.#maxBatch = layout.maxBatch;
    this.#kindBody = layout.resultBody;
    this.#kindError = layout.resultError;
    this.#batch = new Uint32Array(layout.batchAreaWords);
    this.#results = new Uint32Array(layout.resultAreaWords);
    this.#native = new addon.NativeServer(
      { ...nativeOptions, requireAuthorization: authorize !== undefined },
      this.#onNative,
      this.#batch,
      this.#results,
    );
    const nat = this.#native;
    this.#host = {
      closeClient: (id, afterWrites) => {
        this.#flush();  // the answers already given go first
        nat.closeClient(id, afterWrites);
      },
      startKeepalive: (id, intervalMs, count) => {
        this.#flush();
        nat.startKeepalive(id, intervalMs, count);
      },
      idle: (connection) => {
        this.#closeAfterFlush.push(connection);
        this.#scheduleFlush();
      },
    };
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
    const names = new Map<number, string>();
    for (const [name, fn] of Object.entries(handlers)) {
      const proc = Object.prototype.hasOwnProperty.call(program.procedures, name) ? program.procedures[name] : undefined;
      if (!proc) throw new TypeError(`the program has no procedure named '${name}'`);
      if (typeof fn !== 'function') throw new TypeError(`the handler for ${name} must be a function`);
      raw[proc.id] = typedHandler(proc, fn as (args: unknown, ctx: CallContext) => unknown);
      names.set(proc.id, name);
    }
    return this.#handleRaw(program.number, program.version, raw, names);
  }

  #handleRaw(program: number, version: number, handlers: RawHandlers, names: ReadonlyMap<number, string> = new Map()): this {
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
      const index = this.#handlers.push({ program, version, fn, table: new ProcedureTable(program, version, names) }) - 1;
      if (key === '*') this.#native.handleProgram(program, version, index);
      else this.#native.handle(program, version, checkInt32(Number(key), 'procedure'), index);
    }
    return this;
  }

  /**
   * Opens a listener and starts serving. Resolves with its address. A server
   * may listen on several addresses, each with its own options.
   */
  async listen(options: ListenOptions): Promise<AddressInfo> {
    if (this.#native.state === 'closing') {
      const err = new Error('listen() while the server is closing') as NodeJS.ErrnoException;
      err.code = 'ERR_SERVER_NOT_RUNNING';
      throw err;
    }
    if (typeof options !== 'object' || options === null) throw new TypeError('listen() takes an options object: { path }, { port, host } or { fd }');
    const readOnly = options.readOnly ?? false;
    if (typeof readOnly !== 'boolean') throw new TypeError('readOnly must be a boolean');
    let address: AddressInfo;
    if ('path' in options) {
      if (typeof options.path !== 'string' || options.path === '') throw new TypeError('path must be a non-empty string');
      const mode = options.mode ?? 0o600;
      if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new RangeError('mode must be permission bits (0 to 0o7777)');
      const r = this.#native.listenUnix(options.path, mode, readOnly);
      if (!r.ok) throw listenError(r.errno ?? 0, r.message ?? '', options.path);
      address = { path: r.path ?? options.path };
    } else if ('fd' in options) {
      const fd = options.fd;
      if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw new RangeError('fd must be a descriptor number');
      const r = this.#native.listenFd(fd, readOnly);
      if (!r.ok) throw listenError(r.errno ?? 0, r.message ?? '', `fd ${fd}`);
      address = r.family === 'unix' ? { path: r.path ?? '' } : { host: r.host ?? '', port: r.port ?? 0 };
    } else {
      const host = options.host ?? '127.0.0.1';
      const port = options.port ?? 0;
      if (typeof host !== 'string') throw new TypeError('host must be a string');
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('port must be from 0 to 65535');
      const r = this.#native.listenTcp(host, port, readOnly);
      if (!r.ok) throw listenError(r.errno ?? 0, r.message ?? '', host, port);
      address = { host: r.host ?? host, port: r.port ?? port };
    }
    this.#native.start();
    runningNatives.add(this.#native);
    if (!exitListener) {
      exitListener = true;
      process.on('exit', stopAllOnExit);
    }
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

  /** The addresses being listened on. */
  addresses(): AddressInfo[] {
    return this.#addresses.map((a) => ({ ...a }));
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

  /** True from the first listen() until close() completes. */
  get listening(): boolean {
    return this.#native.state !== 'idle';
  }

  /** The connected clients, by id. */
  get connections(): ReadonlyMap<number, Connection> {
    return this.#connections;
  }

  /**
   * Sends an event — a MESSAGE frame, serial 0 — to one client. Replies
   * already given reach the wire before it. Returns false when the client
   * is no longer connected (the event is dropped).
   */
  sendEvent<E extends ProgramEvent>(client: Connection | number, event: E, value: Static<E['body']>): boolean;
  sendEvent(client: Connection | number, program: number, version: number, procedure: number, body?: Uint8Array): boolean;
  sendEvent(client: Connection | number, ...a: unknown[]): boolean {
    const id = typeof client === 'number' ? client : client instanceof Connection ? client.id : NaN;
    if (!Number.isInteger(id) || id < 1) throw new TypeError('sendEvent: client must be a Connection or a client id');
    let program: number, version: number, procedure: number, body: Uint8Array;
    if (typeof a[0] === 'object' && a[0] !== null) {
      const event = a[0] as ProgramEvent;
      if (event.kind !== 'event') throw new TypeError('sendEvent: expected an event of a defineProgram() program');
      program = event.program;
      version = event.version;
      procedure = event.id;
      body = encode(event.body, a[1] as never, { name: event.name });
    } else {
      program = checkUint32(a[0], 'program');
      version = checkUint32(a[1], 'version');
      procedure = checkInt32(a[2], 'procedure');
      body = (a[3] as Uint8Array | undefined) ?? new Uint8Array(0);
      if (!(body instanceof Uint8Array)) throw new TypeError('sendEvent: body must be a Uint8Array');
    }
    if (HEADER_BYTES + body.length > this.#maxMessageBytes)
      throw new RangeError(`sendEvent: an event of ${body.length} bytes exceeds maxMessageBytes (${this.#maxMessageBytes})`);
    if (this.#native.state === 'idle') return false;
    this.#flush();  // the replies given so far go first
    return this.#native.sendEvent(id, program, version, procedure, body);
  }

  /**
   * Stops accepting at once; lets calls already read finish for `graceMs`;
   * then answers the rest with the shutdown error (their `ctx.signal` aborts
   * with code 'shutdown'), closes every connection and joins every thread.
   * A second call returns the first one's promise. A closed server may
   * listen() again.
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
    this.#flush();
    this.#native.close(graceMs);
    this.#graceTimer = setTimeout(() => this.#abortAll('shutdown', 'the server is shutting down'), graceMs).unref();
    return this.#closing;
  }

  /** Counters of the core, of the JS bridge and of the handlers, per procedure. */
  stats(): ServerStats {
    const n = this.#native.stats();
    const procedures: ProcedureStats[] = [];
    for (const entry of this.#handlers) for (const r of entry.table.records()) procedures.push(r.snapshot());
    return {
      ...n,
      connections: this.#connections.size,
      callsFailed: n.errorReplies + this.#handlerErrors,
      handlerErrors: this.#handlerErrors,
      lateResultsDropped: this.#lateResults,
      procedures,
    };
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
    // Notices first: a client's connect always comes before its calls. Its
    // disconnect is applied after the calls taken in the same turn, so
    // those see the client and are then abandoned with it.
    this.#pullNotices();
    this.#takeCalls();
    this.#flush();
    const departures = this.#departures;
    this.#departures = [];
    for (const d of departures) this.#disconnected(d.id, d.reason);
    this.#flush();
  }

  /**
   * Applies the notices queued so far; disconnects wait in #departures for
   * the end of the drain. Native code queues a client's connect notice
   * before the client is ever read, so a call whose client is unknown here
   * finds it by pulling again.
   */
  #pullNotices(): void {
    const json = this.#native.takeNotices();
    if (json === undefined) return;
    for (const notice of JSON.parse(json) as Notice[]) {
      if (notice.kind === 'disconnect') this.#departures.push(notice);
      else this.#notice(notice);
    }
  }

  #takeCalls(): void {
    const taken = this.#native.takeBatch();
    if (taken === undefined) return;
    // Large bodies are lent as Buffers of their own (bit 31 of the length
    // word); the rest sit back to back in one Buffer.
    const lent = Array.isArray(taken) ? taken : undefined;
    const bodies = lent === undefined ? (taken as Buffer) : lent[0]!;
    let nextLent = 1;
    const a = this.#batch;
    const n = a[0]!;
    const words = this.#inWords;
    const deadlineMs = this.#deadlineMs;
    let offset = 0;
    for (let i = 0, at = 1; i < n; i++, at += words) {
      const slot = a[at]!;
      const entry = this.#handlers[a[at + 1]!]!;
      const length = a[at + 6]!;
      let body: Buffer;
      if (length >= LENT_BODY) {
        body = lent![nextLent++]!;
      } else {
        body = bodies.subarray(offset, offset + length);
        offset += length;
      }
      const procedure = a[at + 2]! | 0;
      const clientId = a[at + 5]! * 4294967296 + a[at + 4]!;
      let client = this.#connections.get(clientId);
      if (client === undefined) {
        // Its connect notice came after this drain took the notices.
        this.#pullNotices();
        client = this.#connections.get(clientId);
      }
      if (client === undefined || client.closing) {
        // Gone or going: the answer would be dropped; do not run the handler.
        this.#queueAnswer(slot, this.#kindError, RpcError.rpc('the connection is closing').encode());
        continue;
      }
      const ctx = new CallContext(
        entry.program,
        entry.version,
        procedure,
        a[at + 3]!,
        client,
        a[at + 7]!,
        deadlineMs > 0 ? Date.now() + deadlineMs : undefined,
      );
      const record = entry.table.get(procedure);
      ctx.record = record;
      record.calls++;
      record.queueWait.record(ctx.queueWaitUs);
      client.callStarted(slot, ctx);
      if (deadlineMs > 0) ctx.deadlineTimer = setTimeout(this.#deadlinePassed, deadlineMs, slot, ctx).unref();
      ctx.startedAt = performance.now();
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
  }

  #notice(notice: Notice): void {
    if (notice.kind === 'log') {
      if (this.listenerCount('log') > 0)
        this.emit('log', { message: notice.message, clientId: notice.id === 0 ? null : notice.id, time: new Date() } satisfies LogRecord);
      return;
    }
    if (notice.kind !== 'connect') return;
    const client = new Connection(this.#host, notice, this.#authorize === undefined);
    this.#connections.set(client.id, client);
    this.emit('connection', client);
    if (this.#authorize !== undefined) this.#runAuthorize(client, this.#authorize);
  }

  #runAuthorize(client: Connection, hook: (client: Connection) => boolean | Promise<boolean>): void {
    const settle = (allow: boolean): void => {
      if (!client.connected || client.authorized) return;
      if (allow) client.setAuthorized();
      this.#native.authorize(client.id, allow);
    };
    const fail = (e: unknown): void => {
      settle(false);
      this.#report(asError(e), undefined);
    };
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = hook(client);
    } catch (e) {
      fail(e);
      return;
    }
    if (isThenable(verdict)) Promise.resolve(verdict).then((v) => settle(v === true), fail);
    else settle(verdict === true);
  }

  #disconnected(id: number, reason: DisconnectReason): void {
    const client = this.#connections.get(id);
    if (client === undefined) return;
    this.#connections.delete(id);
    client.setDisconnected(reason);
    // Its calls still in the handlers: tell them, and give their slots
    // back now (the answers are dropped natively), so the client is freed
    // without waiting for handlers that may never finish.
    for (const [slot, ctx] of client.calls) {
      ctx.abort('disconnect', 'the client disconnected');
      this.#giveUp(slot, ctx, RpcError.rpc('the client disconnected'));
      ctx.record.abandoned++;
    }
    this.emit('disconnect', client, reason);
  }

  readonly #deadlinePassed = (slot: number, ctx: CallContext): void => {
    if (ctx.done) return;
    ctx.abort('deadline', `the call passed its deadline of ${this.#deadlineMs} ms`);
    ctx.record.deadlines++;
    ctx.record.errors++;
    this.#handlerErrors++;
    this.#giveUp(slot, ctx, RpcError.timeout(`the call did not finish within ${this.#deadlineMs} ms`));
    this.#scheduleFlush();
  };

  #abortAll(code: 'shutdown', message: string): void {
    for (const client of this.#connections.values()) for (const ctx of client.calls.values()) ctx.abort(code, message);
  }

  /** Answers a call the handler still has; its own answer will be dropped. */
  #giveUp(slot: number, ctx: CallContext, error: RpcError): void {
    this.#finish(slot, ctx);
    this.#queueAnswer(slot, this.#kindError, error.encode());
  }

  /** Marks the call answered: exactly once per call, whoever answers. */
  #finish(slot: number, ctx: CallContext): boolean {
    if (ctx.done) {
      this.#lateResults++;
      return false;
    }
    ctx.done = true;
    if (ctx.deadlineTimer !== undefined) clearTimeout(ctx.deadlineTimer);
    ctx.record.runTime.record((performance.now() - ctx.startedAt) * 1000);
    ctx.client.callEnded(slot);
    return true;
  }

  #settledLater(slot: number, value: unknown, ctx: CallContext, failed: boolean): void {
    if (failed) this.#failed(slot, value, ctx);
    else this.#succeeded(slot, value, ctx);
    // Promises settled in the same turn share one flush.
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flush();
    });
  }

  #succeeded(slot: number, value: unknown, ctx: CallContext): void {
    if (!this.#finish(slot, ctx)) return;
    if (value instanceof Uint8Array) {
      this.#queueAnswer(slot, this.#kindBody, value);
      return;
    }
    const problem = `the handler for procedure ${ctx.procedure} of program ${ctx.program} returned ${describe(value)}, not a Buffer`;
    this.#handlerFailed(slot, ctx, RpcError.internal(problem), new TypeError(problem));
  }

  #failed(slot: number, thrown: unknown, ctx: CallContext): void {
    if (!this.#finish(slot, ctx)) return;
    if (isRpcError(thrown)) {
      let bytes: Buffer;
      try {
        bytes = thrown.encode();
      } catch (e) {
        const problem = `the handler for procedure ${ctx.procedure} threw an RpcError that cannot be encoded: ${asError(e).message}`;
        this.#handlerFailed(slot, ctx, RpcError.internal(problem), new TypeError(problem));
        return;
      }
      ctx.record.errors++;
      this.#handlerErrors++;
      this.#queueAnswer(slot, this.#kindError, bytes);
      return;
    }
    const err = asError(thrown);
    const reply = RpcError.internal(`the handler for procedure ${ctx.procedure} of program ${ctx.program} failed: ${err.message}`);
    this.#handlerFailed(slot, ctx, reply, err);
  }

  #handlerFailed(slot: number, ctx: CallContext, reply: RpcError, report: Error): void {
    ctx.record.errors++;
    this.#handlerErrors++;
    this.#queueAnswer(slot, this.#kindError, reply.encode());
    this.#report(report, ctx);
  }

  #queueAnswer(slot: number, kind: number, bytes: Uint8Array): void {
    this.#outSlots.push(slot);
    this.#outKinds.push(kind);
    this.#outBytes.push(bytes);
  }

  /** Hands every queued answer to native code, at most maxBatch per call. */
  #flush(): void {
    const total = this.#outSlots.length;
    if (total > 0) {
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
        // Large answers go one Buffer each: concatenating would copy them
        // once more on this thread, and native code copies them anyway.
        const data =
          end - start === 1
            ? Buffer.from(bytes[start]!.buffer, bytes[start]!.byteOffset, size)
            : size >= SEPARATE_ANSWERS_BYTES
              ? bytes.slice(start, end)
              : Buffer.concat(bytes.slice(start, end), size);
        this.#native.complete(end - start, data);
      }
    }
    if (this.#closeAfterFlush.length > 0) {
      const closing = this.#closeAfterFlush;
      this.#closeAfterFlush = [];
      for (const client of closing) client.closeWhenIdle();
    }
  }

  #report(err: Error, ctx: CallContext | undefined): void {
    process.nextTick(() => {
      if (this.listenerCount('error') > 0) this.emit('error', err, ctx);
      else process.emitWarning(err, 'XdrdHandlerWarning');
    });
  }

  #closed(drained: boolean, callsCancelled: number, clientsClosed: number): void {
    // Notices still queued (the server-close disconnects); the calls still
    // queued were answered by the shutdown and are dropped by finishClose().
    this.#pullNotices();
    const departures = this.#departures;
    this.#departures = [];
    for (const d of departures) this.#disconnected(d.id, d.reason);
    this.#native.finishClose();
    runningNatives.delete(this.#native);
    this.#flush();
    if (this.#graceTimer !== undefined) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    // Whatever the native side did not report is gone with the run.
    for (const id of [...this.#connections.keys()]) this.#disconnected(id, 'server-close');
    const result: CloseResult = { drained, callsCancelled, clientsClosed };
    const resolve = this.#resolveClose;
    this.#closing = undefined;
    this.#resolveClose = undefined;
    this.#addresses.length = 0;
    resolve?.(result);
    this.emit('close', result);
  }
}

interface DisconnectNotice {
  kind: 'disconnect';
  id: number;
  reason: DisconnectReason;
}

type Notice = ConnectNotice | DisconnectNotice | { kind: 'log'; id: number; message: string };
