/**
 * Typed calls are decoded on the server's workers (lib/xdr/plan.ts,
 * native/core/wire/decode_plan.h): a call whose arguments do not decode is
 * answered by a worker and never reaches JS, typed arguments of every
 * construct arrive exactly as the client encoded them, and a declared count
 * too large for the body is refused before anything is allocated for it.
 */
import * as path from 'path';
import { Worker } from 'worker_threads';

import { RpcError, Server, defineProgram, liveCounts, xdr } from '../lib';
import type { Schema } from '../lib';
import { RawPeer, TYPE_REPLY, frame } from './helpers/raw-peer';
import { cleanUp, connect, socketPath, track, until } from './helpers/harness';
import { Rng, randomValue } from './helpers/xdr-random';

afterEach(cleanUp);

const Name = xdr.struct({ name: xdr.string(16) });

test('a call whose arguments do not decode is answered while the JS thread is parked', async () => {
  const shared = new SharedArrayBuffer(8);
  const flags = new Int32Array(shared);  // [0]: released by the worker thread; [1]: JS is parked
  const P = defineProgram({
    number: 0x20000101,
    version: 1,
    procedures: {
      park: { id: 1, args: xdr.void(), result: xdr.string(16) },
      echo: { id: 2, args: Name, result: Name },
    },
  });
  const server = track(new Server({ workers: 2 }));
  server.handle(P, {
    park: () => {
      Atomics.store(flags, 1, 1);
      Atomics.notify(flags, 1);
      // Blocks this (the only JS) thread until the worker thread says so. The
      // bound only keeps a broken build from hanging the suite; it is not a
      // threshold the test passes by.
      return Atomics.wait(flags, 0, 0, 20_000);
    },
    echo: ({ name }) => ({ name: `${name}!` }),
  });
  const sock = socketPath();
  const address = await server.listen({ path: sock });
  const worker = new Worker(path.join(__dirname, 'fixtures', 'parked-client.js'), {
    workerData: { shared, path: sock, program: P.number, version: P.version, procedure: 2 },
  });
  const report = new Promise<{ error?: unknown; reply?: string; failure?: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const client = await connect(address);
  // Released by the worker thread once it had the error reply, never by the timeout.
  expect(await client.call(P.procedures.park, undefined)).toBe('ok');
  const r = await report;
  await worker.terminate();
  expect(r.failure).toBeUndefined();
  expect(r.error).toEqual({ message: 'Unable to decode message payload: args.name: string longer than 16 (17 bytes)', code: 39, domain: 7 });
  expect(xdr.decode(Name, Buffer.from(r.reply!, 'hex'))).toEqual({ name: 'queued!' });
  const stats = server.stats();
  expect(stats.argsRefused).toBe(1);
  expect(stats.procedures.find((p) => p.name === 'echo')).toMatchObject({ calls: 2, errors: 1 });
}, 30_000);

test('the worker\'s error reply carries the same error struct the TypeScript codec\'s message makes', async () => {
  const P = defineProgram({ number: 0x20000102, version: 1, procedures: { echo: { id: 2, args: Name, result: Name } } });
  const server = track(new Server());
  server.handle(P, { echo: (a) => a });
  const address = await server.listen({ path: socketPath() });
  const peer = await RawPeer.connect(address);
  const bad = xdr.encode(xdr.struct({ name: xdr.string(64) }), { name: 'x'.repeat(17) });
  peer.send(frame(P.number, P.version, 2, 7, bad));
  const reply = await peer.next();
  peer.destroy();
  expect(reply).toMatchObject({ type: TYPE_REPLY, serial: 7, status: 1 });
  const expected = RpcError.rpc('Unable to decode message payload: args.name: string longer than 16 (17 bytes)').encode();
  expect(reply.body.toString('hex')).toBe(Buffer.from(expected).toString('hex'));
});

// Every construct of lib/xdr, nested, with recursion through an optional,
// an array and a union.
const Color = xdr.enum({ RED: 0, GREEN: 1, BLUE: -7 });
const Tree = xdr.recursive((self) => xdr.struct({ label: xdr.string(8), kids: xdr.array(self, 3) }));
const List = xdr.recursive((self) => xdr.struct({ v: xdr.short(), next: xdr.optional(self) }));
const Expr = xdr.recursive((self) =>
  xdr.union(xdr.int(), [xdr.arm(0, xdr.hyper()), xdr.arm([1, 2], xdr.fixedArray(self, 2)), xdr.arm(3, xdr.void())], { default: xdr.float() }),
);
const Everything = xdr.struct({
  i: xdr.int(), u: xdr.uint(), c: xdr.char(), uc: xdr.uchar(), s: xdr.short(), us: xdr.ushort(),
  h: xdr.hyper(), uh: xdr.uhyper(), f: xdr.float(), d: xdr.double(), b: xdr.bool(), e: Color,
  str: xdr.string(40), anyStr: xdr.string(), op: xdr.opaque(12), fixed: xdr.fixedOpaque(5),
  arr: xdr.array(xdr.uhyper(), 4), fixedArr: xdr.fixedArray(Color, 2), opt: xdr.optional(xdr.double()),
  byBool: xdr.union(xdr.bool(), [xdr.arm(true, xdr.string(4)), xdr.arm(false, xdr.void())]),
  byEnum: xdr.union(Color, [xdr.arm('RED', xdr.int()), xdr.arm(['GREEN', 'BLUE'], xdr.opaque(3))]),
  byUint: xdr.union(xdr.uint(), [xdr.arm(0xffffffff, xdr.char())], { default: xdr.void() }),
  tree: Tree, list: xdr.optional(List), expr: Expr,
});

test('typed arguments of every construct arrive as the client encoded them', async () => {
  const P = defineProgram({
    number: 0x20000103,
    version: 1,
    procedures: {
      every: { id: 1, args: Everything, result: xdr.int() },
      big: { id: 2, args: xdr.struct({ tag: xdr.int(), blob: xdr.opaque(), tail: xdr.string() }), result: xdr.uint() },
    },
  });
  const got: unknown[] = [];
  // Several workers decode a client's calls at once, so they may reach JS
  // in any order: keep each by its serial (the client numbers its calls in
  // the order they are made) and compare in that order.
  const bySerial: [number, unknown][] = [];
  const server = track(new Server({ workers: 3 }));
  server.handle(P, {
    every: (args, ctx) => bySerial.push([ctx.serial, args]),
    big: (args) => {
      got.push(args);
      return args.blob.length;
    },
  });
  const client = await connect(await server.listen({ path: socketPath() }));
  const seed = Number(process.env.XDRD_PLAN_SEED ?? 20261203);
  const r = new Rng(seed);
  const sent: unknown[] = [];
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < 200; i++) {
    const value = randomValue(r, Everything as Schema);
    sent.push(value);
    calls.push(client.call(P.procedures.every, value as never));
  }
  await Promise.all(calls);
  expect(bySerial).toHaveLength(200);
  bySerial.sort((a, b) => a[0] - b[0]);
  bySerial.forEach(([, g], i) => expect(g).toEqual(sent[i]));
  // A body of 256 KiB crosses lent (not copied) with its decoded values.
  const blob = Buffer.alloc(256 * 1024, 0xab);
  got.length = 0;
  expect(await client.call(P.procedures.big, { tag: -1, blob, tail: 'end' })).toBe(blob.length);
  expect(got[0]).toEqual({ tag: -1, blob, tail: 'end' });
  expect(server.stats().jsBodiesLent).toBeGreaterThanOrEqual(1);
});

