/**
 * A client for libvirt's RPC wire protocol over a plain `net` socket (UNIX
 * path or TCP). It sends CALL frames, matches REPLY frames to them, answers
 * keepalive PINGs and hands other MESSAGE frames (events) to listeners.
 *
 * It knows nothing about programs or argument types: bodies are raw XDR
 * bytes in and out. Streams and file-descriptor passing are not supported;
 * a peer that sends stream or with-fds frames is treated as broken.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { RpcError } from './errors';
import { isInt32, isUint32 } from './int32';
import {
  HEADER_BYTES,
  KEEPALIVE_PROC_PING,
  KEEPALIVE_PROC_PONG,
  KEEPALIVE_PROGRAM,
  KEEPALIVE_VERSION,
  MAX_MESSAGE_BYTES,
  MIN_FRAME_BYTES,
  STATUS_ERROR,
  STATUS_OK,
  TYPE_CALL,
  TYPE_MESSAGE,
  TYPE_REPLY,
  encodeFrame,
  readHeader,
  typeName,
  writeFrameHeader,
} from './libvirt/wire';
import type { Procedure, ProgramEvent } from './program';
import { decode, encode } from './xdr/codec';
import type { Static } from './xdr/types';

/** The longest delay setTimeout honours; a longer one fires after 1 ms instead. */
const MAX_TIMER_MS = 2147483647;

export interface ConnectOptions {
  /** UNIX socket path. Give either this or `port`. */
  path?: string;
  /** TCP port. */
  port?: number;
  /** TCP host; default localhost. */
  host?: string;
  /**
   * Largest message accepted or sent, counted as libvirt does: header and
   * body, without the 4-byte length word (so the largest length word is
   * this + 4). Default 32 MiB (33554432, libvirt's VIR_NET_MESSAGE_MAX), the
   * server's default.
   */
  maxMessageBytes?: number;
}

export interface CallOptions {
  /** Aborting it rejects the call with the signal's reason; a late reply is then dropped. */
  signal?: AbortSignal;
  /**
   * Rejects the call with code ERR_XDRD_TIMEOUT if no reply came within this
   * many milliseconds (0 to 2147483647); a late reply is then dropped.
   */
  timeoutMs?: number;
}

export interface KeepaliveOptions {
  /** Idle time before a PING is sent, and between PINGs while the link stays silent (at most 2147483647 ms). */
  intervalMs: number;
  /**
   * PINGs sent in a row without any frame coming back before the connection
   * is given up, as in libvirt: it closes after intervalMs × (count + 1) of silence.
   */
  count: number;
}

/** A MESSAGE frame from the server that is not keepalive: usually an event. */
export interface ServerMessage {
  program: number;
  version: number;
  procedure: number;
  serial: number;
  body: Buffer;
}

export interface ClientEvents {
  message: [message: ServerMessage];
  /** `error` is set when the connection ended because of a failure, not close()/destroy(). */
  close: [error?: Error];
  error: [error: Error];
}

/** An Error with a `.code`; the client's own failures use codes starting ERR_XDRD_. */
export interface ClientError extends Error {
  code: string;
}

function clientError(code: string, message: string, cause?: unknown): ClientError {
  const e = (cause === undefined ? new Error(message) : new Error(message, { cause })) as ClientError;
  e.code = code;
  return e;
}

interface PendingCall {
  program: number;
  version: number;
  procedure: number;
  resolve: (body: Buffer) => void;
  reject: (err: unknown) => void;
  /** Drops the timer and the abort listener; safe to call twice. */
  cleanup: () => void;
}

interface CallKey {
  program: number;
  version: number;
  procedure: number;
}

// Never mutated, so one copy can sit in several write queues at once.
const PING_FRAME = encodeFrame({ program: KEEPALIVE_PROGRAM, version: KEEPALIVE_VERSION, procedure: KEEPALIVE_PROC_PING, type: TYPE_MESSAGE, serial: 0, status: STATUS_OK });
const PONG_FRAME = encodeFrame({ program: KEEPALIVE_PROGRAM, version: KEEPALIVE_VERSION, procedure: KEEPALIVE_PROC_PONG, type: TYPE_MESSAGE, serial: 0, status: STATUS_OK });

