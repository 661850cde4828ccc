/**
 * Malformed frames: those after which the server must close the
 * connection, those it must answer with an RPC error, and those it must
 * drop, each checked against what the server did.
 */
import { ErrorCode, xdr } from '../../../index';
import type { DisconnectReason } from '../../../index';
import { TYPE_CALL_WITH_FDS, TYPE_MESSAGE, TYPE_REPLY, TYPE_REPLY_WITH_FDS, TYPE_STREAM, TYPE_STREAM_HOLE } from '../../../libvirt/wire';
import { buildFrame } from '../peer';
import { MAX_DATA, STRESS_PROGRAM, STRESS_VERSION } from '../program';
import type { Random } from '../random';
import { counted, expectError } from './checks';
import { EMPTY, P, bounded, connect, finish, hello, u32 } from './common';
import { EventBook, PING, sendKind } from './mix';
import type { MixedKind } from './mix';
import type { StressContext } from './plan';

export interface ClosingKind {
  name: string;
  /** The server's disconnect reason. */
  reason: DisconnectReason;
  bytes(ctx: StressContext, rng: Random, serial: number): Buffer;
}

/** Frames after which the server must close the connection without a reply. */
export const CLOSING_KINDS: readonly ClosingKind[] = [
  { name: 'length word below 28', reason: 'protocol', bytes: (_c, rng) => u32(rng.int(0, 27)) },
  {
    name: 'length word above the maximum',
    reason: 'limit',
    bytes: (c, rng) => u32(rng.chance(0.5) ? c.limits.maxMessageBytes + 5 : rng.int(c.limits.maxMessageBytes + 5, 0xffffffff)),
  },
  {
    name: 'header of unknown type',
    reason: 'protocol',
    bytes: (_c, rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial, type: rng.chance(0.5) ? 99 : rng.int(7, 0xffffffff) }),
  },
  {
    name: 'CALL_WITH_FDS without its nfds word',
    reason: 'protocol',
    bytes: (_c, _rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial, type: TYPE_CALL_WITH_FDS }),
  },
  {
    name: 'CALL_WITH_FDS with more than 32 descriptors',
    reason: 'protocol',
    bytes: (_c, rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial, type: TYPE_CALL_WITH_FDS, nfds: rng.int(33, 0xffffffff) }),
  },
  {
    name: 'REPLY_WITH_FDS without its nfds word',
    reason: 'protocol',
    bytes: (_c, _rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial, type: TYPE_REPLY_WITH_FDS }),
  },
  {
    // The first byte ≥ 0x80 makes the length word larger than any maximum.
    name: 'garbage bytes',
    reason: 'limit',
    bytes: (_c, rng) => {
      const b = rng.bytes(rng.int(4, 600));
      b[0] = b[0]! | 0x80;
      return b;
    },
  },
];

interface AnsweredKind {
  name: string;
  /** Answered by the native loop (counted in errorReplies), not by a handler. */
  native: boolean;
  text: string;
  frame(rng: Random, serial: number): { bytes: Buffer; prog: number; vers: number; proc: number };
}

function callFrame(prog: number, vers: number, proc: number, serial: number, body: Uint8Array, extra: { type?: number; status?: number; nfds?: number } = {}) {
  return { bytes: buildFrame({ prog, vers, proc, serial, ...extra }, body), prog, vers, proc };
}

function echoArgs(rng: Random): Buffer {
  return xdr.encode(P.echo.args, { data: rng.bytes(rng.int(1, 64)) });
}

/** CALLs the server must answer with an RPC error (code 39) and go on serving. */
export const ANSWERED_KINDS: readonly AnsweredKind[] = [
  {
    name: 'CALL with a status other than OK',
    native: true,
    text: 'Unexpected message status',
    frame: (rng, serial) => callFrame(STRESS_PROGRAM, STRESS_VERSION, P.echo.id, serial, echoArgs(rng), { status: rng.pick([1, 2, rng.int(3, 0xffffffff)]) }),
  },
  {
    name: 'CALL_WITH_FDS (no descriptors attached)',
    native: true,
    text: 'fd passing is not supported',
    frame: (rng, serial) => callFrame(STRESS_PROGRAM, STRESS_VERSION, P.echo.id, serial, echoArgs(rng), { type: TYPE_CALL_WITH_FDS, nfds: rng.int(0, 32) }),
  },
  {
    name: 'unknown program',
    native: true,
    text: 'Cannot find program',
    frame: (rng, serial) => callFrame(0x78640000 + rng.int(0, 0xffff), 1, 1, serial, EMPTY),
  },
  {
    name: 'unknown version',
    native: true,
    text: 'Cannot find program',
    frame: (rng, serial) => callFrame(STRESS_PROGRAM, rng.int(0xfffff000, 0xffffffff), P.echo.id, serial, EMPTY),
  },
  {
    name: 'unknown procedure',
    native: true,
    text: 'unknown procedure',
    frame: (rng, serial) => callFrame(STRESS_PROGRAM, STRESS_VERSION, rng.chance(0.5) ? rng.int(1000, 0x7fffffff) : -rng.int(1, 0x7fffffff), serial, EMPTY),
  },
  {
    name: 'truncated arguments',
    native: false,
    text: 'Unable to decode message payload',
    frame: (rng, serial) => {
      const full = echoArgs(rng);
      return callFrame(STRESS_PROGRAM, STRESS_VERSION, P.echo.id, serial, full.subarray(0, rng.int(0, full.length - 1)));
    },
  },
  {
    name: 'bytes after the arguments',
    native: false,
    text: 'Unable to decode message payload',
    frame: (rng, serial) => callFrame(STRESS_PROGRAM, STRESS_VERSION, P.echo.id, serial, Buffer.concat([echoArgs(rng), rng.bytes(rng.int(1, 16))])),
  },
  {
    name: 'opaque longer than its schema allows',
    native: false,
    text: 'Unable to decode message payload',
    frame: (rng, serial) => callFrame(STRESS_PROGRAM, STRESS_VERSION, P.echo.id, serial, u32(MAX_DATA + rng.int(1, 1 << 20))),
  },
];

