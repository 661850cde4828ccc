/**
 * The short abuses: half frames that stall, cuts mid-frame and mid-call, a
 * client that never reads, a slow reader, calls past their deadline; and
 * the lanes that run them (with the closing malformed frames) a few at a
 * time beside the load.
 */
import { xdr } from '../../../index';
import { buildFrame } from '../peer';
import { STRESS_PROGRAM, STRESS_VERSION } from '../program';
import type { Random } from '../random';
import { timedOut } from './checks';
import { EMPTY, P, bounded, connect, finish, hello, timeUp, turn } from './common';
import { CLOSING_KINDS, malformedClosing } from './malformed';
import { EventBook, sendKind } from './mix';
import type { StressContext } from './plan';

export const SLOW_READER_EVENT_COUNT = 16;
const SLOW_READER_EVENT_SIZE = 8192;
/** A never-reading client asks for this much: far past the send-queue bound plus what the kernel holds. */
const NEVER_READER_EVENT_COUNT = 48;
const NEVER_READER_EVENT_SIZE = 32768;

function someFrame(rng: Random, serial: number): Buffer {
  return buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial }, xdr.encode(P.echo.args, { data: rng.bytes(rng.int(0, 200)) }));
}

/** Half a frame, then silence: the server must close it after frameTimeoutMs. */
async function stall(ctx: StressContext, rng: Random): Promise<void> {
  const peer = await connect(ctx, rng, 'stall');
  const token = await hello(ctx, peer);
  if (token === undefined) return finish(ctx, peer);
  const frame = someFrame(rng, peer.takeSerial());
  peer.expectClose = 'allowed';
  const started = Date.now();
  await peer.sendFlushed(frame.subarray(0, rng.int(1, frame.length - 1)));
  const closed = await bounded(ctx, peer.closed.then(() => true), ctx.limits.reactionMs + ctx.limits.frameTimeoutMs);
  const waited = Date.now() - started;
  if (closed !== true) {
    ctx.ledger.badReaction(`${peer.label}: a half frame was not timed out within ${waited} ms`);
    peer.cut();
    return;
  }
  const reason = await bounded(ctx, ctx.ids.reason(token));
  if (reason !== 'frameTimeout') ctx.ledger.badReaction(`${peer.label}: closed with reason '${String(reason)}', expected 'frameTimeout'`);
  else if (waited < ctx.limits.frameTimeoutMs - 5) ctx.ledger.badReaction(`${peer.label}: timed out after ${waited} ms, before frameTimeoutMs (${ctx.limits.frameTimeoutMs})`);
  else ctx.tally.add('stall.timedOut');
}

/** Part of a frame, then the driver disconnects. */
async function midFrameCut(ctx: StressContext, rng: Random): Promise<void> {
  const peer = await connect(ctx, rng, 'cut-mid-frame');
  const token = await hello(ctx, peer);
  if (token === undefined) return finish(ctx, peer);
  const frame = someFrame(rng, peer.takeSerial());
  // Nothing unread on our side, so the close is a clean EOF after the bytes.
  await peer.sendFlushed(frame.subarray(0, rng.int(1, frame.length - 1)));
  peer.cut();
  ctx.tally.add('cut.midFrame');
  const reason = await bounded(ctx, ctx.ids.reason(token));
  if (reason !== 'eof' && reason !== 'io-error') ctx.ledger.badReaction(`${peer.label}: closed with reason '${String(reason)}', expected 'eof'`);
}

/** A call held by its latched handler, then the driver disconnects: the late answer must be dropped. */
async function midCallHeldCut(ctx: StressContext, rng: Random): Promise<void> {
  const peer = await connect(ctx, rng, 'cut-mid-call');
  const token = await hello(ctx, peer);
  if (token === undefined) return finish(ctx, peer);
  const latch = ctx.latches.create();
  void peer.call(STRESS_PROGRAM, STRESS_VERSION, P.latched.id, xdr.encode(P.latched.args, { latch }));
  const held = await bounded(ctx, ctx.latches.whenHeld(latch));
  if (held !== true) ctx.ledger.badReaction(`${peer.label}: the latched call never reached its handler`);
  peer.cut();
  ctx.tally.add('cut.midCall');
  // The latch stays shut until the round ends: the handler answers after its client left.
  const reason = await bounded(ctx, ctx.ids.reason(token));
  if (reason !== 'eof' && reason !== 'io-error') ctx.ledger.badReaction(`${peer.label}: closed with reason '${String(reason)}', expected 'eof'`);
}

