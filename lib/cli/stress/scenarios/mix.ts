/**
 * The mixed calls of the load scenarios: every kind of handler the bridge
 * must survive, weighted, in waves, with the events they ask for tracked
 * per peer.
 */
import { ErrorCode, xdr } from '../../../index';
import { KEEPALIVE_PROC_PING, KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, TYPE_MESSAGE } from '../../../libvirt/wire';
import type { Check, Incoming, Peer } from '../peer';
import { buildFrame } from '../peer';
import { STRESS_PROGRAM, STRESS_VERSION, StressProgram } from '../program';
import type { Random } from '../random';
import { anyOf, counted, expectError, expectValue, sameBytes, shutDown, timedOut } from './checks';
import { EMPTY, P, turn } from './common';
import type { StressContext } from './plan';

/** Kinds of call the pipelined peers mix; the first wave of each peer has one of each. */
export const MIXED_KINDS = ['echo', 'slow', 'latched', 'throw', 'reject', 'refuse', 'badResult', 'events', 'ping'] as const;
export type MixedKind = (typeof MIXED_KINDS)[number];
/** Relative weights of the kinds after the first wave. */
const WEIGHTS: Record<MixedKind, number> = { echo: 40, slow: 15, latched: 10, throw: 4, reject: 4, refuse: 5, badResult: 2, events: 6, ping: 4 };

/** Opens `latch` once its handler holds it, after a random number of turns (out-of-order completion). */
export function openWhenHeld(ctx: StressContext, latch: number, turns: number): void {
  void ctx.latches.whenHeld(latch).then(async (held) => {
    if (!held) return;
    for (let i = 0; i < turns; i++) await turn();
    if (ctx.latches.open(latch)) ctx.tally.add('latched.released');
  });
}

/** Tracks a peer's tick events per tag (the serial of the events call): all, in order, before the reply. */
export class EventBook {
  readonly #seen = new Map<number, { count: number; got: number; replied: boolean }>();

  constructor(
    private readonly ctx: StressContext,
    private readonly peer: Peer,
  ) {
    peer.onMessage = (m) => this.#onMessage(m);
  }

  expect(tag: number, count: number): void {
    this.#seen.set(tag, { count, got: 0, replied: false });
  }

  /** The check of the events call's reply. */
  check(tag: number, count: number, key: string): Check {
    return (o) => {
      const complaint = expectValue(P.events.result, (v) => (v === count ? undefined : `${v} events queued, not ${count}`))(o);
      if (complaint !== undefined) return complaint;
      const e = this.#seen.get(tag);
      if (e === undefined) return 'no record of the events call';
      e.replied = true;
      if (e.got !== count) return `the reply came after ${e.got} of its ${count} events`;
      this.ctx.tally.add(key, count);
      this.#seen.delete(tag);
      return undefined;
    };
  }

  #onMessage(m: Incoming): void {
    const tick = StressProgram.events.tick;
    const bad = (what: string): void => {
      this.ctx.ledger.wrong++;
      this.ctx.ledger.note(`${this.peer.label}: event ${what}`);
    };
    if (m.prog !== tick.program || m.vers !== tick.version || m.proc !== tick.id || m.serial !== 0) return bad(`with header ${m.prog}/${m.vers}/${m.proc} serial ${m.serial}`);
    let v: xdr.Static<typeof tick.body>;
    try {
      v = xdr.decode(tick.body, m.body);
    } catch (e) {
      return bad(`that does not decode: ${(e as Error).message}`);
    }
    const e = this.#seen.get(v.tag);
    if (e === undefined || e.replied) return bad(`for tag ${v.tag}, after its reply or never asked for`);
    if (v.seq !== e.got) return bad(`${v.seq} of tag ${v.tag} came as number ${e.got}`);
    if (v.data.length === 0 ? false : v.data.some((b) => b !== (v.seq & 0xff))) return bad(`${v.seq} of tag ${v.tag} has the wrong data`);
    e.got++;
  }
}

export function randomData(rng: Random): Buffer {
  return rng.bytes(rng.chance(0.05) ? rng.int(1024, 16384) : rng.int(0, 256));
}

