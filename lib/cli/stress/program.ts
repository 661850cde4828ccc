/**
 * The built-in stress program: one handler of every kind the bridge must
 * survive (sync, async, latched, throwing, rejecting, RpcError, a result
 * that cannot be encoded, events before the reply), plus `hello`, which
 * tells the driver which server-side connection a peer is, so that the
 * reason the server gives for closing it can be checked peer by peer.
 *
 * The driver runs in the same process as the server (liveCounts() is
 * process-wide), so latches are plain promises it opens directly.
 */
import { RpcError, defineProgram, xdr } from '../../index';
import type { CallContext, DisconnectReason, Server } from '../../index';

/** 'xdrs' */
export const STRESS_PROGRAM = 0x78647273;
export const STRESS_VERSION = 1;
/** Largest body of echo, slow and event data. */
export const MAX_DATA = 65536;

export const StressProgram = defineProgram({
  number: STRESS_PROGRAM,
  version: STRESS_VERSION,
  procedures: {
    /** Binds the connection to the driver's token; returns the connection id. */
    hello: { id: 1, args: xdr.struct({ token: xdr.uint() }), result: xdr.uint() },
    /** Synchronous echo. */
    echo: { id: 2, args: xdr.struct({ data: xdr.opaque(MAX_DATA) }), result: xdr.opaque(MAX_DATA) },
    /** Waits for the driver to open its latch; returns the latch. */
    latched: { id: 3, args: xdr.struct({ latch: xdr.uint() }), result: xdr.uint() },
    /** Echo after `turns` setImmediate turns. */
    slow: { id: 4, args: xdr.struct({ turns: xdr.uint(), data: xdr.opaque(MAX_DATA) }), result: xdr.opaque(MAX_DATA) },
    /** Throws something that is not an RpcError: an Error (0), a string (1), undefined (2). */
    throwPlain: { id: 5, args: xdr.struct({ how: xdr.uint() }), result: xdr.void() },
    /** Rejects with an Error after `turns` turns. */
    reject: { id: 6, args: xdr.struct({ turns: xdr.uint() }), result: xdr.void() },
    /** Throws RpcError with this code. */
    refuse: { id: 7, args: xdr.struct({ code: xdr.int() }), result: xdr.void() },
    /** Returns a value its result schema cannot encode. */
    badResult: { id: 8, args: xdr.void(), result: xdr.uint() },
    /** Sends `count` tick events of `size` bytes to its client, then replies with how many were queued. */
    events: { id: 9, args: xdr.struct({ tag: xdr.uint(), count: xdr.uint(), size: xdr.uint() }), result: xdr.uint() },
  },
  events: {
    tick: { id: 100, body: xdr.struct({ tag: xdr.uint(), seq: xdr.uint(), data: xdr.opaque(MAX_DATA) }) },
  },
});

export type StressProcedureName = keyof typeof StressProgram.procedures;

/**
 * Latches the driver opens. A latched handler registers itself here and
 * waits; `whenHeld` tells the driver the call has reached its handler.
 */
export class Latches {
  #next = 1;
  readonly #held = new Map<number, () => void>();
  readonly #watchers = new Map<number, ((held: boolean) => void)[]>();
  /** Handlers that ever waited on a latch. */
  heldTotal = 0;
  /** Latches opened while their handler waited. */
  openedTotal = 0;

  create(): number {
    return this.#next++;
  }

  /** Called by the latched handler. */
  hold(id: number): Promise<void> {
    this.heldTotal++;
    return new Promise((resolve) => {
      this.#held.set(id, resolve);
      const watchers = this.#watchers.get(id);
      this.#watchers.delete(id);
      for (const w of watchers ?? []) w(true);
    });
  }