type State = 'open' | 'closing' | 'closed';

/** A listener for one event of a defineProgram() program: its body decoded. */
export type EventListener<E extends ProgramEvent> = (value: Static<E['body']>, message: ServerMessage) => void;

function isProgramEvent(v: unknown): v is ProgramEvent {
  return typeof v === 'object' && v !== null && (v as ProgramEvent).kind === 'event';
}

function eventKey(program: number, version: number, procedure: number): string {
  return `${program}:${version}:${procedure}`;
}

export class Client extends EventEmitter<ClientEvents> {
  private readonly socket: net.Socket;
  private readonly maxMessageBytes: number;
  private state: State = 'open';
  private readonly closed: Promise<void>;
  /** The error that ended the connection, if it did not end by close(), destroy() or a server EOF. */
  private failure: Error | undefined;

  private nextSerial = 1;
  private readonly calls = new Map<number, PendingCall>();
  /**
   * Serials given up on (abort, timeout) whose reply may still come. Their
   * reply is dropped instead of being taken as a protocol error; the entry
   * goes when the reply arrives or the connection ends.
   */
  private readonly forgotten = new Map<number, CallKey>();

  // Frame reader state. Pieces of an incomplete frame are kept as a list
  // and joined once, so a large frame costs one copy however it is split.
  private lengthWord = Buffer.alloc(4);
  private lengthHave = 0;
  /** Bytes after the length word of the frame being read; -1 while reading a length word. */
  private frameBytes = -1;
  private pieces: Buffer[] = [];
  private piecesBytes = 0;

  /** Typed event listeners, by program, version and procedure. */
  private readonly eventListeners = new Map<string, { event: ProgramEvent; listeners: Array<EventListener<ProgramEvent>> }>();

  private keepaliveTimer: NodeJS.Timeout | undefined;
  private keepalive: KeepaliveOptions | undefined;
  private keepaliveMissed = 0;
  private lastReceived = performance.now();
  private lastPing = -Infinity;

