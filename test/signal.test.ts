/**
 * ctx.signal and what happens to a call whose answer can no longer
 * matter: the client left, the deadline passed, the server shut down.
 */
import { liveCounts } from '../lib';
import type { CallContext, Connection, DisconnectReason, Server } from '../lib';
import { TEST_PROGRAM, TEST_VERSION, cleanUp, connect, startServer, u32, until } from './helpers/harness';

afterEach(cleanUp);

/** A handler that parks its calls until the test releases them. */
function latched(): {
  handler: (body: Buffer, ctx: CallContext) => Promise<Buffer>;
  started: Promise<CallContext>;
  release: (value: Buffer) => void;
  settled: Promise<void>;
} {
  let onStart!: (ctx: CallContext) => void;
  const started = new Promise<CallContext>((r) => (onStart = r));
  let release!: (value: Buffer) => void;
  const gate = new Promise<Buffer>((r) => (release = r));
  let onSettled!: () => void;
  const settled = new Promise<void>((r) => (onSettled = r));
  return {
    handler: async (_body, ctx) => {
      onStart(ctx);
      try {
        return await gate;
      } finally {
        // After the answer is handed back (the next turn).
        setImmediate(onSettled);
      }
    },
    started,
    release,
    settled,
  };
}

function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

test("a client that leaves during a latched handler: the signal fires with 'disconnect', the late result is dropped, the client is freed", async () => {
  const latch = latched();
  const { server, address } = await startServer({ 1: latch.handler });
  const client = await connect(address);
  const call = client.call(TEST_PROGRAM, TEST_VERSION, 1).catch((e: unknown) => e);
  const ctx = await latch.started;
  expect(ctx.signal.aborted).toBe(false);
  const gone = new Promise<DisconnectReason>((r) => server.once('disconnect', (_c: Connection, reason: DisconnectReason) => r(reason)));
  client.destroy();
  const reason = (await aborted(ctx.signal)) as { name: string; code: string };
  expect(reason.name).toBe('AbortError');
  expect(reason.code).toBe('disconnect');
  expect(await gone).toBe('eof');
  expect(ctx.client.connected).toBe(false);
  // Freed while the handler still runs: nothing holds the client any more
  // (the loop thread drops the last reference a moment later).
  await until(() => liveCounts().clients === 0);
  expect(server.stats().jsInFlight).toBe(0);
  latch.release(u32(1));
  await latch.settled;
  const stats = server.stats();
  expect(stats.lateResultsDropped).toBe(1);
  expect(stats.procedures[0]!.abandoned).toBe(1);
  // The client side: destroy() rejected the pending call itself.
  expect(await call).toMatchObject({ code: 'ERR_XDRD_CLIENT_CLOSED', message: 'The client was destroyed before the reply arrived.' });
});

test("the deadline: the client gets OPERATION_TIMEOUT, the signal fires with 'deadline', the late result is dropped", async () => {
  const latch = latched();
  const { server, address } = await startServer({ 1: latch.handler }, { callDeadlineMs: 30 });
  const client = await connect(address);
  const call = client.call(TEST_PROGRAM, TEST_VERSION, 1);
  const ctx = await latch.started;
  expect(ctx.deadline).toBeGreaterThan(Date.now() - 1000);
  const err = (await call.catch((e: unknown) => e)) as { name: string; code: number; message: string };
  expect(err.name).toBe('RpcError');
  expect(err.code).toBe(68);  // VIR_ERR_OPERATION_TIMEOUT
  expect(err.message).toMatch(/30 ms/);
  const reason = (await aborted(ctx.signal)) as { code: string };
  expect(reason.code).toBe('deadline');
  latch.release(u32(1));
  await latch.settled;
  const stats = server.stats();
  expect(stats.lateResultsDropped).toBe(1);
  expect(stats.procedures[0]).toMatchObject({ calls: 1, errors: 1, deadlines: 1 });
  // The connection is fine: the next call is served.
  const second = client.call(TEST_PROGRAM, TEST_VERSION, 1);
  (await latch.started);  // the same latch is already open
  expect((await second).readUInt32BE(0)).toBe(1);
});

test('calls answered in time keep their signals quiet; their deadlines are cleared', async () => {
  const quick: CallContext[] = [];
  const latch = latched();
  const { server, address } = await startServer(
    {
      1: (_body, ctx) => {
        quick.push(ctx);
        return u32(5);
      },
      2: latch.handler,
    },
    { callDeadlineMs: 10 },
  );
  const client = await connect(address);
  for (let i = 0; i < 20; i++) expect((await client.call(TEST_PROGRAM, TEST_VERSION, 1)).readUInt32BE(0)).toBe(5);
  // A call that does pass its deadline, started after the quick ones: by
  // the time its timeout arrives, theirs would have fired too.
  const err = (await client.call(TEST_PROGRAM, TEST_VERSION, 2).catch((e: unknown) => e)) as { code: number };
  expect(err.code).toBe(68);
  expect(quick.every((ctx) => !ctx.signal.aborted)).toBe(true);
  expect(server.stats().procedures.find((p) => p.procedure === 1)).toMatchObject({ calls: 20, errors: 0, deadlines: 0 });
  latch.release(u32(0));
  await latch.settled;
});

test("close(): at the end of the grace period the signal fires with 'shutdown' and the client gets the shutdown error", async () => {
  const latch = latched();
  const { server, address } = await startServer({ 1: latch.handler });
  const client = await connect(address);
  const call = client.call(TEST_PROGRAM, TEST_VERSION, 1).catch((e: unknown) => e);
  const ctx = await latch.started;
  const closing = server.close({ graceMs: 20 });
  const reason = (await aborted(ctx.signal)) as { code: string };
  expect(reason.code).toBe('shutdown');
  const err = (await call) as { name: string; message: string };
  expect(err.name).toBe('RpcError');
  expect(err.message).toMatch(/shutting down/);
  latch.release(u32(1));
  const result = await closing;
  expect(result.callsCancelled).toBe(1);
  expect(result.drained).toBe(false);
});
