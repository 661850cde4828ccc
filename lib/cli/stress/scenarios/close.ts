/**
 * The phases run alone: a burst of connects past maxClients, and close()
 * under load.
 */
import { liveCounts, xdr } from '../../../index';
import type { CloseResult, LiveCounts } from '../../../index';
import { STRESS_PROGRAM, STRESS_VERSION } from '../program';
import type { Random } from '../random';
import { anyOf, counted, expectValue, shutDown, timedOut } from './checks';
import { P, bounded, connect, finish, hello, timeUp, waitUntil } from './common';
import { EventBook, openWhenHeld, sendKind, wave } from './mix';
import type { StressContext } from './plan';

/**
 * More connections at once than maxClients: the server takes exactly
 * maxClients (each holds a latched call), pauses accepting, and takes the
 * rest as others leave. Every call is answered.
 */
export async function connectBurst(ctx: StressContext, rng: Random): Promise<void> {
  const max = ctx.limits.maxClients;
  const total = max + ctx.plan.burstExtra;
  const pausedBefore = ctx.server.stats().acceptsPaused;
  const peers = await Promise.all(Array.from({ length: total }, () => connect(ctx, rng, 'burst')));
  ctx.tally.add('burst.connects', total);
  const latches = peers.map(() => ctx.latches.create());
  const done = peers.map(async (peer, i) => {
    const latch = latches[i]!;
    await peer.call(STRESS_PROGRAM, STRESS_VERSION, P.latched.id, xdr.encode(P.latched.args, { latch }), anyOf(expectValue(P.latched.result, () => undefined), timedOut(ctx)));
    await finish(ctx, peer);
  });
  let peakLive = 0;
  const heldNow = (): number => latches.filter((l) => ctx.latches.isHeld(l)).length;
  const saturated = await waitUntil(ctx, () => {
    peakLive = Math.max(peakLive, ctx.server.stats().clientsLive);
    return heldNow() >= max;
  });
  const held = heldNow();
  if (!saturated) ctx.ledger.badReaction(`burst: only ${held} of ${total} calls reached a handler (maxClients ${max})`);
  if (peakLive > max) ctx.ledger.badReaction(`burst: ${peakLive} clients live, more than maxClients (${max})`);
  if (saturated && peakLive === max) ctx.tally.add('burst.saturated');
  // From now on a handler is released as soon as it holds its latch: each
  // client that leaves lets one more in.
  for (const l of latches) openWhenHeld(ctx, l, 0);
  await bounded(ctx, Promise.all(done), Infinity);
  const paused = ctx.server.stats().acceptsPaused - pausedBefore;
  if (paused < 1) ctx.ledger.badReaction(`burst: ${total} connects with maxClients ${max} never paused accepting`);
}

export interface CloseUnderLoad {
  result: CloseResult;
  /** liveCounts() as soon as close() resolved. */
  live: LiveCounts;
}

/**
 * close() while pipelined calls stream in and latched calls are held: the
 * held calls get "server is shutting down" before their connection closes,
 * every connection is closed, nothing is answered twice.
 */
export async function closeUnderLoad(ctx: StressContext, rng: Random): Promise<CloseUnderLoad> {
  const holder = await connect(ctx, rng, 'close-holder');
  await hello(ctx, holder);
  // Its calls were read before close(): they must be answered before the connection goes.
  holder.expectClose = 'after-replies';
  const held: Promise<boolean | undefined>[] = [];
  for (let i = 0; i < ctx.plan.closeHolders; i++) {
    const latch = ctx.latches.create();
    void holder.call(STRESS_PROGRAM, STRESS_VERSION, P.latched.id, xdr.encode(P.latched.args, { latch }), anyOf(counted(shutDown(ctx), ctx, 'close.heldCancelled'), timedOut(ctx)));
    held.push(bounded(ctx, ctx.latches.whenHeld(latch)));
  }
  const loaders = await Promise.all(Array.from({ length: ctx.plan.closeLoaders }, () => connect(ctx, rng, 'close-loader')));
  // Set when close() starts: each loader then sends one more wave, which
  // meets a draining server, and stops.
  let closing = false;
  const signals: (() => void)[] = [];
  const firstWaves = loaders.map(() => new Promise<void>((resolve) => signals.push(resolve)));
  const loops = loaders.map(async (peer, i) => {
    const r = rng.fork(`loader ${i}`);
    const book = new EventBook(ctx, peer);
    const signalFirst = signals[i]!;
    await hello(ctx, peer);
    peer.expectClose = 'allowed';
    let first = true;
    let lastWave = false;
    while (peer.open && !lastWave && !timeUp(ctx)) {
      lastWave = closing;
      for (const kind of wave(r, r.int(4, 24), false)) sendKind(ctx, r, peer, book, kind === 'ping' ? 'echo' : kind, { closing: true });
      if (first) {
        first = false;
        signalFirst();
        continue;  // the next wave goes out at once: calls are in flight at every stage
      }
      await bounded(ctx, peer.settled(), Infinity);
    }
    signalFirst();
  });
  await Promise.all(held);
  await bounded(ctx, Promise.all(firstWaves));
  const closed = ctx.server.close({ graceMs: ctx.limits.closeGraceMs });
  closing = true;
  const result = await closed;
  const live = liveCounts();
  ctx.tally.add('close.callsCancelled', result.callsCancelled);
  ctx.tally.add('close.clientsClosed', result.clientsClosed);
  await bounded(ctx, Promise.all(loops), Infinity);
  for (const peer of [holder, ...loaders]) {
    const closed = await bounded(ctx, peer.closed.then(() => true));
    if (closed !== true) {
      ctx.ledger.badReaction(`${peer.label}: still open after close() resolved`);
      peer.cut();
    } else if (peer.state !== 'closed-by-server') {
      ctx.ledger.badReaction(`${peer.label}: ended as '${peer.state}', not closed by the server`);
    }
  }
  return { result, live };
}