  private constructor(socket: net.Socket, maxMessageBytes: number) {
    super();
    this.socket = socket;
    this.maxMessageBytes = maxMessageBytes;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    // The server may close on purpose (libvirt does after CONNECT_CLOSE), so
    // an EOF is an error only for the calls it leaves unanswered.
    socket.on('end', () => this.shutdown(clientError('ERR_XDRD_CONNECTION_CLOSED', 'The server closed the connection before the reply arrived.')));
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.shutdown(clientError('ERR_XDRD_CONNECTION_CLOSED', 'The connection closed before the reply arrived.'));
        this.state = 'closed';
        resolve();
        this.emit('close', this.failure);
      });
    });
  }

  /**
   * Opens a connection. Resolves once the socket is connected; rejects with
   * the socket's error (code ENOENT, ECONNREFUSED, ...) otherwise.
   */
  static connect(options: ConnectOptions): Promise<Client> {
    const max = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
    if (!isUint32(max) || max < MIN_FRAME_BYTES) {
      return Promise.reject(clientError('ERR_INVALID_ARG_VALUE', `maxMessageBytes must be an integer from ${MIN_FRAME_BYTES} to 4294967295, got ${String(max)}.`));
    }
    const hasPath = options.path !== undefined;
    const hasPort = options.port !== undefined;
    if (hasPath === hasPort) {
      return Promise.reject(clientError('ERR_INVALID_ARG_VALUE', 'Give exactly one of `path` (UNIX socket) or `port` (TCP).'));
    }
    return new Promise((resolve, reject) => {
      const socket = hasPath
        ? net.connect({ path: options.path as string })
        : net.connect({ port: options.port as number, host: options.host, noDelay: true });
      const onError = (err: Error): void => {
        socket.destroy();
        reject(err);
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.removeListener('error', onError);
        resolve(new Client(socket, max));
      });
    });
  }

  /** Calls sent and not yet answered (calls given up on by abort or timeout do not count). */
  get pending(): number {
    return this.calls.size;
  }

  /**
   * Calls a procedure of a program made with `defineProgram`: `args` are
   * encoded with its schema and the reply decoded with its result schema.
   * A reply with status ERROR rejects with an RpcError; a reply that does not
   * decode rejects with an XdrError naming the field.
   */
  call<Proc extends Procedure>(procedure: Proc, args: Static<Proc['args']>, options?: CallOptions): Promise<Static<Proc['result']>>;
  /**
   * Sends one CALL and resolves with the reply body (raw XDR). A reply with
   * status ERROR rejects with an RpcError.
   */
  call(program: number, version: number, procedure: number, body?: Uint8Array, options?: CallOptions): Promise<Buffer>;
  call(...a: unknown[]): Promise<unknown> {
    if (typeof a[0] === 'object' && a[0] !== null) {
      const proc = a[0] as Procedure;
      let body: Buffer;
      try {
        body = encode(proc.args, a[1] as never, { name: `${proc.name} args` });
      } catch (e) {
        return Promise.reject(e);
      }
      return this.callRaw(proc.program, proc.version, proc.id, body, (a[2] as CallOptions | undefined) ?? {}).then((reply) =>
        decode(proc.result, reply, { name: `${proc.name} result` }),
      );
    }
    return this.callRaw(a[0] as number, a[1] as number, a[2] as number, a[3] as Uint8Array | undefined, (a[4] as CallOptions | undefined) ?? {});
  }

  private callRaw(program: number, version: number, procedure: number, body: Uint8Array | undefined, options: CallOptions): Promise<Buffer> {
    if (!isUint32(program) || !isUint32(version) || !isInt32(procedure)) {
      return Promise.reject(clientError('ERR_INVALID_ARG_VALUE',
        `Program and version must be unsigned 32-bit integers and procedure a signed 32-bit integer, got ${String(program)}, ${String(version)}, ${String(procedure)}.`));
    }
    const { signal, timeoutMs } = options;
    if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs >= 0 && timeoutMs <= MAX_TIMER_MS)) {
      return Promise.reject(clientError('ERR_INVALID_ARG_VALUE', `timeoutMs must be a number of milliseconds from 0 to ${MAX_TIMER_MS}, got ${String(timeoutMs)}.`));
    }
    if (this.state !== 'open') {
      return Promise.reject(this.closedError());
    }
    if (signal?.aborted) {
      return Promise.reject(abortReason(signal));
    }
    const bodyLength = body?.length ?? 0;
    if (MIN_FRAME_BYTES + bodyLength > this.maxMessageBytes + 4) {
      return Promise.reject(clientError('ERR_XDRD_MESSAGE_TOO_LARGE',
        `The call would be a ${MIN_FRAME_BYTES + bodyLength}-byte frame, more than the ${this.maxMessageBytes + 4}-byte limit.`));
    }

    const serial = this.takeSerial();
    const frame = Buffer.allocUnsafe(MIN_FRAME_BYTES + bodyLength);
    writeFrameHeader(frame, 0, { program, version, procedure, type: TYPE_CALL, serial, status: STATUS_OK }, bodyLength);
    if (body !== undefined && bodyLength > 0) frame.set(body, MIN_FRAME_BYTES);

    return new Promise<Buffer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const giveUp = (err: unknown): void => {
        if (this.calls.get(serial) !== entry) return;
        this.calls.delete(serial);
        this.forgotten.set(serial, { program, version, procedure });
        entry.cleanup();
        reject(err);
      };
      const onAbort = (): void => giveUp(abortReason(signal as AbortSignal));
      const entry: PendingCall = {
        program,
        version,
        procedure,
        resolve,
        reject,
        cleanup: () => {
          if (timer !== undefined) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      this.calls.set(serial, entry);
      if (signal !== undefined) signal.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => giveUp(clientError('ERR_XDRD_TIMEOUT', `No reply to the call (program ${program}, procedure ${procedure}, serial ${serial}) within ${timeoutMs} ms.`)), timeoutMs);
        // The socket keeps the process alive while it is open; the timer need not.
        timer.unref();
      }
      this.socket.write(frame);
    });
  }

  /**
   * Sends a PING after intervalMs with nothing received, and keeps sending
   * one per interval while the link stays silent. After `count` unanswered
   * PINGs and one more silent interval the connection is destroyed and the
   * pending calls reject with ERR_XDRD_KEEPALIVE. Calling it again replaces
   * the settings.
   */
  startKeepalive(options: KeepaliveOptions): void {
    const { intervalMs, count } = options;
    if (!(typeof intervalMs === 'number' && intervalMs > 0 && intervalMs <= MAX_TIMER_MS)) {
      throw clientError('ERR_INVALID_ARG_VALUE', `intervalMs must be a number of milliseconds above 0 and at most ${MAX_TIMER_MS}, got ${String(intervalMs)}.`);
    }
    if (!(Number.isInteger(count) && count >= 0)) {
      throw clientError('ERR_INVALID_ARG_VALUE', `count must be an integer >= 0, got ${String(count)}.`);
    }
    this.stopKeepalive();
    if (this.state !== 'open') return;
    this.keepalive = { intervalMs, count };
    this.keepaliveMissed = 0;
    this.lastPing = -Infinity;
    this.lastReceived = performance.now();
    this.armKeepalive(intervalMs);
  }

  /** Stops sending PINGs. Incoming PINGs are still answered. */
  stopKeepalive(): void {
    if (this.keepaliveTimer !== undefined) clearTimeout(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
    this.keepalive = undefined;
  }

  /**
   * Ends the connection gracefully: frames already written are flushed, then
   * the socket closes. Pending calls reject at once with ERR_XDRD_CLIENT_CLOSED;
   * the promise resolves when the socket is closed.
   */
  /**
   * Listens for one event of a defineProgram() program (`Program.events.name`):
   * the listener gets the body decoded with the event's schema, and the raw
   * message. A body that does not decode is an 'error' event (the listener
   * is not called). Other arguments: as EventEmitter's on().
   */
  override on<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this;
  override on<E extends ProgramEvent>(event: E, listener: EventListener<E>): this;
  override on(event: unknown, listener: (...args: never[]) => void): this {
    if (!isProgramEvent(event)) return super.on(event as keyof ClientEvents, listener as never);
    if (typeof listener !== 'function') throw new TypeError('the listener must be a function');
    const key = eventKey(event.program, event.version, event.id);
    let entry = this.eventListeners.get(key);
    if (entry === undefined) {
      entry = { event, listeners: [] };
      this.eventListeners.set(key, entry);
    }
    entry.listeners.push(listener as unknown as EventListener<ProgramEvent>);
    return this;
  }

  /** Removes a listener added with on(); for program events, the typed one. */
  override off<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this;
  override off<E extends ProgramEvent>(event: E, listener: EventListener<E>): this;
  override off(event: unknown, listener: (...args: never[]) => void): this {
    if (!isProgramEvent(event)) return super.off(event as keyof ClientEvents, listener as never);
    const key = eventKey(event.program, event.version, event.id);
    const entry = this.eventListeners.get(key);
    if (entry === undefined) return this;
    const i = entry.listeners.lastIndexOf(listener as unknown as EventListener<ProgramEvent>);
    if (i >= 0) entry.listeners.splice(i, 1);
    if (entry.listeners.length === 0) this.eventListeners.delete(key);
    return this;
  }

  private dispatchTyped(message: ServerMessage): void {
    if (this.eventListeners.size === 0) return;
    const entry = this.eventListeners.get(eventKey(message.program, message.version, message.procedure));
    if (entry === undefined) return;
    let value: unknown;
    try {
      value = decode(entry.event.body, message.body, { name: entry.event.name });
    } catch (e) {
      const err = clientError('ERR_XDRD_BAD_EVENT', `Event ${entry.event.name} did not decode: ${(e as Error).message}`, e);
      if (this.listenerCount('error') > 0) this.emit('error', err);
      else process.emitWarning(err);
      return;
    }
    for (const listener of [...entry.listeners]) listener(value as never, message);
  }

  close(): Promise<void> {
    if (this.state === 'open') {
      this.shutdown(clientError('ERR_XDRD_CLIENT_CLOSED', 'The client was closed before the reply arrived.'));
      // Incoming data is ignored from now on, so once our queued writes are
      // flushed there is no reason to wait for the server's own FIN.
      this.socket.end(() => this.socket.destroy());
    }
    return this.closed;
  }

  /** Closes the socket at once, dropping unsent data. Pending calls reject with ERR_XDRD_CLIENT_CLOSED. */
  destroy(): void {
    if (this.state === 'open') {
      this.shutdown(clientError('ERR_XDRD_CLIENT_CLOSED', 'The client was destroyed before the reply arrived.'));
    }
    this.socket.destroy();
  }

  /** Lets the socket keep the process alive (the default). */
  ref(): this {
    this.socket.ref();
    return this;
  }

  /** Lets the process exit even though the socket is open. */
  unref(): this {
    this.socket.unref();
    return this;
  }

  // ---------------------------------------------------------------------------

  private closedError(): ClientError {
    return clientError('ERR_XDRD_CLIENT_CLOSED', this.failure
      ? `The connection is closed: ${this.failure.message}`
      : 'The client is closed.', this.failure);
  }

  private takeSerial(): number {
    // After a wrap, a serial still waiting (or forgotten) must not be reused,
    // or its reply would be handed to the wrong call.
    let serial = this.nextSerial;
    while (this.calls.has(serial) || this.forgotten.has(serial)) {
      serial = serial === 0xffffffff ? 1 : serial + 1;
    }
    this.nextSerial = serial === 0xffffffff ? 1 : serial + 1;
    return serial;
  }

  /** Stops everything and rejects every pending call with `err`. Idempotent. */
  private shutdown(err: Error): void {
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.stopKeepalive();
    this.forgotten.clear();
    this.pieces = [];
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const c of calls) {
      c.cleanup();
      c.reject(err);
    }
  }

  /** The connection died of `err`: reject everything, tell listeners, drop the socket. */
  private fail(err: Error): void {
    if (this.state !== 'open') return;
    this.failure = err;
    this.shutdown(err);
    // An unhandled 'error' event would crash the process; the calls that
    // cared have already been rejected and 'close' carries the error too.
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.socket.destroy();
  }

  private protocolError(message: string): void {
    this.fail(clientError('ERR_XDRD_PROTOCOL', message));
  }

  private onData(chunk: Buffer): void {
    if (this.state !== 'open') return;
    if (this.keepalive !== undefined) this.lastReceived = performance.now();
    let off = 0;
    const end = chunk.length;
    while (off < end && this.state === 'open') {
      if (this.frameBytes < 0) {
        let length: number;
        if (this.lengthHave === 0 && end - off >= 4) {
          length = chunk.readUInt32BE(off);
          off += 4;
        } else {
          const n = Math.min(4 - this.lengthHave, end - off);
          chunk.copy(this.lengthWord, this.lengthHave, off, off + n);
          this.lengthHave += n;
          off += n;
          if (this.lengthHave < 4) return;
          this.lengthHave = 0;
          length = this.lengthWord.readUInt32BE(0);
        }
        // Checked before anything is buffered: the length is the peer's word.
        if (length < MIN_FRAME_BYTES || length > this.maxMessageBytes + 4) {
          this.protocolError(`The server sent a frame length of ${length} bytes; it must be from ${MIN_FRAME_BYTES} to ${this.maxMessageBytes + 4}.`);
          return;
        }
        this.frameBytes = length - 4;
        // The chunk ended right after the length word. Going on would park an
        // empty view of this chunk in `pieces`, pinning its memory until some
        // later frame happens to arrive split.
        if (off === end) return;
      }

      const need = this.frameBytes - this.piecesBytes;
      const avail = end - off;
      let frame: Buffer;
      if (this.piecesBytes === 0 && avail >= need) {
        frame = chunk.subarray(off, off + need);
        off += need;
        // A view pins the whole chunk; for a small frame in a big chunk
        // (coalesced replies) a copy keeps what the caller holds small.
        if (need * 2 < end) frame = Buffer.from(frame);
      } else {
        const take = Math.min(need, avail);
        this.pieces.push(chunk.subarray(off, off + take));
        this.piecesBytes += take;
        off += take;
        if (this.piecesBytes < this.frameBytes) return;
        frame = Buffer.concat(this.pieces, this.frameBytes);
        this.pieces = [];
        this.piecesBytes = 0;
      }
      this.frameBytes = -1;
      this.onFrame(frame);
    }
  }

  /** `frame` is the header and body, without the length word; the caller never reuses it. */
  private onFrame(frame: Buffer): void {
    const { program, version, procedure, type, serial, status } = readHeader(frame, 0);
    const body = frame.subarray(HEADER_BYTES);

    if (type === TYPE_REPLY) {
      this.onReply(program, version, procedure, serial, status, body);
    } else if (type === TYPE_MESSAGE) {
      if (program === KEEPALIVE_PROGRAM && version === KEEPALIVE_VERSION) {
        if (procedure === KEEPALIVE_PROC_PING) this.socket.write(PONG_FRAME);
        // PONG (and anything else on the keepalive program) only proves the
        // peer is alive, which receiving it already recorded.
        return;
      }
      const message: ServerMessage = { program, version, procedure, serial, body };
      this.emit('message', message);
      this.dispatchTyped(message);
    } else {
      this.protocolError(`The server sent a ${typeName(type)} frame (program ${program}, procedure ${procedure}, serial ${serial}), which this client does not accept.`);
    }
  }

  private onReply(program: number, version: number, procedure: number, serial: number, status: number, body: Buffer): void {
    const call = this.calls.get(serial);
    const expected = call ?? this.forgotten.get(serial);
    if (expected === undefined) {
      this.protocolError(`The server sent a reply for serial ${serial} (program ${program}, procedure ${procedure}), but no call is waiting for it.`);
      return;
    }
    if (expected.program !== program || expected.version !== version || expected.procedure !== procedure) {
      this.protocolError(`The server's reply for serial ${serial} is for program ${program} version ${version} procedure ${procedure}, but the call was program ${expected.program} version ${expected.version} procedure ${expected.procedure}.`);
      return;
    }
    if (call === undefined) {
      this.forgotten.delete(serial);
      return;
    }
    this.calls.delete(serial);
    call.cleanup();
    if (status === STATUS_OK) {
      call.resolve(body);
    } else if (status === STATUS_ERROR) {
      let err: Error;
      try {
        err = RpcError.decode(body);
      } catch (cause) {
        err = clientError('ERR_XDRD_PROTOCOL', `The server's error reply for serial ${serial} could not be decoded.`, cause);
      }
      call.reject(err);
    } else {
      call.reject(clientError('ERR_XDRD_PROTOCOL', `The server's reply for serial ${serial} has status ${status}; a reply must have status OK (0) or ERROR (1).`));
    }
  }

  private armKeepalive(delayMs: number): void {
    this.keepaliveTimer = setTimeout(() => this.keepaliveTick(), delayMs);
    // Keepalive alone must not hold the process open.
    this.keepaliveTimer.unref();
  }

  private keepaliveTick(): void {
    this.keepaliveTimer = undefined;
    const ka = this.keepalive;
    if (ka === undefined || this.state !== 'open') return;
    const now = performance.now();
    // Anything after our last PING counts as the answer, not only a PONG.
    if (this.lastReceived > this.lastPing) this.keepaliveMissed = 0;
    const idle = now - this.lastReceived;
    if (idle < ka.intervalMs) {
      this.armKeepalive(ka.intervalMs - idle);
      return;
    }
    if (this.keepaliveMissed >= ka.count) {
      this.fail(clientError('ERR_XDRD_KEEPALIVE', `The server did not answer ${ka.count} keepalive PING(s) sent ${ka.intervalMs} ms apart; the connection was closed.`));
      return;
    }
    this.keepaliveMissed++;
    this.lastPing = now;
    this.socket.write(PING_FRAME);
    this.armKeepalive(ka.intervalMs);
  }
}

function abortReason(signal: AbortSignal): unknown {
  if (signal.reason !== undefined) return signal.reason;
  const e = clientError('ABORT_ERR', 'The call was aborted.');
  e.name = 'AbortError';
  return e;
}
