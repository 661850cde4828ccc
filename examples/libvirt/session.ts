/**
 * Per-connection state: libvirtd's per-client private data. A connection is
 * "open" once CONNECT_OPEN succeeded; until then only AUTH_LIST,
 * SUPPORTS_FEATURE(10), CONNECT_OPEN and CONNECT_CLOSE run, and every other
 * known procedure is refused as libvirtd refuses it.
 *
 * Sessions also routes the node's lifecycle events: every open connection
 * with a matching callback gets one MESSAGE per callback, the connection
 * that caused the event included.
 */
import type { CallContext, Connection } from 'xdrd';

import { notOpen, readOnlyDenied } from './errors';
import { EVENT_ID_LIFECYCLE, EventCallbacks } from './events';
import type { NodeStore } from './node-store';
import type { TestDomain, TestNode } from './model';

export interface Session {
  readonly client: Connection;
  /** The shared node, once CONNECT_OPEN succeeded. */
  node: TestNode | null;
  /** CONNECT_OPEN's VIR_CONNECT_RO flag. */
  readOnly: boolean;
  keepaliveStarted: boolean;
  readonly callbacks: EventCallbacks;
}

/** Sends one lifecycle MESSAGE to a connection. */
export type SendLifecycle = (client: Connection, callbackID: number, d: TestDomain, event: number, detail: number) => void;

export class Sessions {
  readonly #sessions = new Map<Connection, Session>();

  constructor(
    readonly store: NodeStore,
    private readonly send: SendLifecycle,
  ) {}

  get(ctx: CallContext): Session {
    let s = this.#sessions.get(ctx.client);
    if (s === undefined) {
      s = { client: ctx.client, node: null, readOnly: false, keepaliveStarted: false, callbacks: new EventCallbacks() };
      this.#sessions.set(ctx.client, s);
    }
    return s;
  }

  /** The node of an opened connection; throws libvirtd's "not open" error otherwise. */
  node(ctx: CallContext): TestNode {
    const node = this.get(ctx).node;
    if (node === null) throw notOpen();
    return node;
  }

  /**
   * The node of an opened read-write connection, for a procedure that
   * changes it; `api` is the libvirt function named in the refusal.
   */
  writableNode(ctx: CallContext, api: string): TestNode {
    const node = this.node(ctx);
    if (this.get(ctx).readOnly) throw readOnlyDenied(api);
    return node;
  }

  /**
   * The store's event sink: a lifecycle event to every callback that wants
   * it (the store holds one node at a time: every open session shares it).
   */
  deliver(d: TestDomain, event: number, detail: number): void {
    for (const s of this.#sessions.values()) {
      if (s.node === null || s.callbacks.size === 0) continue;
      for (const id of s.callbacks.matching(EVENT_ID_LIFECYCLE, d.def.uuid)) this.send(s.client, id, d, event, detail);
    }
  }

  /** The server's 'disconnect' event: an opened connection lets go of the shared node. */
  disconnected(client: Connection): void {
    const s = this.#sessions.get(client);
    if (s?.node) {
      s.node = null;
      this.store.release();
    }
    this.#sessions.delete(client);
  }
}
