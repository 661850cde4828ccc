/**
 * The authorize hook: a denied client never reaches a handler, a pending
 * one is not read, and maxUnauthenticatedClients bounds the pending ones.
 */
import { Server } from '../lib';
import type { Client, Connection, DisconnectReason } from '../lib';
import { TEST_PROGRAM, TEST_VERSION, cleanUp, connect, socketPath, track, u32, until } from './helpers/harness';

afterEach(cleanUp);

async function serve(options: ConstructorParameters<typeof Server>[0], handled: { calls: number }): Promise<Server> {
  const server = track(new Server(options));
  server.handle(TEST_PROGRAM, TEST_VERSION, {
    1: () => {
      handled.calls++;
      return u32(1);
    },
  });
  await server.listen({ path: socketPath() });
  return server;
}

function disconnectOf(server: Server, id?: number): Promise<DisconnectReason> {
  return new Promise((resolve) => {
    const on = (c: Connection, reason: DisconnectReason): void => {
      if (id !== undefined && c.id !== id) return;
      server.off('disconnect', on);
      resolve(reason);
    };
    server.on('disconnect', on);
  });
}

test("a denied client is closed ('denied') and its call never reaches a handler", async () => {
  const handled = { calls: 0 };
  const seen: Connection[] = [];
  const server = await serve(
    {
      authorize: (c) => {
        seen.push(c);
        return false;
      },
    },
    handled,
  );
  const gone = disconnectOf(server);
  const client = await connect(server.address()!);
  const call = client.call(TEST_PROGRAM, TEST_VERSION, 1);
  // Handled from here on: the reset may reach the client before the
  // server's disconnect event reaches us, and an unhandled rejection fails
  // the test.
  const refused = expect(call).rejects.toHaveProperty('code');
  expect(await gone).toBe('denied');
  await refused;
  expect(handled.calls).toBe(0);
  expect(seen).toHaveLength(1);
  expect(seen[0]!.authorized).toBe(false);
  const stats = server.stats();
  expect(stats.clientsDenied).toBe(1);
  expect(stats.callsReceived).toBe(0);  // not a byte of it was read
});

test('an async authorize: until it settles the client is not read, then its call is served', async () => {
  const handled = { calls: 0 };
  let allow!: (v: boolean) => void;
  let asked!: () => void;
  const askedP = new Promise<void>((r) => (asked = r));
  const server = await serve(
    {
      authorize: () =>
        new Promise<boolean>((r) => {
          allow = r;
          asked();
        }),
    },
    handled,
  );
  const client = await connect(server.address()!);
  const call = client.call(TEST_PROGRAM, TEST_VERSION, 1);
  await askedP;
  let stats = server.stats();
  expect(stats.clientsUnauthenticated).toBe(1);
  expect(stats.callsReceived).toBe(0);
  expect([...server.connections.values()][0]!.authorized).toBe(false);
  allow(true);
  expect((await call).readUInt32BE(0)).toBe(1);
  stats = server.stats();
  expect(stats.clientsUnauthenticated).toBe(0);
  expect(handled.calls).toBe(1);
  expect([...server.connections.values()][0]!.authorized).toBe(true);
});

test("an authorize that throws or rejects denies the client and reports an 'error'", async () => {
  const handled = { calls: 0 };
  let n = 0;
  const server = await serve(
    {
      authorize: () => {
        n++;
        if (n === 1) throw new Error('policy store unreachable');
        return Promise.reject(new Error('policy store still unreachable'));
      },
    },
    handled,
  );
  const errors: Error[] = [];
  server.on('error', (e: Error) => errors.push(e));
  for (let i = 0; i < 2; i++) {
    const gone = disconnectOf(server);
    await connect(server.address()!);
    expect(await gone).toBe('denied');
  }
  await new Promise((r) => setImmediate(r));  // 'error' is emitted on the next tick
  expect(errors.map((e) => e.message)).toEqual(['policy store unreachable', 'policy store still unreachable']);
  expect(handled.calls).toBe(0);
});