export const PING = buildFrame({ prog: KEEPALIVE_PROGRAM, vers: KEEPALIVE_VERSION, proc: KEEPALIVE_PROC_PING, serial: 0, type: TYPE_MESSAGE });

export interface MixOptions {
  /** close() may answer or cut any call. */
  closing?: boolean;
}

/**
 * Sends one call of `kind` on `peer`, with the check its reply must pass.
 * Returns whether a call (not a PING) was sent.
 */
export function sendKind(ctx: StressContext, rng: Random, peer: Peer, book: EventBook, kind: MixedKind, opts: MixOptions = {}): boolean {
  const send = (proc: { id: number }, body: Uint8Array, check: Check): void => {
    void peer.call(STRESS_PROGRAM, STRESS_VERSION, proc.id, body, opts.closing ? anyOf(check, shutDown(ctx)) : check);
  };
  switch (kind) {
    case 'echo': {
      const data = randomData(rng);
      send(P.echo, xdr.encode(P.echo.args, { data }), counted(expectValue(P.echo.result, sameBytes(data)), ctx, 'handler.echo'));
      return true;
    }
    case 'slow': {
      const data = randomData(rng);
      const turns = rng.int(1, 12);
      send(P.slow, xdr.encode(P.slow.args, { turns, data }), anyOf(counted(expectValue(P.slow.result, sameBytes(data)), ctx, 'handler.slow'), timedOut(ctx)));
      return true;
    }
    case 'latched': {
      const latch = ctx.latches.create();
      send(P.latched, xdr.encode(P.latched.args, { latch }), anyOf(counted(expectValue(P.latched.result, (v) => (v === latch ? undefined : `latch ${v}, not ${latch}`)), ctx, 'handler.latched'), timedOut(ctx)));
      openWhenHeld(ctx, latch, rng.int(0, 6));
      return true;
    }
    case 'throw': {
      const how = rng.int(0, 2);
      send(P.throwPlain, xdr.encode(P.throwPlain.args, { how }), counted(expectError(ErrorCode.INTERNAL_ERROR, how === 0 ? 'thrown on purpose' : 'a non-Error value was thrown'), ctx, 'handler.throws'));
      return true;
    }
    case 'reject': {
      const turns = rng.int(0, 3);
      send(P.reject, xdr.encode(P.reject.args, { turns }), anyOf(counted(expectError(ErrorCode.INTERNAL_ERROR, 'rejected on purpose'), ctx, 'handler.rejects'), timedOut(ctx)));
      return true;
    }
    case 'refuse': {
      const code = rng.pick([ErrorCode.INVALID_ARG, ErrorCode.OPERATION_INVALID, ErrorCode.ACCESS_DENIED, rng.int(1000, 100000)]);
      send(P.refuse, xdr.encode(P.refuse.args, { code }), counted(expectError(code, `refused with code ${code}`), ctx, 'handler.rpcErrors'));
      return true;
    }
    case 'badResult':
      send(P.badResult, EMPTY, counted(expectError(ErrorCode.INTERNAL_ERROR, 'cannot encode'), ctx, 'handler.badResults'));
      return true;
    case 'events': {
      const tag = peer.peekSerial();
      const count = rng.int(0, 4);
      book.expect(tag, count);
      send(P.events, xdr.encode(P.events.args, { tag, count, size: rng.int(0, 2048) }), book.check(tag, count, 'events.pipelined'));
      return true;
    }
    case 'ping':
      peer.send(PING);
      return false;
  }
}

function weightedKind(rng: Random): MixedKind {
  let total = 0;
  for (const k of MIXED_KINDS) total += WEIGHTS[k];
  let x = rng.next() * total;
  for (const k of MIXED_KINDS) {
    x -= WEIGHTS[k];
    if (x < 0) return k;
  }
  return 'echo';
}

/** A wave of kinds, never ending with a PING (its PONG then comes before the wave's last reply). */
export function wave(rng: Random, size: number, first: boolean): MixedKind[] {
  const kinds = first ? rng.shuffle(MIXED_KINDS) : Array.from({ length: size }, () => weightedKind(rng));
  if (kinds[kinds.length - 1] === 'ping') kinds.push('echo');
  return kinds;
}

