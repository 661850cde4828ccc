/**
 * Per-connection state: libvirtd's per-client private data. A connection is
 * "open" once CONNECT_OPEN succeeded; until then only AUTH_LIST,
 * SUPPORTS_FEATURE(10), CONNECT_OPEN and CONNECT_CLOSE run, and every other
 * known procedure is refused as libvirtd refuses it.
 */
import type { CallContext, Connection } from 'xdrd';

import { notOpen } from './errors';
import type { NodeStore } from './node-store';
import type { TestNode } from './model';

export interface Session {
  /** The shared node, once CONNECT_OPEN succeeded. */
  node: TestNode | null;
  /** CONNECT_OPEN's VIR_CONNECT_RO flag. */
  readOnly: boolean;
  keepaliveStarted: boolean;
}

export class Sessions {
  readonly #sessions = new WeakMap<Connection, Session>();

  constructor(readonly store: NodeStore) {}

  get(ctx: CallContext): Session {
    let s = this.#sessions.get(ctx.client);
    if (s === undefined) {
      s = { node: null, readOnly: false, keepaliveStarted: false };
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