  /** Resolves true once a handler waits on `id`; false if the latches are reset first. */
  whenHeld(id: number): Promise<boolean> {
    if (this.#held.has(id)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const list = this.#watchers.get(id) ?? [];
      list.push(resolve);
      this.#watchers.set(id, list);
    });
  }

  isHeld(id: number): boolean {
    return this.#held.has(id);
  }

  /** Lets the handler waiting on `id` go on; false if none waits. */
  open(id: number): boolean {
    const release = this.#held.get(id);
    if (release === undefined) return false;
    this.#held.delete(id);
    this.openedTotal++;
    release();
    return true;
  }

  /** Handlers waiting now. */
  get waiting(): number {
    return this.#held.size;
  }

  /** Opens every latch and forgets every watcher (round end): returns how many were opened. */
  reset(): number {
    let opened = 0;
    for (const id of [...this.#held.keys()]) if (this.open(id)) opened++;
    for (const list of this.#watchers.values()) for (const w of list) w(false);
    this.#watchers.clear();
    return opened;
  }
}

/**
 * Which server-side connection a peer is: `hello` binds the connection id
 * to the driver's token, the server's 'disconnect' event gives the reason.
 */
export class Identities {
  #next = 1;
  readonly #tokenOf = new Map<number, number>();
  readonly #reasons = new Map<number, DisconnectReason>();
  readonly #waiters = new Map<number, ((r: DisconnectReason | undefined) => void)[]>();

  create(): number {
    return this.#next++;
  }

  bind(clientId: number, token: number): void {
    this.#tokenOf.set(clientId, token);
  }

  /** From the server's 'disconnect' event. */
  disconnected(clientId: number, reason: DisconnectReason): void {
    const token = this.#tokenOf.get(clientId);
    if (token === undefined) return;
    this.#tokenOf.delete(clientId);
    this.#reasons.set(token, reason);
    const waiters = this.#waiters.get(token);
    this.#waiters.delete(token);
    for (const w of waiters ?? []) w(reason);
  }

  /** The reason the server gave for closing the peer with `token`; undefined if the run resets first. */
  reason(token: number): Promise<DisconnectReason | undefined> {
    const known = this.#reasons.get(token);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve) => {
      const list = this.#waiters.get(token) ?? [];
      list.push(resolve);
      this.#waiters.set(token, list);
    });
  }

  /** Round end: forget everything, wake every waiter. */
  reset(): void {
    for (const list of this.#waiters.values()) for (const w of list) w(undefined);
    this.#waiters.clear();
    this.#reasons.clear();
    this.#tokenOf.clear();
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Registers the stress program's handlers on `server`. */
export function registerStressProgram(server: Server, latches: Latches, ids: Identities): void {
  server.handle(StressProgram, {
    hello: ({ token }, ctx: CallContext) => {
      ids.bind(ctx.client.id, token);
      return ctx.client.id >>> 0;
    },
    echo: ({ data }) => data,
    latched: async ({ latch }) => {
      // Deliberately deaf to ctx.signal: a call given up by its deadline or
      // its client still answers later, and that late answer must be dropped.
      await latches.hold(latch);
      return latch;
    },
    slow: async ({ turns, data }) => {
      for (let i = 0; i < turns; i++) await turn();
      return data;
    },
    throwPlain: ({ how }) => {
      if (how === 0) throw new Error('stress: thrown on purpose');
      // Not Errors: the server must still answer and report them.
      if (how === 1) throw 'stress: a string thrown on purpose';
      throw undefined;
    },
    reject: async ({ turns }) => {
      for (let i = 0; i < turns; i++) await turn();
      throw new TypeError('stress: rejected on purpose');
    },
    refuse: ({ code }) => {
      throw new RpcError(`stress: refused with code ${code}`, { code });
    },
    // -1 is not a uint: the encoder refuses it after the handler returned.
    badResult: () => -1,
    events: ({ tag, count, size }, ctx: CallContext) => {
      let queued = 0;
      for (let seq = 0; seq < count; seq++) {
        const data = Buffer.alloc(size, seq & 0xff);
        if (server.sendEvent(ctx.client, StressProgram.events.tick, { tag, seq, data })) queued++;
      }
      return queued;
    },
  });
}
