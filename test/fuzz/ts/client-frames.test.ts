/**
 * Fuzz target 5: the TS client's frame reader (Client.onData, lib/client.ts).
 *
 * A Client is made on a stand-in socket (an EventEmitter that records what
 * the client writes and when it destroys it), four calls are sent, and a
 * generated server stream is fed to it in generated chunk sizes through the
 * socket's 'data' event, exactly as net.Socket delivers it. The stream is a
 * list of frames: events (MESSAGE), keepalive PING and PONG, replies to the
 * pending calls (OK, ERROR, bad status), and hostile frames: a length word
 * below 28 or above the limit, a CALL/STREAM/with-fds frame, a reply for no
 * call or for the wrong procedure; sometimes a frame cut off at the end.
 *
 * Properties, against a model computed from the frame list alone:
 *  - emitting 'data' never throws, whatever the chunking;
 *  - every frame before the first hostile one is delivered, in order: each
 *    event as a 'message' with its body, each PING answered with a PONG,
 *    each reply settling its call (resolved with its body, or rejected);
 *  - the first hostile frame is a deliberate stop: one 'error' with code
 *    ERR_XDRD_PROTOCOL, the socket destroyed, every pending call rejected
 *    with it, and nothing after it delivered;
 *  - buffering stays bounded after every chunk: at most one frame, of at
 *    most maxMessageBytes + 4 bytes, is held, and the pieces held add up
 *    to what the reader counts, never more than that frame (no copies
 *    pile up). A planted bug that kept one more view per frame was caught
 *    at once.
 */
import fc from 'fast-check';
import { EventEmitter } from 'events';
import type * as net from 'net';

import { Client } from '../../../lib/client';
import {
  KEEPALIVE_PROC_PING, KEEPALIVE_PROC_PONG, KEEPALIVE_PROGRAM, KEEPALIVE_VERSION, MIN_FRAME_BYTES,
  STATUS_ERROR, STATUS_OK, TYPE_CALL, TYPE_MESSAGE, TYPE_REPLY, encodeFrame,
} from '../../../lib/libvirt/wire';
import { budget, corpus, failure, seed, timeoutMs } from './common';

/** Small, so that frames at and just over the limit are cheap to make. */
const MAX = 256;
const PROGRAM = 0x20008086;
const CALLS = 4;

/** One frame of the generated stream. */
type Item =
  | { kind: 'message'; procedure: number; body: Uint8Array }
  | { kind: 'largest' }
  | { kind: 'ping' }
  | { kind: 'pong' }
  | { kind: 'keepaliveOther' }
  | { kind: 'reply'; call: number; status: number; body: Uint8Array }
  | { kind: 'badLength'; length: number }
  | { kind: 'badType'; type: number }
  | { kind: 'unknownSerial'; serial: number }
  | { kind: 'wrongProcedure'; call: number };

const body = fc.uint8Array({ maxLength: 40 });
const item: fc.Arbitrary<Item> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('message' as const), procedure: fc.integer({ min: -5, max: 500 }), body }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'largest' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'ping' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'pong' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'keepaliveOther' as const }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('reply' as const), call: fc.nat({ max: CALLS - 1 }), status: fc.oneof(fc.constant(STATUS_OK), fc.constant(STATUS_ERROR), fc.constantFrom(2, 3, 0xffffffff)), body }) },
  // Hostile frames end the stream, so they are rarer than the rest: most
  // streams should run several frames before (or without) one.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('badLength' as const), length: fc.oneof(fc.nat({ max: MIN_FRAME_BYTES - 1 }), fc.constantFrom(MAX + 5, MAX + 6, 0x7fffffff, 0xffffffff), fc.integer({ min: MAX + 5, max: 0xffffffff })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('badType' as const), type: fc.oneof(fc.constantFrom(TYPE_CALL, 3, 4, 5, 6, 7), fc.nat({ max: 0xffffffff }).filter((t) => t !== TYPE_REPLY && t !== TYPE_MESSAGE)) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unknownSerial' as const), serial: fc.oneof(fc.constant(0), fc.integer({ min: CALLS + 1, max: 0xffffffff })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wrongProcedure' as const), call: fc.nat({ max: CALLS - 1 }) }) },
);

const procedureOf = (call: number): number => 100 + call;
const header = (type: number, serial: number, procedure: number, status = STATUS_OK, program = PROGRAM, version = 1) =>
  ({ program, version, procedure, type, serial, status });