test('maxUnauthenticatedClients holds under a flood of connects whose authorize is pending', async () => {
  const MAX = 3;
  const CLIENTS = 12;
  const handled = { calls: 0 };
  const waiting: Array<(v: boolean) => void> = [];
  let pendingNow = 0;
  let pendingPeak = 0;
  let onAsked: (() => void) | undefined;
  const server = await serve(
    {
      maxUnauthenticatedClients: MAX,
      authorize: () => {
        pendingNow++;
        pendingPeak = Math.max(pendingPeak, pendingNow);
        const verdict = new Promise<boolean>((r) => waiting.push(r));
        onAsked?.();
        return verdict;
      },
    },
    handled,
  );
  const asked = (count: number): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (waiting.length >= count) {
          onAsked = undefined;
          resolve();
        }
      };
      onAsked = check;
      check();
    });
  // The flood: every connect completes in the kernel (the backlog), but
  // only MAX are accepted while authorize is pending.
  const clients: Client[] = await Promise.all(Array.from({ length: CLIENTS }, () => connect(server.address()!)));
  const calls = clients.map((c) => c.call(TEST_PROGRAM, TEST_VERSION, 1));
  await asked(MAX);
  // The accept pause is in force: every listener stopped accepting.
  await until(() => server.stats().acceptsPaused > 0);
  expect(server.stats().clientsUnauthenticated).toBe(MAX);
  expect(server.stats().clientsAccepted).toBe(MAX);
  // Let them in one at a time; each frees a place for exactly one more.
  for (let settled = 0; settled < CLIENTS; settled++) {
    const next = waiting[settled]!;
    pendingNow--;
    next(true);
    if (settled + MAX < CLIENTS) await asked(settled + MAX + 1);
    expect(server.stats().clientsUnauthenticated).toBeLessThanOrEqual(MAX);
  }
  for (const call of calls) expect((await call).readUInt32BE(0)).toBe(1);
  expect(pendingPeak).toBe(MAX);
  expect(handled.calls).toBe(CLIENTS);
  expect(server.stats().clientsUnauthenticated).toBe(0);
});

test('a client that leaves while authorize is pending is freed, and its late verdict ignored', async () => {
  const handled = { calls: 0 };
  let allow!: (v: boolean) => void;
  let asked!: () => void;
  const askedP = new Promise<void>((r) => (asked = r));
  const server = await serve(
    {
      authorize: () =>
        new Promise<boolean>((r) => {
          allow = r;
          asked();
        }),
    },
    handled,
  );
  const client = await connect(server.address()!);
  await askedP;
  const gone = disconnectOf(server);
  client.destroy();
  expect(await gone).toBe('eof');
  allow(true);
  await new Promise((r) => setImmediate(r));
  expect(server.stats().clientsUnauthenticated).toBe(0);
  expect(server.stats().clientsLive).toBe(0);
});

test('authorizeTimeoutMs: a hook that never settles is refused when the limit passes', async () => {
  const handled = { calls: 0 };
  const verdicts: ((v: boolean) => void)[] = [];
  const errors: Error[] = [];
  const server = await serve({ authorize: () => new Promise<boolean>((resolve) => verdicts.push(resolve)), authorizeTimeoutMs: 150 }, handled);
  server.on('error', (e: Error) => errors.push(e));
  const gone = disconnectOf(server);
  const started = Date.now();
  const client = await connect(server.address()!);
  const refused = expect(client.call(TEST_PROGRAM, TEST_VERSION, 1)).rejects.toHaveProperty('code');
  expect(await gone).toBe('denied');
  expect(Date.now() - started).toBeGreaterThanOrEqual(140);  // not before the limit (timers may round down by a ms)
  await refused;
  expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/^authorize did not settle within authorizeTimeoutMs \(150 ms\): client \d+ refused$/)]);
  // The late verdict is ignored: nothing is let in, nothing more is reported.
  verdicts[0]!(true);
  await new Promise((r) => setTimeout(r, 50));
  expect(handled.calls).toBe(0);
  const stats = server.stats();
  expect([stats.authorizeTimeouts, stats.clientsDenied, stats.callsReceived, errors.length]).toEqual([1, 1, 0, 1]);
});

test('authorizeTimeoutMs: a verdict in time is kept (the limit does not fire later); 0 means no limit', async () => {
  const handled = { calls: 0 };
  const server = await serve({ authorize: () => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 20)), authorizeTimeoutMs: 500 }, handled);
  const errors: Error[] = [];
  server.on('error', (e: Error) => errors.push(e));
  const client = await connect(server.address()!);
  await client.call(TEST_PROGRAM, TEST_VERSION, 1);
  await new Promise((r) => setTimeout(r, 600));  // past the limit: still connected
  await client.call(TEST_PROGRAM, TEST_VERSION, 1);
  expect([handled.calls, server.stats().authorizeTimeouts, errors.length, server.connections.size]).toEqual([2, 0, 0, 1]);

  const pending: ((v: boolean) => void)[] = [];
  const patient = await serve({ authorize: () => new Promise<boolean>((resolve) => pending.push(resolve)), authorizeTimeoutMs: 0 }, handled);
  const waiting = await connect(patient.address()!);
  const call = waiting.call(TEST_PROGRAM, TEST_VERSION, 1);
  await until(() => pending.length === 1);
  await new Promise((r) => setTimeout(r, 200));
  expect(patient.connections.size).toBe(1);
  pending[0]!(true);
  await call;
  expect(patient.stats().authorizeTimeouts).toBe(0);
});

test('authorizeTimeoutMs is checked', () => {
  for (const bad of [-1, 1.5, 2 ** 31, NaN]) expect(() => new Server({ authorizeTimeoutMs: bad })).toThrow(/authorizeTimeoutMs must be an integer from 0 to 2147483647/);
});
