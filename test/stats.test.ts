/**
 * server.stats() over real sockets: per-procedure counters and latency
 * histograms, and the server-wide counters of the core and the JS bridge.
 */
import { RpcError, Server, defineProgram, xdr } from '../lib';
import type { Client, Connection, LatencySnapshot, ProcedureStats } from '../lib';
import { TEST_PROGRAM, TEST_VERSION, cleanUp, connect, socketPath, track, u32 } from './helpers/harness';

afterEach(cleanUp);

const Calc = defineProgram({
  number: 0x20000099,
  version: 3,
  procedures: {
    add: { id: 7, args: xdr.struct({ a: xdr.int(), b: xdr.int() }), result: xdr.int() },
  },
});

/** Resolves once the server has reported `n` more 'disconnect' events. */
function disconnects(server: Server, n: number): Promise<Connection[]> {
  const gone: Connection[] = [];
  return new Promise((resolve) => {
    const on = (c: Connection): void => {
      gone.push(c);
      if (gone.length === n) {
        server.off('disconnect', on);
        resolve(gone);
      }
    };
    server.on('disconnect', on);
  });
}

function expectConsistent(h: LatencySnapshot, count: number): void {
  expect(h.count).toBe(count);
  expect(h.minUs).toBeGreaterThanOrEqual(0);
  expect(h.minUs).toBeLessThanOrEqual(h.meanUs);
  expect(h.meanUs).toBeLessThanOrEqual(h.maxUs);
  expect(h.p50Us).toBeLessThanOrEqual(h.p90Us);
  expect(h.p90Us).toBeLessThanOrEqual(h.p99Us);
  expect(h.p99Us).toBeLessThanOrEqual(h.maxUs);
}

test('per-procedure stats: calls, errors, names and both latency histograms', async () => {
  const N = 25;
  const server = track(new Server({ workers: 2 }));
  server.handle(TEST_PROGRAM, TEST_VERSION, {
    1: (body) => body,
    2: () => {
      throw RpcError.invalidArg('x');
    },
  });
  server.handle(Calc, { add: ({ a, b }) => a + b });
  const client = await connect(await server.listen({ path: socketPath() }));

  for (let i = 0; i < N; i++) {
    expect(await client.call(TEST_PROGRAM, TEST_VERSION, 1, u32(i))).toEqual(u32(i));
    await expect(client.call(TEST_PROGRAM, TEST_VERSION, 2)).rejects.toMatchObject({ name: 'RpcError', code: RpcError.invalidArg('x').code });
    expect(await client.call(Calc.procedures.add, { a: i, b: 1 })).toBe(i + 1);
  }
  // Calls that never reach a handler have no procedure entry: an unknown
  // procedure (answered by the native loop) and an unknown program.
  await expect(client.call(TEST_PROGRAM, TEST_VERSION, 3)).rejects.toMatchObject({ name: 'RpcError' });
  await expect(client.call(0x20000098, 1, 1)).rejects.toMatchObject({ name: 'RpcError' });

  const byKey = new Map<string, ProcedureStats>();
  for (const p of server.stats().procedures) byKey.set(`${p.program}/${p.version}/${p.procedure}`, p);
  expect([...byKey.keys()].sort()).toEqual([`${Calc.number}/3/7`, `${TEST_PROGRAM}/1/1`, `${TEST_PROGRAM}/1/2`].sort());

  const echo = byKey.get(`${TEST_PROGRAM}/1/1`)!;
  const throwing = byKey.get(`${TEST_PROGRAM}/1/2`)!;
  const typed = byKey.get(`${Calc.number}/3/7`)!;
  expect(echo).toMatchObject({ name: null, calls: N, errors: 0, deadlines: 0, abandoned: 0 });
  expect(throwing).toMatchObject({ name: null, calls: N, errors: N, deadlines: 0, abandoned: 0 });
  expect(typed).toMatchObject({ name: 'add', calls: N, errors: 0, deadlines: 0, abandoned: 0 });
  for (const p of [echo, throwing, typed]) {
    expectConsistent(p.queueWait, N);
    expectConsistent(p.runTime, N);
  }
});

