/**
 * The Server's public option and result types, apart from the class so
 * that the modules it is made of can name them without importing it.
 */
import type { NativeServerOptions, NativeStats } from '../native';
import type { Connection } from './connection';
import type { CallContext } from './context';
import type { ProcedureStats } from './procedure-stats';

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

/** Decides whether a new connection may talk to the server (ServerOptions.authorize). */
export type AuthorizeHook = (client: Connection) => boolean | Promise<boolean>;

export interface ServerOptions extends Omit<NativeServerOptions, 'requireAuthorization'> {
  /**
   * Decides whether a new connection may talk to the server; may be async.
   * Until it settles the connection is not read (its calls wait in the
   * kernel) and counts as unauthenticated. `true` lets it in; anything else,
   * or a throw, closes it before any of its calls is read (reason 'denied').
   * Default: every connection is let in at once.
   */
  authorize?: AuthorizeHook;
  /**
   * With `authorize`: connections at most that wait for it to settle; at the
   * bound the server stops accepting (new ones wait in the listen backlog)
   * until one settles. Default 20 (libvirtd's max_anonymous_clients).
   */
  maxUnauthenticatedClients?: number;
  /**
   * With `authorize`: how long a connection may wait for the hook to
   * settle, in milliseconds (sshd's LoginGraceTime). When it passes the
   * connection is refused (reason 'denied'), an 'error' event says so,
   * and a verdict that comes later is ignored. 0 means no limit.
   * Default 30000.
   */
  authorizeTimeoutMs?: number;
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

export interface SendEventOptions {
  /**
   * The MESSAGE frame's serial. Default 0, which libvirt's keepalive uses;
   * libvirtd sends its domain events with 1. Clients match replies by
   * serial, never events, so this only matters for byte-for-byte fidelity.
   */
  serial?: number;
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
  /** Connections refused because `authorize` did not settle within `authorizeTimeoutMs`. */
  authorizeTimeouts: number;
  /**
   * Per procedure: calls, errors and latency, split into queue wait and run
   * time. Every procedure with a handler of its own is listed from the
   * start (with 0 calls until called); a catch-all's ('*') procedures once
   * called.
   */
  procedures: ProcedureStats[];
}
