/**
 * Connection: one client of a Server, as handlers and event listeners see
 * it (`ctx.client`, the 'connection' and 'disconnect' events).
 *
 * Threads: JS thread only. The socket itself lives on the native loop
 * thread; everything a Connection asks of it (authorize, close, keepalive,
 * events) is queued to that thread in order with the replies the JS thread
 * gives, so a reply and then an event reach the wire in that order.
 */

/** Why a connection ended (the 'disconnect' event and `connection.disconnectReason`). */
export type DisconnectReason =
  /** The peer closed its end. */
  | 'eof'
  /** A read or write on the socket failed (for example a reset). */
  | 'io-error'
  /** The peer sent something that cannot be framed or whose header does not decode. */
  | 'protocol'
  /** The peer announced a message larger than `maxMessageBytes`. */
  | 'limit'
  /** Server-side keepalive: the peer stayed silent for intervalMs × (count + 1). */
  | 'keepalive'
  /** The peer did not read its replies and events: its send queue passed `maxSendQueueBytes`. */
  | 'sendQueue'
  /** The peer started a frame and did not finish it within `frameTimeoutMs`. */
  | 'frameTimeout'
  /** The server closed (close()). */
  | 'server-close'
  /** The application closed it (`connection.close()`). */
  | 'handler'
  /** `authorize` refused it (or threw). */
  | 'denied';

/** Peer credentials of a UNIX-socket client, from the kernel (SO_PEERCRED). */
export interface PeerCredentials {
  uid: number;
  gid: number;
  pid: number;
}

export interface KeepaliveSettings {
  /** Idle time before the server sends a PING. Default 5000 (libvirtd's 5 s). */
  intervalMs?: number;
  /** Unanswered PINGs before the client is dropped: it closes after intervalMs × (count + 1) of silence. Default 5. */
  count?: number;
}

export interface ConnectionCloseOptions {
  /**
   * Close only once the replies to the calls this connection has in the
   * handlers are answered and written (what a CONNECT_CLOSE handler needs:
   * its own reply still reaches the client). No new call of the connection
   * starts meanwhile. Default false: close now; unwritten replies are dropped.
   */
  afterReply?: boolean;
}

/** What the server gives a Connection to act on its native client. @internal */
export interface ConnectionHost {
  closeClient(id: number, afterWrites: boolean): void;
  startKeepalive(id: number, intervalMs: number, count: number): void;
  /** Called when the connection has no call in the handlers any more. */
  idle(connection: Connection): void;
}

/** The notice the native side sends when a client is accepted. @internal */
export interface ConnectNotice {
  kind: 'connect';
  id: number;
  transport: 'unix' | 'tcp';
  readOnly: boolean;
  listener: number;
  uid?: number;
  gid?: number;
  pid?: number;
  address?: string;
  port?: number;
}

const DEFAULT_KEEPALIVE_INTERVAL_MS = 5000;
const DEFAULT_KEEPALIVE_COUNT = 5;

function checkCount(v: unknown, what: string, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 0xffffffff)
    throw new RangeError(`${what} must be an integer from ${min} to 4294967295`);
  return v;
}

export class Connection {
  /** Unique for the life of the process; never reused. */
  readonly id: number;
  /** How the client reached the server. */
  readonly transport: 'unix' | 'tcp';
  /** UNIX sockets: who the peer process is; null for TCP or when the kernel gave none. */
  readonly credentials: PeerCredentials | null;
  /** TCP: the peer's numeric address and port; null for UNIX sockets. */
  readonly remoteAddress: string | null;
  readonly remotePort: number | null;
  /** The `readOnly` setting of the listener that accepted it, for handlers to enforce. */
  readonly readOnly: boolean;
  /**
   * Per-connection application state: anything a handler stores here lives
   * as long as the connection (libvirt's per-client private data).
   */
  state: Record<string, unknown> = {};

  #host: ConnectionHost;
  #authorized: boolean;
  #reason: DisconnectReason | null = null;
  #closeRequested = false;
  #closeAfterReply = false;
  /** Calls of this connection the handlers have and have not answered (the calls themselves are in calls.ts). */
  #callsInFlight = 0;

  /** @internal */
  constructor(host: ConnectionHost, notice: ConnectNotice, authorized: boolean) {
    this.#host = host;
    this.id = notice.id;
    this.transport = notice.transport;
    this.readOnly = notice.readOnly;
    this.credentials =
      notice.uid !== undefined && notice.gid !== undefined && notice.pid !== undefined
        ? { uid: notice.uid, gid: notice.gid, pid: notice.pid }
        : null;
    this.remoteAddress = notice.address ?? null;
    this.remotePort = notice.port ?? null;
    this.#authorized = authorized;
  }

  /** False until `authorize` lets it in (always true without an authorize hook). */
  get authorized(): boolean {
    return this.#authorized;
  }

  /** True until the native side reports it closed. */
  get connected(): boolean {
    return this.#reason === null;
  }

  /** Why it ended, once it has; null while connected. */
  get disconnectReason(): DisconnectReason | null {
    return this.#reason;
  }

  /** True once close() was called: its calls no longer start. */
  get closing(): boolean {
    return this.#closeRequested || this.#reason !== null;
  }

  /**
   * Closes the connection (the 'disconnect' reason is 'handler'). With
   * `{ afterReply: true }`, first lets the replies of the calls it has in
   * the handlers be answered and written. Calling it again, or after the
   * connection ended, does nothing.
   */
  close(options: ConnectionCloseOptions = {}): void {
    if (this.#reason !== null || this.#closeRequested) return;
    this.#closeRequested = true;
    if (options.afterReply === true && this.#callsInFlight > 0) {
      this.#closeAfterReply = true;  // the server calls closeWhenIdle() once the last reply is flushed
      return;
    }
    this.#host.closeClient(this.id, options.afterReply === true);
  }

  /**
   * Turns server-side keepalive on for this connection, as libvirtd does
   * once a client asks for it: a PING after `intervalMs` of silence, and the
   * connection closes (reason 'keepalive') after intervalMs × (count + 1)
   * without a frame from the peer. Takes effect before any reply given after
   * this call.
   */
  startKeepalive(settings: KeepaliveSettings = {}): void {
    if (this.#reason !== null) return;
    const interval = checkCount(settings.intervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS, 'intervalMs', 1);
    const count = checkCount(settings.count ?? DEFAULT_KEEPALIVE_COUNT, 'count', 0);
    this.#host.startKeepalive(this.id, interval, count);
  }

  /** Calls of this connection its handlers have not answered yet. */
  get callsInFlight(): number {
    return this.#callsInFlight;
  }

  /** @internal A call of this connection was handed to a handler. */
  callStarted(): void {
    this.#callsInFlight++;
  }

  /** @internal Its answer was queued (or it was given up). */
  callEnded(): void {
    this.#callsInFlight--;
    if (this.#callsInFlight === 0 && this.#closeAfterReply) this.#host.idle(this);
  }

  /** @internal Once the answers queued so far were handed to native code. */
  closeWhenIdle(): void {
    if (!this.#closeAfterReply || this.#reason !== null) return;
    this.#closeAfterReply = false;
    this.#host.closeClient(this.id, true);
  }

  /** @internal */
  setAuthorized(): void {
    this.#authorized = true;
  }

  /** @internal */
  setDisconnected(reason: DisconnectReason): void {
    this.#reason = reason;
  }

  toJSON(): object {
    return {
      id: this.id,
      transport: this.transport,
      credentials: this.credentials,
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
      readOnly: this.readOnly,
      authorized: this.#authorized,
      connected: this.connected,
      disconnectReason: this.#reason,
    };
  }
}
