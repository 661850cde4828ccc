/**
 * Server: the TypeScript face of the native daemon core.
 *
 * Threads: everything here runs on the JS thread. It ties together the
 * parts in this folder: the bridge to the native call queue (bridge.ts),
 * the calls the handlers have (calls.ts), the connections (connection-
 * registry.ts), the handler table (handlers.ts, typed.ts) and listen()
 * (listen.ts).
 */
import { EventEmitter } from 'events';

import { RpcError } from '../errors';
import { checkInt32, checkUint32, isUint32 } from '../int32';
import { HEADER_BYTES, MAX_MESSAGE_BYTES } from '../libvirt/wire';
import type { NativeServer } from '../native';
import type { AnyProgram, Handlers, ProgramEvent } from '../program';
import type { Static } from '../xdr';
import { encode } from '../xdr/codec';
import { Bridge, CALLS_WAITING } from './bridge';
import type { CallVisitor, DisconnectNotice, Notice } from './bridge';
import { CallRegistry } from './calls';
import { Connection } from './connection';
import { ConnectionRegistry } from './connection-registry';
import type { CallContext } from './context';
import { HandlerTable } from './handlers';
import { openListener } from './listen';
import { typedHandlers } from './typed';
import type { AddressInfo, CloseOptions, CloseResult, ListenOptions, LogRecord, RawHandlers, SendEventOptions, ServerOptions, ServerStats } from './types';
import { asError } from './values';

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
/** authorizeTimeoutMs' default: as frameTimeoutMs, 30 s. */
const DEFAULT_AUTHORIZE_TIMEOUT_MS = 30000;

export class Server extends EventEmitter {
  readonly #bridge: Bridge;
  readonly #native: NativeServer;
  readonly #handlers: HandlerTable;
  readonly #calls: CallRegistry;
  readonly #connections: ConnectionRegistry;
  readonly #addresses: AddressInfo[] = [];
  readonly #maxMessageBytes: number;
  #closing: Promise<CloseResult> | undefined;
  #resolveClose: ((r: CloseResult) => void) | undefined;
  #graceTimer: NodeJS.Timeout | undefined;
  #flushQueued = false;
  // Connections to close once the answers queued before are handed over.
  #closeAfterFlush: Connection[] = [];
  // Disconnects pulled during a drain, applied at its end.
  #departures: DisconnectNotice[] = [];

