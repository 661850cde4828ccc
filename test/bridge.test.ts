/**
 * The worker → JS hand-off: wake-ups coalesce while the JS thread is busy,
 * calls queued meanwhile come over in full batches, many pipelined calls
 * each get their own answer, and close() under load loses nothing.
 */
import { once } from 'events';
import * as path from 'path';
import { Worker } from 'worker_threads';

import { liveCounts } from '../lib';
import type { Client } from '../lib';
import { native } from '../lib/native';
import { TEST_PROGRAM, TEST_VERSION, cleanUp, connect, startServer, u32 } from './helpers/harness';

afterEach(cleanUp);

/** A body that names its call: client index and call index. */
function tag(client: number, call: number): Buffer {
  return Buffer.concat([u32(client), u32(call)]);
}

test('while the JS thread is busy, 100 queued calls cost at most 2 wake-ups', async () => {
  const { server, address } = await startServer({ 1: (b) => b }, { maxRequestsPerClient: 200 });
  const client = await connect(address);
  await client.call(TEST_PROGRAM, TEST_VERSION, 1, tag(0, 0)); // connected and warm

  const before = server.stats().jsWakeups;
  // net writes go straight to the kernel when its buffer has room, so the
  // calls reach the server while this thread spins below.
  const calls = Array.from({ length: 100 }, (_, i) => client.call(TEST_PROGRAM, TEST_VERSION, 1, tag(0, i + 1)));
  const spinUntil = Date.now() + 20000;
  let pending = 0;
  while ((pending = server.stats().jsPending) < 100 && Date.now() < spinUntil) {
    // busy: the worker threads queue calls and must not wake us per call
  }
  expect(pending).toBe(100);

  const replies = await Promise.all(calls);
  replies.forEach((r, i) => expect(r).toEqual(tag(0, i + 1)));
  const stats = server.stats();
  expect(stats.jsWakeups - before).toBeLessThanOrEqual(2);
  expect(stats.jsPending).toBe(0);
  expect(stats.jsInFlight).toBe(0);
});

test('10 clients x 1,000 pipelined calls: every reply matches its call', async () => {
  const CLIENTS = 10;
  const CALLS = 1000;
  const { server, address } = await startServer({
    1: (b) => b,
    // Every third call answers asynchronously, so sync and async results mix
    // in the same batches.
    2: async (b) => {
      await null;
      return Buffer.from(b);
    },
  });
  const clients: Client[] = [];
  for (let c = 0; c < CLIENTS; c++) clients.push(await connect(address));
  const before = server.stats();

  const all = clients.map((client, c) =>
    Promise.all(
      Array.from({ length: CALLS }, (_, i) => client.call(TEST_PROGRAM, TEST_VERSION, i % 3 === 0 ? 2 : 1, tag(c, i))),
    ),
  );
  const results = await Promise.all(all);
  results.forEach((replies, c) => replies.forEach((r, i) => expect(r).toEqual(tag(c, i))));

  const after = server.stats();
  const wakeups = after.jsWakeups - before.jsWakeups;
  const calls = after.jsCalls - before.jsCalls;
  expect(calls).toBe(CLIENTS * CALLS);
  expect(wakeups).toBeGreaterThan(0);
  expect(wakeups).toBeLessThanOrEqual(calls);
  // How many batches this takes depends on the timing of both threads; the
  // test below pins the batching down with the JS thread held still.
});

test('N calls queued while the JS thread is parked arrive in at most ⌈N / maxBatch⌉ + 1 batches', async () => {
  const N = 1000;
  const { maxBatch } = native().layout;
  const { server, address } = await startServer({ 1: (b) => b }, { maxRequestsPerClient: N });
  // Word 0: set by the worker once its N calls are in the kernel.
  const written = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(path.join(__dirname, 'fixtures', 'batch-sender.js'), {
    workerData: { socketPath: (address as { path: string }).path, program: TEST_PROGRAM, version: TEST_VERSION, procedure: 1, count: N, flag: written.buffer },
  });
  try {
    const [ready] = (await once(worker, 'message')) as [unknown];
    expect(ready).toBe('ready');
    const before = server.stats();
    const result = once(worker, 'message');
    worker.postMessage('go');
    // Parked from here until all N wait for JS: this thread takes no
    // wake-up meanwhile, so nothing is handed over early.
    expect(Atomics.wait(written, 0, 0, 20000)).not.toBe('timed-out');
    const until = Date.now() + 20000;
    let pending = 0;
    while ((pending = server.stats().jsPending) < N && Date.now() < until) Atomics.wait(written, 0, 1, 1);
    expect(pending).toBe(N);
    expect(server.stats().jsBatches).toBe(before.jsBatches);

    // Released: the event loop runs the wake-up, the batches and the replies.
    const [{ replies, wrong }] = (await result) as [{ replies: number; wrong: string[] }];
    expect({ replies, wrong }).toEqual({ replies: N, wrong: [] });
    const after = server.stats();
    expect(after.jsCalls - before.jsCalls).toBe(N);
    const batches = after.jsBatches - before.jsBatches;
    expect(batches).toBeGreaterThanOrEqual(Math.ceil(N / maxBatch));
    expect(batches).toBeLessThanOrEqual(Math.ceil(N / maxBatch) + 1);
  } finally {
    await worker.terminate();
  }
});

