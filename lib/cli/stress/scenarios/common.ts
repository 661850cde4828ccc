/**
 * The building blocks of every scenario: waits that give up at the run's
 * deadline or the reaction bound, and peers that connect, say hello (so
 * the server's own disconnect reason can be checked) and finish.
 */
import { xdr } from '../../../index';
import { Peer } from '../peer';
import { STRESS_PROGRAM, STRESS_VERSION, StressProgram } from '../program';
import type { Random } from '../random';
import { expectValue } from './checks';
import type { StressContext } from './plan';

export const EMPTY = Buffer.alloc(0);
export const P = StressProgram.procedures;

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export function timeUp(ctx: StressContext): boolean {
  return Date.now() >= ctx.deadline;
}

/**
 * `p`, or undefined once `capMs` (default: the reaction bound) or the run's
 * deadline passes, whichever comes first.
 */
export async function bounded<T>(ctx: StressContext, p: Promise<T>, capMs = ctx.limits.reactionMs): Promise<T | undefined> {
  const ms = Math.max(0, Math.min(ctx.deadline - Date.now(), capMs));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once `condition()` holds, checking every millisecond; false if the bound passes first. */
export async function waitUntil(ctx: StressContext, condition: () => boolean, capMs = ctx.limits.reactionMs): Promise<boolean> {
  const until = Math.min(ctx.deadline, Date.now() + capMs);
  while (!condition()) {
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
  return true;
}

/**
 * Done with a peer that should have been answered in full: end() (pending
 * calls are missing), or, once the run is out of time, abandon() (they are
 * not counted: the time limit itself fails the run).
 */
export async function finish(ctx: StressContext, peer: Peer): Promise<void> {
  if (timeUp(ctx)) peer.abandon();
  else await peer.end();
}

export async function connect(ctx: StressContext, rng: Random, label: string, transport?: 'unix' | 'tcp'): Promise<Peer> {
  const t = transport ?? (rng.chance(0.3) ? 'tcp' : 'unix');
  const peer = await Peer.connect(t === 'tcp' ? ctx.tcp : ctx.unix, ctx.ledger, label);
  ctx.peers.add(peer);
  void peer.closed.then(() => ctx.peers.delete(peer));
  ctx.tally.add(`connects.${t}`);
  return peer;
}

/** Binds the peer to a fresh token (see Identities); undefined if hello was not answered. */
export async function hello(ctx: StressContext, peer: Peer): Promise<number | undefined> {
  const token = ctx.ids.create();
  const o = await bounded(ctx, peer.call(STRESS_PROGRAM, STRESS_VERSION, P.hello.id, xdr.encode(P.hello.args, { token }), expectValue(P.hello.result, () => undefined)));
  return o?.kind === 'ok' ? token : undefined;
}