  constructor(options: ServerOptions = {}) {
    super();
    const { authorize, callDeadlineMs, authorizeTimeoutMs, ...nativeOptions } = options;
    if (authorize !== undefined && typeof authorize !== 'function') throw new TypeError('options.authorize must be a function');
    const authorizeLimit = authorizeTimeoutMs ?? DEFAULT_AUTHORIZE_TIMEOUT_MS;
    if (!isUint32(authorizeLimit) || authorizeLimit > 0x7fffffff)
      throw new RangeError('options.authorizeTimeoutMs must be an integer from 0 to 2147483647');
    const deadline = callDeadlineMs ?? 0;
    if (!isUint32(deadline) || deadline > 0x7fffffff) throw new RangeError('options.callDeadlineMs must be an integer from 0 to 2147483647');
    this.#maxMessageBytes = nativeOptions.maxMessageBytes ?? MAX_MESSAGE_BYTES;
    this.#bridge = new Bridge({ ...nativeOptions, requireAuthorization: authorize !== undefined }, this.#onNative);
    const bridge = this.#bridge;
    const nat = (this.#native = bridge.native);
    this.#handlers = new HandlerTable(nat);
    this.#calls = new CallRegistry(
      {
        maxReplyBody: bridge.maxReplyBody,
        answer: (slot, body) => bridge.answer(slot, body),
        answerValue: (slot, encoder, value) => bridge.answerValue(slot, encoder, value as never),
        answerError: (slot, error) => bridge.answerError(slot, error),
        scheduleFlush: () => this.#scheduleFlush(),
        report: (err, ctx) => this.#report(err, ctx),
      },
      deadline,
    );
    const host = {
      closeClient: (id: number, afterWrites: boolean) => {
        this.#flush();  // the answers already given go first
        nat.closeClient(id, afterWrites);
      },
      startKeepalive: (id: number, intervalMs: number, count: number) => {
        this.#flush();
        nat.startKeepalive(id, intervalMs, count);
      },
      idle: (connection: Connection) => {
        this.#closeAfterFlush.push(connection);
        this.#scheduleFlush();
      },
      authorize: (id: number, allow: boolean) => void nat.authorize(id, allow),
      report: (err: Error) => this.#report(err, undefined),
    };
    this.#connections = new ConnectionRegistry(this, host, authorize, this.#calls, authorizeLimit);
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
    if (typeof a[0] === 'object' && a[0] !== null) {
      const program = a[0] as AnyProgram;
      const { raw, typed, names } = typedHandlers(program, a[1] as Record<string, unknown>);
      this.#handlers.register(program.number, program.version, raw, names, typed);
    } else {
      this.#handlers.register(a[0] as number, a[1] as number, a[2] as RawHandlers, new Map());
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
    const address = openListener(this.#native, options);
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
    return this.#connections.all;
  }

  /**
   * Sends an event — a MESSAGE frame — to one client. Replies already
   * given reach the wire before it. Returns false when the client is no
   * longer connected (the event is dropped). The frame's serial is
   * `options.serial`, 0 by default (libvirtd's events carry 1).
   */
  sendEvent<E extends ProgramEvent>(client: Connection | number, event: E, value: Static<E['body']>, options?: SendEventOptions): boolean;
  sendEvent(client: Connection | number, program: number, version: number, procedure: number, body?: Uint8Array, options?: SendEventOptions): boolean;
  sendEvent(client: Connection | number, ...a: unknown[]): boolean {
    const id = typeof client === 'number' ? client : client instanceof Connection ? client.id : NaN;
    if (!Number.isInteger(id) || id < 1) throw new TypeError('sendEvent: client must be a Connection or a client id');
    let program: number, version: number, procedure: number, body: Uint8Array;
    let options: SendEventOptions | undefined;
    if (typeof a[0] === 'object' && a[0] !== null) {
      const event = a[0] as ProgramEvent;
      if (event.kind !== 'event') throw new TypeError('sendEvent: expected an event of a defineProgram() program');
      program = event.program;
      version = event.version;
      procedure = event.id;
      body = encode(event.body, a[1] as never, { name: event.name });
      options = a[2] as SendEventOptions | undefined;
    } else {
      program = checkUint32(a[0], 'program');
      version = checkUint32(a[1], 'version');
      procedure = checkInt32(a[2], 'procedure');
      body = (a[3] as Uint8Array | undefined) ?? new Uint8Array(0);
      if (!(body instanceof Uint8Array)) throw new TypeError('sendEvent: body must be a Uint8Array');
      options = a[4] as SendEventOptions | undefined;
    }
    const serial = options?.serial === undefined ? 0 : checkUint32(options.serial, 'serial');
    if (HEADER_BYTES + body.length > this.#maxMessageBytes)
      throw new RangeError(`sendEvent: an event of ${body.length} bytes exceeds maxMessageBytes (${this.#maxMessageBytes})`);
    if (this.#native.state === 'idle') return false;
    this.#flush();  // the replies given so far go first
    return this.#native.sendEvent(id, program, version, procedure, body, serial);
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
    this.#graceTimer = setTimeout(() => this.#calls.abortAll('shutdown', 'the server is shutting down'), graceMs).unref();
    return this.#closing;
  }

  /** Counters of the core, of the JS bridge and of the handlers, per procedure. */
  stats(): ServerStats {
    const n = this.#native.stats();
    return {
      ...n,
      connections: this.#connections.all.size,
      callsFailed: n.errorReplies + this.#calls.handlerErrors,
      handlerErrors: this.#calls.handlerErrors,
      lateResultsDropped: this.#calls.lateResults,
      authorizeTimeouts: this.#connections.authorizeTimeouts,
      procedures: this.#handlers.procedureStats(),
    };
  }

  // ---- The bridge's wake-ups (JS thread) ---------------------------------------

  readonly #onNative = (kind: number, drained?: boolean, cancelled?: number, clientsClosed?: number): void => {
    try {
      if (kind === CALLS_WAITING) this.#drain();
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
    this.#calls.beginBatch();
    this.#bridge.takeCalls(this.#startCall);
    this.#flush();
    this.#applyDepartures();
    this.#flush();
  }

  /**
   * Applies the notices queued so far; disconnects wait in #departures for
   * the end of the drain. Native code queues a client's connect notice
   * before the client is ever read, so a call whose client is unknown here
   * finds it by pulling again.
   */
  #pullNotices(): void {
    for (const notice of this.#bridge.takeNotices()) {
      if (notice.kind === 'disconnect') this.#departures.push(notice);
      else this.#notice(notice);
    }
  }

  #applyDepartures(): void {
    const departures = this.#departures;
    this.#departures = [];
    for (const d of departures) this.#connections.disconnected(d.id, d.reason);
  }

  readonly #startCall: CallVisitor = (slot, handlerIndex, procedure, serial, clientId, queueWaitUs, bodies, bodyStart, bodyLength, values, valuesStart) => {
    let client = this.#connections.get(clientId);
    if (client === undefined) {
      // Its connect notice came after this drain took the notices.
      this.#pullNotices();
      client = this.#connections.get(clientId);
    }
    if (client === undefined || client.closing) {
      // Gone or going: the answer would be dropped; do not run the handler.
      this.#bridge.answerError(slot, RpcError.rpc('the connection is closing').encode());
      return;
    }
    this.#calls.start(slot, this.#handlers.get(handlerIndex), procedure, serial, client, queueWaitUs, bodies, bodyStart, bodyLength, values, valuesStart);
  };

  #notice(notice: Exclude<Notice, DisconnectNotice>): void {
    if (notice.kind === 'connect') {
      this.#connections.connected(notice);
    } else if (this.listenerCount('log') > 0) {
      this.emit('log', { message: notice.message, clientId: notice.id === 0 ? null : notice.id, time: new Date() } satisfies LogRecord);
    }
  }

  #scheduleFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flush();
    });
  }

  /** Hands the answers given so far to native code, then closes the connections waiting for that. */
  #flush(): void {
    this.#bridge.flush();
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
    this.#applyDepartures();
    this.#native.finishClose();
    runningNatives.delete(this.#native);
    this.#flush();
    if (this.#graceTimer !== undefined) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    // Whatever the native side did not report is gone with the run.
    this.#connections.disconnectAll('server-close');
    const result: CloseResult = { drained, callsCancelled, clientsClosed };
    const resolve = this.#resolveClose;
    this.#closing = undefined;
    this.#resolveClose = undefined;
    this.#addresses.length = 0;
    resolve?.(result);
    this.emit('close', result);
  }
}