function bytesOf(it: Item): Buffer {
  switch (it.kind) {
    case 'message': return encodeFrame(header(TYPE_MESSAGE, 0, it.procedure), it.body);
    case 'largest': return encodeFrame(header(TYPE_MESSAGE, 0, 7), Buffer.alloc(MAX + 4 - MIN_FRAME_BYTES, 0x5a));
    case 'ping': return encodeFrame(header(TYPE_MESSAGE, 0, KEEPALIVE_PROC_PING, STATUS_OK, KEEPALIVE_PROGRAM, KEEPALIVE_VERSION));
    case 'pong': return encodeFrame(header(TYPE_MESSAGE, 0, KEEPALIVE_PROC_PONG, STATUS_OK, KEEPALIVE_PROGRAM, KEEPALIVE_VERSION));
    case 'keepaliveOther': return encodeFrame(header(TYPE_MESSAGE, 0, 9, STATUS_OK, KEEPALIVE_PROGRAM, KEEPALIVE_VERSION));
    case 'reply': return encodeFrame(header(TYPE_REPLY, it.call + 1, procedureOf(it.call), it.status), it.body);
    case 'badLength': {
      // The length word and then a full header's worth of bytes: none of it may be taken as a frame.
      const b = Buffer.alloc(4 + 24, 0);
      b.writeUInt32BE(it.length >>> 0, 0);
      return b;
    }
    case 'badType': return encodeFrame(header(it.type, 1, procedureOf(0)));
    case 'unknownSerial': return encodeFrame(header(TYPE_REPLY, it.serial, 1));
    case 'wrongProcedure': return encodeFrame(header(TYPE_REPLY, it.call + 1, procedureOf(it.call) + 1000));
  }
}

interface Expected {
  readonly messages: string[];
  readonly pongs: number;
  readonly error: boolean;
  /** Per call: 'resolved:<hex>', 'rejected' (an ERROR or bad-status reply), 'protocol' (the stop) or 'pending'. */
  readonly calls: string[];
}

/** What the client must do with `items`, frames complete, from the frame list alone. */
function model(items: readonly Item[]): Expected {
  const messages: string[] = [];
  const calls: string[] = Array.from({ length: CALLS }, () => 'pending');
  let pongs = 0;
  let error = false;
  for (const it of items) {
    switch (it.kind) {
      case 'message': messages.push(Buffer.from(it.body).toString('hex')); continue;
      case 'largest': messages.push(Buffer.alloc(MAX + 4 - MIN_FRAME_BYTES, 0x5a).toString('hex')); continue;
      case 'ping': pongs++; continue;
      case 'pong': case 'keepaliveOther': continue;
      case 'reply':
        if (calls[it.call] === 'pending') {
          calls[it.call] = it.status === STATUS_OK ? `resolved:${Buffer.from(it.body).toString('hex')}` : 'rejected';
          continue;
        }
        break;  // a second reply for a serial: no call waits for it
      case 'wrongProcedure':
        // Refused even when the call was answered already: then no call waits.
        break;
      default:
        break;
    }
    error = true;
    for (let c = 0; c < CALLS; c++) if (calls[c] === 'pending') calls[c] = 'protocol';
    break;
  }
  return { messages, pongs, error, calls };
}

/** The stand-in for net.Socket: what Client uses of it, recorded. */
class FakeSocket extends EventEmitter {
  readonly written: Buffer[] = [];
  destroyed = false;
  write(b: Buffer): boolean {
    this.written.push(Buffer.from(b));
    return true;
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      queueMicrotask(() => this.emit('close', false));
    }
    return this;
  }
  end(cb?: () => void): this {
    if (cb) queueMicrotask(cb);
    return this;
  }
  ref(): this { return this; }
  unref(): this { return this; }
}

type ClientInternals = { frameBytes: number; piecesBytes: number; pieces: Buffer[]; lengthHave: number };
const makeClient = Client as unknown as new (socket: net.Socket, maxMessageBytes: number) => Client;
const PONG = encodeFrame(header(TYPE_MESSAGE, 0, KEEPALIVE_PROC_PONG, STATUS_OK, KEEPALIVE_PROGRAM, KEEPALIVE_VERSION));