interface DroppedKind {
  name: string;
  bytes(rng: Random, serial: number): Buffer;
}

/** Frames a client must not send, which the server drops while keeping the connection. */
export const DROPPED_KINDS: readonly DroppedKind[] = [
  { name: 'REPLY from the client', bytes: (rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial, type: TYPE_REPLY, status: rng.int(0, 1) }, echoArgs(rng)) },
  { name: 'MESSAGE from the client', bytes: (rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: rng.int(0, 200), serial, type: TYPE_MESSAGE }, echoArgs(rng)) },
  { name: 'STREAM from the client', bytes: (rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial, type: TYPE_STREAM, status: 2 }, rng.bytes(rng.int(0, 64))) },
  { name: 'STREAM_HOLE from the client', bytes: (rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial, type: TYPE_STREAM_HOLE }, rng.bytes(12)) },
  { name: 'REPLY_WITH_FDS from the client', bytes: (rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial, type: TYPE_REPLY_WITH_FDS, nfds: rng.int(0, 32) }) },
];

/** One frame that must close the connection: no reply, the server's reason as specified. */
export async function malformedClosing(ctx: StressContext, rng: Random, kind: ClosingKind): Promise<void> {
  const peer = await connect(ctx, rng, `malformed(${kind.name})`);
  const token = await hello(ctx, peer);
  if (token === undefined) return finish(ctx, peer);
  const framesBefore = peer.framesIn;
  peer.expectClose = 'allowed';
  peer.send(kind.bytes(ctx, rng, peer.takeSerial()));
  ctx.tally.add('malformed.sent');
  const closed = await bounded(ctx, peer.closed.then(() => true));
  if (closed !== true) {
    ctx.ledger.badReaction(`${peer.label}: still open ${ctx.limits.reactionMs} ms after the frame`);
    peer.cut();
    return;
  }
  if (peer.framesIn !== framesBefore) ctx.ledger.badReaction(`${peer.label}: the server answered the frame before closing`);
  const reason = await bounded(ctx, ctx.ids.reason(token));
  if (reason !== kind.reason) ctx.ledger.badReaction(`${peer.label}: closed with reason '${String(reason)}', expected '${kind.reason}'`);
  else ctx.tally.add('malformed.closed');
}

/**
 * Frames the server answers with an error or drops, shuffled among valid
 * calls and PINGs on one connection, which must stay open and keep serving.
 */
export async function malformedKept(ctx: StressContext, rng: Random): Promise<void> {
  const peer = await connect(ctx, rng, 'malformed(kept)');
  const book = new EventBook(ctx, peer);
  if ((await hello(ctx, peer)) === undefined) return finish(ctx, peer);
  type Item = { answered: AnsweredKind } | { dropped: DroppedKind } | { valid: MixedKind };
  const items: Item[] = [];
  for (let r = 0; r < ctx.plan.keptReps; r++) {
    for (const k of ANSWERED_KINDS) items.push({ answered: k });
    for (const k of DROPPED_KINDS) items.push({ dropped: k });
    items.push({ valid: 'echo' }, { valid: 'ping' }, { valid: 'slow' });
  }
  let pings = 0;
  for (const item of rng.shuffle(items)) {
    if ('answered' in item) {
      const serial = peer.takeSerial();
      const f = item.answered.frame(rng, serial);
      const key = item.answered.native ? 'malformed.nativeErrors' : 'malformed.decodeErrors';
      void peer.sendTracked(f.bytes, { prog: f.prog, vers: f.vers, proc: f.proc, serial }, counted(expectError(ErrorCode.RPC, item.answered.text), ctx, key));
      ctx.tally.add('malformed.sent');
    } else if ('dropped' in item) {
      // Not tracked: a reply to this serial would be counted as unknown.
      peer.send(item.dropped.bytes(rng, peer.takeSerial()));
      ctx.tally.add('malformed.sent');
      ctx.tally.add('malformed.dropped');
    } else if (item.valid === 'ping') {
      peer.send(PING);
      pings++;
    } else {
      sendKind(ctx, rng, peer, book, item.valid);
    }
  }
  // The last word: a plain call, answered only if the connection survived everything.
  sendKind(ctx, rng, peer, book, 'echo');
  await bounded(ctx, peer.settled(), Infinity);
  await finish(ctx, peer);
  if (peer.state === 'ended' && peer.pongs !== pings) ctx.ledger.badReaction(`${peer.label}: ${pings} PINGs got ${peer.pongs} PONGs`);
}