test('a count of 2^32 - 1 elements in a 20-byte body is refused before anything is allocated', async () => {
  const P = defineProgram({ number: 0x20000104, version: 1, procedures: { sum: { id: 1, args: xdr.struct({ list: xdr.array(xdr.int()) }), result: xdr.int() } } });
  let ran = 0;
  const server = track(new Server());
  server.handle(P, { sum: ({ list }) => (ran++, list.length) });
  const client = await connect(await server.listen({ path: socketPath() }));
  const body = Buffer.alloc(20);
  body.writeUInt32BE(0xffffffff, 0);
  await expect(client.call(P.number, P.version, 1, body)).rejects.toMatchObject({
    code: 39,
    message: 'Unable to decode message payload: args.list: array count 4294967295 needs at least 17179869180 bytes, 16 left',
  });
  expect(ran).toBe(0);
  // The refused call's frame is gone; nothing was kept for it.
  await until(() => liveCounts().messages === 0);
  expect(server.stats()).toMatchObject({ argsRefused: 1, jsCalls: 0 });
});

test('the decoded values of one batch never show through in the next, whatever their sizes', async () => {
  // The addon reuses one array for the values of a batch's typed calls
  // (native/addon/server_wrap.cc, values_area_ref_): a batch with fewer
  // values than the last leaves old numbers past its own, and a batch with
  // more than the array holds gets a new one. One call per batch here
  // (each awaited), with value counts up, down, and past the array's size.
  const P = defineProgram({
    number: 0x20000105,
    version: 1,
    procedures: { sum: { id: 1, args: xdr.array(xdr.int()), result: xdr.struct({ n: xdr.uint(), sum: xdr.hyper() }) } },
  });
  const server = track(new Server());
  server.handle(P, { sum: (list) => ({ n: list.length, sum: BigInt(list.reduce((a, b) => a + b, 0)) }) });
  const client = await connect(await server.listen({ path: socketPath() }));
  for (const n of [3000, 1, 0, 5000, 2, 100_000, 7, 4096, 4097]) {
    const list = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? i : -i) ^ n);
    const want = list.reduce((a, b) => a + b, 0);
    expect(await client.call(P.procedures.sum, list)).toEqual({ n, sum: BigInt(want) });
  }
});