/** Feeds the frames of `items`, then `tail`, in chunks of `sizes` (cycled) and checks every property; returns whether the client stopped on an error. */
async function feed(items: readonly Item[], tail: Buffer, sizes: readonly number[]): Promise<boolean> {
  const socket = new FakeSocket();
  const client = new makeClient(socket as unknown as net.Socket, MAX);
  const internals = client as unknown as ClientInternals;
  const messages: string[] = [];
  const errors: Array<{ code?: string }> = [];
  client.on('message', (m) => messages.push(Buffer.from(m.body).toString('hex')));
  client.on('error', (e) => errors.push(e as { code?: string }));
  const outcomes: string[] = Array.from({ length: CALLS }, () => 'pending');
  const calls = Array.from({ length: CALLS }, (_, c) => client.call(PROGRAM, 1, procedureOf(c)).then(
    (b) => { outcomes[c] = `resolved:${b.toString('hex')}`; },
    // The stop's own error (the one 'error' carried), destroy()'s, or an answer's.
    (e: { code?: string }) => { outcomes[c] = e === errors[0] ? 'protocol' : e.code === 'ERR_XDRD_CLIENT_CLOSED' ? 'closed' : 'rejected'; },
  ));
  const callFrames = socket.written.length;

  const stream = Buffer.concat([...items.map(bytesOf), tail]);
  let off = 0;
  for (let k = 0; off < stream.length; k++) {
    const n = Math.min(sizes[k % sizes.length]!, stream.length - off);
    // A fresh Buffer per chunk, as the socket gives; the reader may keep views of it.
    const chunk = Buffer.from(stream.subarray(off, off + n));
    off += n;
    socket.emit('data', chunk);  // a throw here fails the property: nothing may escape the handler
    // Bounded: at most one incomplete frame, no more than it needs, no
    // copies. (Plain checks: expect() per chunk would dominate the run time.)
    const held = internals.pieces.reduce((sum, p) => sum + p.length, 0);
    const bounded = internals.frameBytes >= 0
      ? internals.frameBytes <= MAX && internals.piecesBytes <= internals.frameBytes
      : internals.piecesBytes === 0;
    if (!bounded || held !== internals.piecesBytes || internals.lengthHave >= 4) {
      throw new Error(`unbounded buffering after ${off} bytes: frameBytes ${internals.frameBytes}, piecesBytes ${internals.piecesBytes}, held ${held}, lengthHave ${internals.lengthHave}`);
    }
  }
  // Let the calls settle (promise callbacks), then end the connection.
  await new Promise((r) => setImmediate(r));
  const expected = model(items);
  const stoppedByError = socket.destroyed;
  client.destroy();
  await Promise.all(calls);
  await new Promise((r) => setImmediate(r));

  expect(messages).toEqual(expected.messages);
  const pongs = socket.written.slice(callFrames);
  expect(pongs.length).toBe(expected.pongs);
  for (const p of pongs) expect(p.equals(PONG)).toBe(true);
  expect(stoppedByError).toBe(expected.error);
  expect(errors.map((e) => e.code)).toEqual(expected.error ? ['ERR_XDRD_PROTOCOL'] : []);
  // Calls still pending at the end are rejected by destroy().
  expect(outcomes).toEqual(expected.calls.map((c) => (c === 'pending' ? 'closed' : c)));
  return expected.error;
}

/** A prefix of a valid frame, to end the stream mid-frame (the length word itself may be cut). */
const tail = fc.tuple(fc.nat({ max: 60 }), body).map(([cut, b]) => {
  const f = encodeFrame(header(TYPE_MESSAGE, 0, 3), b);
  return f.subarray(0, cut % f.length);
});
const sizes = fc.oneof(
  fc.array(fc.integer({ min: 1, max: 70 }), { minLength: 1, maxLength: 8 }),
  fc.constant([1]),                 // byte by byte
  fc.constant([1 << 20]),           // everything in one chunk
  fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }),
);

describe('fuzz target client: the frame reader under any chunking', () => {
  // Regressions: test/fuzz/corpus/ts-client/regress-*, each a JSON
  // { items, tail (hex), sizes } as fast-check reported it.
  for (const [name, bytes] of corpus('ts-client')) {
    test(`regression ${name}`, async () => {
      const r = JSON.parse(bytes.toString('utf8')) as { items: Item[]; tail: string; sizes: number[] };
      const items = r.items.map((it) => ('body' in it ? { ...it, body: Buffer.from(it.body as unknown as string, 'hex') } : it)) as Item[];
      await feed(items, Buffer.from(r.tail, 'hex'), r.sizes);
    });
  }

  test('streams of frames, hostile ones included, in every chunking', async () => {
    let stopped = 0;
    const params = budget(3000, 1);
    const details = await fc.check(fc.asyncProperty(fc.array(item, { maxLength: 12 }), tail, sizes, async (items, t, s) => {
      if (await feed(items, t, s)) stopped++;
    }), params);
    if (details.failed) throw failure('client frames', details);
    console.log(`fuzz client frames: ${details.numRuns} runs, seed ${seed}, ${stopped} stopped by a hostile frame${details.interrupted ? ' (time budget reached)' : ''}`);
    // Both endings must occur, or half the properties were never tested.
    expect(stopped).toBeGreaterThan(0);
    expect(stopped).toBeLessThan(details.numRuns);
  }, timeoutMs(1));
});
