/**
 * The connections the JS side knows: made from the native connect notices,
 * let in (or not) by the `authorize` hook, and taken out on the disconnect
 * notices, with their calls abandoned. Emits the server's 'connection' and
 * 'disconnect' events.
 *
 * Threads: JS thread only.
 */
import type { EventEmitter } from 'events';

import type { CallRegistry } from './calls';
import { Connection } from './connection';
import type { ConnectNotice, ConnectionHost, DisconnectReason } from './connection';
import type { AuthorizeHook } from './types';
import { asError, isThenable } from './values';

/** What the registry, and each Connection it makes, asks of the server. */
export interface RegistryHost extends ConnectionHost {
  /** Lets the native client be read (allow), or closes it. */
  authorize(id: number, allow: boolean): void;
  /** A throw of the `authorize` hook, for the 'error' event. */
  report(err: Error): void;
}

export class ConnectionRegistry {
  readonly #connections = new Map<number, Connection>();
  /** The connection get() found last, while it is connected (ids are never reused). */
  #lastId = -1;
  #last: Connection | undefined = undefined;
  readonly #events: EventEmitter;
  readonly #host: RegistryHost;
  readonly #authorize: AuthorizeHook | undefined;
  readonly #calls: CallRegistry;
  readonly #authorizeTimeoutMs: number;
  #authorizeTimeouts = 0;

  /** `authorizeTimeoutMs`: how long a verdict may take; 0 for no limit. */
  constructor(events: EventEmitter, host: RegistryHost, authorize: AuthorizeHook | undefined, calls: CallRegistry, authorizeTimeoutMs = 0) {
    this.#events = events;
    this.#host = host;
    this.#authorize = authorize;
    this.#calls = calls;
    this.#authorizeTimeoutMs = authorizeTimeoutMs;
  }

  /** Connections refused because their verdict did not come in time. */
  get authorizeTimeouts(): number {
    return this.#authorizeTimeouts;
  }

  /** The connected clients, by id. */
  get all(): ReadonlyMap<number, Connection> {
    return this.#connections;
  }

  get(id: number): Connection | undefined {
    // The calls of a batch come mostly in runs from one client: the last
    // one found saves a Map look-up per call.
    if (id === this.#lastId) return this.#last;
    const client = this.#connections.get(id);
    if (client !== undefined) {
      this.#lastId = id;
      this.#last = client;
    }
    return client;
  }

  /** A client was accepted: 'connection', then the `authorize` hook, if any. */
  connected(notice: ConnectNotice): void {
    const client = new Connection(this.#host, notice, this.#authorize === undefined);
    this.#connections.set(client.id, client);
    this.#events.emit('connection', client);
    if (this.#authorize !== undefined) this.#runAuthorize(client, this.#authorize);
  }

  /** A client is gone: its calls are abandoned, then 'disconnect'. Unknown ids are ignored. */
  disconnected(id: number, reason: DisconnectReason): void {
    const client = this.#connections.get(id);
    if (client === undefined) return;
    this.#connections.delete(id);
    if (id === this.#lastId) {
      this.#lastId = -1;
      this.#last = undefined;
    }
    client.setDisconnected(reason);
    this.#calls.abandon(client);
    this.#events.emit('disconnect', client, reason);
  }

  /** Every client still known is gone with the server's run. */
  disconnectAll(reason: DisconnectReason): void {
    for (const id of [...this.#connections.keys()]) this.disconnected(id, reason);
  }

  #runAuthorize(client: Connection, hook: AuthorizeHook): void {
    // The first verdict counts: the hook's, or the time limit's refusal.
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settle = (allow: boolean): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      if (!client.connected || client.authorized) return;
      if (allow) client.setAuthorized();
      this.#host.authorize(client.id, allow);
    };
    if (this.#authorizeTimeoutMs > 0) {
      const limit = this.#authorizeTimeoutMs;
      timer = setTimeout(() => {
        timer = undefined;
        if (settled || !client.connected) return;
        settle(false);
        this.#authorizeTimeouts++;
        this.#host.report(new Error(`authorize did not settle within authorizeTimeoutMs (${limit} ms): client ${client.id} refused`));
      }, limit);
      // A pending verdict alone does not keep the process alive: the listener does.
      timer.unref();
    }
    const fail = (e: unknown): void => {
      settle(false);
      this.#host.report(asError(e));
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
}
