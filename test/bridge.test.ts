/**
 * The worker → JS hand-off: wake-ups coalesce while the JS thread is busy,
 * many pipelined calls each get their own answer, and close() under load
 * loses nothing.
 */
import { liveCounts } from '../lib';
import type { Client } from '../lib';
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
  // For the record (the note quotes it): how well the batching held.
  console.log(
    `10 x 1000 pipelined: jsWakeups ${wakeups}, jsCalls ${calls}, jsBatches ${after.jsBatches - before.jsBatches}, ` +
      `calls per wake-up ${(calls / wakeups).toFixed(1)}`,
  );
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