/** A pipelined wave (user calls included), cut as soon as it is written. */
async function midCallBurstCut(ctx: StressContext, rng: Random): Promise<void> {
  const peer = await connect(ctx, rng, 'cut-mid-wave');
  const book = new EventBook(ctx, peer);
  if ((await hello(ctx, peer)) === undefined) return finish(ctx, peer);
  const n = rng.int(3, 20);
  for (let i = 0; i < n; i++) {
    if (ctx.userCalls.length > 0 && rng.chance(0.3)) {
      const c = rng.pick(ctx.userCalls);
      void peer.call(c.program, c.version, c.procedure, c.body ?? EMPTY);
    } else {
      sendKind(ctx, rng, peer, book, rng.pick(['echo', 'slow', 'latched', 'events', 'reject'] as const));
    }
  }
  await peer.sendFlushed(EMPTY);
  for (let i = rng.int(0, 3); i > 0; i--) await turn();
  peer.cut();
  ctx.tally.add('cut.midWave');
}

/** Stops reading and asks for far more events than the send queue may hold: the server must close it ('sendQueue'). */
export async function neverReader(ctx: StressContext, rng: Random): Promise<void> {
  // UNIX only: loopback TCP buffers can grow to megabytes and absorb it all.
  const peer = await connect(ctx, rng, 'never-reads', 'unix');
  const token = await hello(ctx, peer);
  if (token === undefined) return finish(ctx, peer);
  peer.pauseReading();
  peer.expectClose = 'allowed';
  void peer.call(STRESS_PROGRAM, STRESS_VERSION, P.events.id, xdr.encode(P.events.args, { tag: 0, count: NEVER_READER_EVENT_COUNT, size: NEVER_READER_EVENT_SIZE }));
  // A paused socket does not see the close: ask the server why it ended.
  const reason = await bounded(ctx, ctx.ids.reason(token));
  if (reason !== 'sendQueue') ctx.ledger.badReaction(`${peer.label}: ended with reason '${String(reason)}', expected 'sendQueue'`);
  else ctx.tally.add('neverReader.dropped');
  peer.cut();
}

/** Reads one chunk every few ms while the server sends bursts of events; each burst must arrive whole, before its reply. */
export async function slowReader(ctx: StressContext, rng: Random): Promise<void> {
  const peer = await connect(ctx, rng, 'slow-reader');
  const book = new EventBook(ctx, peer);
  if ((await hello(ctx, peer)) === undefined) return finish(ctx, peer);
  peer.readSlowly(2);
  for (let i = 0; i < ctx.plan.slowReaderCalls && peer.open && !timeUp(ctx); i++) {
    const tag = peer.peekSerial();
    book.expect(tag, SLOW_READER_EVENT_COUNT);
    await bounded(
      ctx,
      peer.call(STRESS_PROGRAM, STRESS_VERSION, P.events.id, xdr.encode(P.events.args, { tag, count: SLOW_READER_EVENT_COUNT, size: SLOW_READER_EVENT_SIZE }), book.check(tag, SLOW_READER_EVENT_COUNT, 'events.slowReader')),
      Infinity,
    );
  }
  await finish(ctx, peer);
}

/** Latched calls never released in time: each must be answered OPERATION_TIMEOUT, and nothing else. */
export async function deadlines(ctx: StressContext, rng: Random): Promise<void> {
  const peer = await connect(ctx, rng, 'deadlines');
  if ((await hello(ctx, peer)) === undefined) return finish(ctx, peer);
  for (let i = 0; i < ctx.plan.deadlineCalls; i++) {
    const latch = ctx.latches.create();  // opened only when the round ends
    void peer.call(STRESS_PROGRAM, STRESS_VERSION, P.latched.id, xdr.encode(P.latched.args, { latch }), timedOut(ctx));
  }
  await bounded(ctx, peer.settled(), Infinity);
  await finish(ctx, peer);
  ctx.tally.add('deadline.calls', ctx.plan.deadlineCalls);
}

/**
 * The short abuses, run a few at a time in lanes so that they do not all
 * wait for a client slot behind the long-lived load.
 */
export async function abuseLanes(ctx: StressContext, rng: Random): Promise<void> {
  const tasks: ((r: Random) => Promise<void>)[] = [];
  for (let i = 0; i < ctx.plan.closingReps; i++) for (const k of CLOSING_KINDS) tasks.push((r) => malformedClosing(ctx, r, k));
  for (let i = 0; i < ctx.plan.stalls; i++) tasks.push((r) => stall(ctx, r));
  for (let i = 0; i < ctx.plan.midFrameCuts; i++) tasks.push((r) => midFrameCut(ctx, r));
  for (let i = 0; i < ctx.plan.midCallHeldCuts; i++) tasks.push((r) => midCallHeldCut(ctx, r));
  for (let i = 0; i < ctx.plan.midCallBurstCuts; i++) tasks.push((r) => midCallBurstCut(ctx, r));
  const queue = rng.shuffle(tasks).map((task, i) => ({ task, rng: rng.fork(`task ${i}`) }));
  const lane = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined && !timeUp(ctx); next = queue.shift()) await next.task(next.rng);
  };
  await Promise.all(Array.from({ length: ctx.plan.lanes }, lane));
}