/** `size` bytes that name their call: byte i is (seed + i * 7) & 255. */
function pattern(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (seed + i * 7) & 255;
  return b;
}

/** Spins (the JS thread busy) until `n` calls wait for JS, so they arrive in one batch. */
function holdUntilPending(server: { stats(): { jsPending: number } }, n: number): void {
  const until = Date.now() + 20000;
  while (server.stats().jsPending < n && Date.now() < until) {
    // busy on purpose
  }
}

test('large bodies are lent to JS without a copy, mixed with copied small ones, and stay valid once answered', async () => {
  // Sizes around the 32 KiB line (call_bridge.h kLendBodyBytes).
  const SIZES = [12, 40000, 100, 70000, 32768, 32764, 0, 131072];
  const kept: Buffer[] = [];
  const { server, address } = await startServer(
    {
      1: (b) => {
        kept.push(b);
        return b;
      },
    },
    { maxRequestsPerClient: 16 },
  );
  const client = await connect(address);
  await client.call(TEST_PROGRAM, TEST_VERSION, 1, Buffer.alloc(0)); // connected and warm
  kept.length = 0;
  const lentBefore = server.stats().jsBodiesLent;
  const sent = SIZES.map((size, i) => pattern(size, i + 1));
  // Pipelined (not held back: the client shares this thread, and bodies
  // this large leave it only while it is free), so batches mix sizes.
  const replies = await Promise.all(sent.map((body) => client.call(TEST_PROGRAM, TEST_VERSION, 1, body)));
  // Buffer.equals: jest's deep equality walks large Buffers byte by byte, slowly.
  replies.forEach((r, i) => expect([i, r.equals(sent[i]!)]).toEqual([i, true]));
  expect(kept).toHaveLength(SIZES.length);
  // The handler may see a client's pipelined calls in any order (workers
  // take them in runs, and hand each run over whole), so the kept bodies
  // are found by their size, which differs for every call.
  const keptBySize = new Map(kept.map((b) => [b.length, b]));
  expect([...keptBySize.keys()].sort((a, b) => a - b)).toEqual([...SIZES].sort((a, b) => a - b));
  // Exactly the bodies of 32 KiB or more were lent; each is a Buffer of its own.
  expect(server.stats().jsBodiesLent - lentBefore).toBe(SIZES.filter((n) => n >= 32768).length);
  for (const size of SIZES) {
    const b = keptBySize.get(size)!;
    if (size >= 32768) expect([size, b.byteOffset, b.buffer.byteLength]).toEqual([size, 0, size]);
  }
  // More traffic, then the kept views still hold what was sent: the frames
  // under the lent ones were not reused while JS held them.
  for (let round = 0; round < 5; round++) {
    const more = SIZES.map((size, i) => pattern(size, 100 + round * 10 + i));
    const got = await Promise.all(more.map((body) => client.call(TEST_PROGRAM, TEST_VERSION, 1, body)));
    got.forEach((r, i) => expect([i, r.equals(more[i]!)]).toEqual([i, true]));
  }
  SIZES.forEach((size, i) => expect([i, keptBySize.get(size)!.equals(sent[i]!)]).toEqual([i, true]));
});

test('large answers settled together are handed over one Buffer each, each to its own call', async () => {
  const SIZES = [70000, 10, 40000, 65536, 3, 100000];
  const { server, address } = await startServer(
    {
      // Answers of the asked size, all settled in one microtask turn, so they
      // share one flush well above 64 KiB.
      1: async (b) => {
        await null;
        return pattern(b.readUInt32BE(0), b.readUInt32BE(4));
      },
    },
    { maxRequestsPerClient: 16 },
  );
  const client = await connect(address);
  const calls = SIZES.map((size, i) => client.call(TEST_PROGRAM, TEST_VERSION, 1, Buffer.concat([u32(size), u32(i * 3)])));
  holdUntilPending(server, SIZES.length);
  const replies = await Promise.all(calls);
  replies.forEach((r, i) => expect(r.equals(pattern(SIZES[i]!, i * 3))).toBe(true));
  expect(server.stats().jsInFlight).toBe(0);
});