test('a procedure with a handler of its own is listed with 0 calls before it is called; a catch-all\'s once called', async () => {
  const server = track(new Server({ workers: 1 }));
  server.handle(TEST_PROGRAM, TEST_VERSION, { 1: (body) => body });
  server.handle(TEST_PROGRAM, TEST_VERSION + 1, { '*': (body) => body });
  server.handle(Calc, { add: ({ a, b }) => a + b });
  const keys = (): string[] => server.stats().procedures.map((p) => `${p.program}/${p.version}/${p.procedure}:${p.calls}`).sort();
  expect(keys()).toEqual([`${Calc.number}/3/7:0`, `${TEST_PROGRAM}/1/1:0`].sort());
  const client = await connect(await server.listen({ path: socketPath() }));
  expect(await client.call(TEST_PROGRAM, TEST_VERSION + 1, 9, u32(5))).toEqual(u32(5));
  expect(keys()).toEqual([`${Calc.number}/3/7:0`, `${TEST_PROGRAM}/1/1:0`, `${TEST_PROGRAM}/2/9:1`].sort());
});

test('server counters: bytes, replies, failures, JS calls, connections, workers', async () => {
  const WORKERS = 3;
  const server = track(new Server({ workers: WORKERS }));
  server.handle(TEST_PROGRAM, TEST_VERSION, {
    1: (body) => body,
    2: () => {
      throw RpcError.invalidArg('x');
    },
  });
  const address = await server.listen({ path: socketPath() });

  const idle = server.stats();
  expect(idle).toMatchObject({ connections: 0, repliesWritten: 0, bytesRead: 0, bytesWritten: 0, callsFailed: 0, jsCalls: 0 });
  // (The worker counts are checked once calls were served: the loop thread
  // starts the workers after listen() resolves.)

  const clients: Client[] = [await connect(address), await connect(address)];
  let sent = 0; // bytes of the CALL frames: length word + 6-word header + body
  let replies = 0;
  let handled = 0;
  const call = async (client: Client, procedure: number, body: Buffer = Buffer.alloc(0)): Promise<void> => {
    sent += 28 + body.length;
    replies++;
    await client.call(TEST_PROGRAM, TEST_VERSION, procedure, body).catch((e: RpcError) => {
      expect(e.name).toBe('RpcError');
    });
  };
  for (const client of clients) {
    for (let i = 0; i < 5; i++) await call(client, 1, u32(i));
    handled += 5;
  }
  await call(clients[0]!, 2);
  await call(clients[1]!, 2);
  handled += 2;
  await call(clients[0]!, 99); // unknown procedure: the native loop answers it

  const live = server.stats();
  expect(live.connections).toBe(2);
  expect(live.clientsLive).toBe(2);
  expect(live.errorReplies).toBe(1);
  expect(live.handlerErrors).toBe(2);
  expect(live.callsFailed).toBe(3);
  expect(live.jsCalls).toBeGreaterThanOrEqual(handled);
  expect(live.bytesRead).toBe(sent);
  expect(live.workersBusy + live.workersIdle).toBe(WORKERS);

  // Once the server has seen both clients go, their replies are all counted.
  const gone = disconnects(server, 2);
  await Promise.all(clients.map((c) => c.close()));
  expect((await gone).map((c) => c.disconnectReason)).toEqual(['eof', 'eof']);

  const after = server.stats();
  expect(after.connections).toBe(0);
  expect(after.clientsLive).toBe(0);
  expect(after.repliesWritten).toBe(replies);
  expect(after.bytesRead).toBe(sent);
  expect(after.bytesWritten).toBeGreaterThanOrEqual(28 * replies);
  expect(after.callsFailed).toBe(3);
  expect(after.errorReplies).toBe(1);
  expect(after.jsCalls).toBeGreaterThanOrEqual(handled);
  expect(after.jsWakeups).toBeGreaterThan(0);
  expect(after.workersBusy + after.workersIdle).toBe(WORKERS);
  expect(after).toMatchObject({ jobsQueued: 0, clientsUnauthenticated: 0, clientsThrottled: 0, keepaliveDrops: 0, bufferedBytes: 0, lateResultsDropped: 0 });
});