test('answers just under the separate-Buffer size, 6 MB in one flush, grow the answer arena and each reaches its call', async () => {
  // 31 KiB each: copied into the arena (bridge.ts SEPARATE_ANSWER_BYTES is
  // 32 KiB), which grows well past the 1 MiB it keeps, then starts small.
  const N = 200;
  const SIZE = 31 * 1024;
  const { server, address } = await startServer(
    {
      1: async (b) => {
        await null;
        return pattern(b.readUInt32BE(0), b.readUInt32BE(4));
      },
    },
    { maxRequestsPerClient: N },
  );
  const client = await connect(address);
  for (let round = 0; round < 2; round++) {
    const calls = Array.from({ length: N }, (_, i) => client.call(TEST_PROGRAM, TEST_VERSION, 1, Buffer.concat([u32(i % 3 === 0 ? 4 : SIZE), u32(round * N + i)])));
    holdUntilPending(server, N);
    const replies = await Promise.all(calls);
    replies.forEach((r, i) => expect([i, r.equals(pattern(i % 3 === 0 ? 4 : SIZE, round * N + i))]).toEqual([i, true]));
  }
  expect(server.stats().jsInFlight).toBe(0);
});

test('more answers in one turn than the result area holds, small and large mixed, are handed over area by area, each to its call', async () => {
  // 600 answers settled in one turn (the handlers hold them until the
  // last call has come, then all settle together): more than two result
  // areas (maxBatch records each), so the bridge hands a full area over
  // while answers are still coming; every 7th has a Buffer of its own
  // (40 KB).
  const N = 600;
  const { maxBatch } = native().layout;
  expect(N).toBeGreaterThan(2 * maxBatch);
  const held: (() => void)[] = [];
  const { server, address } = await startServer(
    {
      1: (b) =>
        new Promise<Buffer>((resolve) => {
          held.push(() => resolve(pattern(b.readUInt32BE(0), b.readUInt32BE(4))));
          if (held.length === N) for (const settle of held) settle();
        }),
    },
    { maxRequestsPerClient: N },
  );
  const client = await connect(address);
  const size = (i: number): number => (i % 7 === 0 ? 40000 : i % 5);
  const calls = Array.from({ length: N }, (_, i) => client.call(TEST_PROGRAM, TEST_VERSION, 1, Buffer.concat([u32(size(i)), u32(i)])));
  const replies = await Promise.all(calls);
  replies.forEach((r, i) => expect([i, r.equals(pattern(size(i), i))]).toEqual([i, true]));
  expect(server.stats().jsInFlight).toBe(0);
});

test('close({ graceMs }) under load: every call is answered or errored, none lost, no thread left', async () => {
  const CLIENTS = 8;
  const { server, address } = await startServer(
    {
      1: async (b) => {
        await new Promise((r) => setImmediate(r));
        return b;
      },
    },
    { workers: 3 },
  );
  const clients: Client[] = [];
  for (let c = 0; c < CLIENTS; c++) clients.push(await connect(address));

  let answered = 0;
  let refused = 0;
  let disconnected = 0;
  const wrong: string[] = [];
  let sent = 0;
  let stop = false;
  // Each client keeps 20 calls in flight until the server goes away.
  const loops = clients.map(async (client, c) => {
    const inFlight = new Set<Promise<void>>();
    let gone = false; // once refused or disconnected, calls fail at once: stop sending
    for (let i = 0; !stop && !gone; i++) {
      sent++;
      const p: Promise<void> = client.call(TEST_PROGRAM, TEST_VERSION, 1, tag(c, i)).then(
        (r) => {
          if (r.equals(tag(c, i))) answered++;
          else wrong.push(`client ${c} call ${i}`);
        },
        (e: Error & { code?: unknown }) => {
          gone = true;
          if (e.name === 'RpcError' && e.message === 'server is shutting down') refused++;
          // The server closed the connection: cleanly, or with calls still
          // unread in its socket buffer (the kernel then resets it).
          else if (['ERR_XDRD_CONNECTION_CLOSED', 'ERR_XDRD_CLIENT_CLOSED', 'ECONNRESET', 'EPIPE'].includes(String(e.code))) disconnected++;
          else wrong.push(`client ${c} call ${i}: ${String(e)}`);
        },
      );
      inFlight.add(p);
      void p.then(() => inFlight.delete(p));
      if (inFlight.size >= 20) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  });

  while (server.stats().repliesWritten < 2000) await new Promise((r) => setImmediate(r));
  const result = await server.close({ graceMs: 200 });
  stop = true;
  await Promise.all(loops);

  expect(wrong).toEqual([]);
  expect(answered + refused + disconnected).toBe(sent);
  expect(answered).toBeGreaterThanOrEqual(2000);
  expect(result.clientsClosed).toBe(CLIENTS);
  expect(liveCounts().threads).toBe(0);
});
