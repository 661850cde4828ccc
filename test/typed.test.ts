/**
 * Typed handlers and calls: a defineProgram program's schemas decode the
 * arguments, encode the results, and turn bad input into clear errors.
 */
import { once } from 'events';
import * as net from 'net';
import * as path from 'path';
import { Worker } from 'worker_threads';

import { Client, RpcError, Server, defineProgram, xdr } from '../lib';
import { STATUS_OK, TYPE_REPLY, encodeFrame, readHeader } from '../lib/libvirt/wire';
import type { CallContext } from '../lib';
import { cleanUp, connect, socketPath, track } from './helpers/harness';

afterEach(cleanUp);

const Disk = xdr.struct({ name: xdr.string(16), size: xdr.uhyper() });
const Demo = defineProgram({
  number: 0x20000077,
  version: 2,
  procedures: {
    lookup: { id: 1, args: xdr.struct({ name: xdr.string(16) }), result: xdr.struct({ id: xdr.int(), disks: xdr.array(Disk, 4) }) },
    version: { id: 2, args: xdr.void(), result: xdr.uhyper() },
    close: { id: 3, args: xdr.void(), result: xdr.void() },
    broken: { id: 4, args: xdr.void(), result: xdr.int() },
    unhandled: { id: 5, args: xdr.void(), result: xdr.void() },
  },
});

async function start(): Promise<{ server: Server; client: Client; contexts: CallContext[]; errors: Error[] }> {
  const server = track(new Server());
  const contexts: CallContext[] = [];
  const errors: Error[] = [];
  server.on('error', (e: Error) => errors.push(e));
  server.handle(Demo, {
    lookup: async ({ name }, ctx) => {
      contexts.push(ctx);
      if (name === 'missing') throw new RpcError(`no domain named ${name}`, { code: 42 });
      return { id: name.length, disks: [{ name: `${name}-root`, size: 1n << 40n }] };
    },
    version: () => 9001002n,
    close: () => {},
    broken: () => 'not an int' as unknown as number,
  });
  const address = await server.listen({ path: socketPath() });
  const client = await connect(address);
  return { server, client, contexts, errors };
}

test('a typed call gets its decoded result, and the handler its decoded arguments and context', async () => {
  const { client, contexts, server } = await start();
  expect(await client.call(Demo.procedures.lookup, { name: 'web' })).toEqual({
    id: 3,
    disks: [{ name: 'web-root', size: 1n << 40n }],
  });
  expect(contexts[0]).toMatchObject({ program: Demo.number, version: Demo.version, procedure: 1, serial: 1 });
  expect(await client.call(Demo.procedures.version, undefined)).toBe(9001002n);
  expect(await client.call(Demo.procedures.close, undefined)).toBeUndefined();
  expect(server.stats().jsCalls).toBe(3);
});

test('a typed handler throwing RpcError reaches the caller as that error', async () => {
  const { client } = await start();
  await expect(client.call(Demo.procedures.lookup, { name: 'missing' })).rejects.toMatchObject({
    name: 'RpcError',
    code: 42,
    message: 'no domain named missing',
  });
});

test('arguments that do not decode are refused with the field path, before the handler runs', async () => {
  const { client, contexts, errors } = await start();
  // A raw call with a 17-byte name against string<16>.
  const bad = xdr.encode(xdr.struct({ name: xdr.string(64) }), { name: 'x'.repeat(17) });
  const err = (await client.call(Demo.number, Demo.version, 1, bad).catch((e: RpcError) => e)) as RpcError;
  expect(err).toMatchObject({ name: 'RpcError', code: 39, domain: 7 });
  expect(err.message).toMatch(/^Unable to decode message payload: args\.name: /);
  // Trailing bytes are refused too (stricter than libvirtd, on purpose).
  const trailing = Buffer.concat([xdr.encode(xdr.string(16), 'ok'), Buffer.alloc(4)]);
  await expect(client.call(Demo.number, Demo.version, 1, trailing)).rejects.toMatchObject({ code: 39 });
  expect(contexts).toHaveLength(0);
  expect(errors).toHaveLength(0);
});

test('a result the schema cannot encode is an internal error and an error event', async () => {
  const { client, errors } = await start();
  const err = (await client.call(Demo.procedures.broken, undefined).catch((e: RpcError) => e)) as RpcError;
  expect(err).toMatchObject({ name: 'RpcError', code: 1 });
  expect(err.message).toContain('the handler for broken returned a value its result schema cannot encode');
  while (errors.length === 0) await new Promise((r) => setImmediate(r));
  expect(errors[0]!.name).toBe('TypeError');
});

test('a procedure without a handler answers "unknown procedure"', async () => {
  const { client } = await start();
  await expect(client.call(Demo.procedures.unhandled, undefined)).rejects.toMatchObject({ code: 39, message: 'unknown procedure: 5' });
});

test('the client refuses arguments its schema cannot encode, sending nothing', async () => {
  const { client } = await start();
  await expect(client.call(Demo.procedures.lookup, { name: 'y'.repeat(17) })).rejects.toMatchObject({ name: 'XdrError' });
  expect(client.pending).toBe(0);
  expect(await client.call(Demo.procedures.version, undefined)).toBe(9001002n);
});

test('a reply that does not decode rejects with an XdrError naming the result', async () => {
  // A peer that answers procedure 2 (uhyper) with 4 bytes.
  const path = socketPath();
  const peer = net.createServer((s) =>
    s.once('data', (call) => {
      // The call's program, version, procedure and serial; a 4-byte body.
      s.write(encodeFrame({ ...readHeader(call, 4), type: TYPE_REPLY, status: STATUS_OK }, Buffer.alloc(4)));
    }),
  );
  await new Promise<void>((r) => peer.listen(path, r));
  const client = await Client.connect({ path });
  const err = (await client.call(Demo.procedures.version, undefined).catch((e: Error) => e)) as Error;
  expect(err.name).toBe('XdrError');
  expect(err.message).toContain('version result');
  client.destroy();
  await new Promise((r) => peer.close(r));
});

test('typed registration checks procedure names and functions', () => {
  const server = new Server();
  expect(() => server.handle(Demo, { nosuch: () => {} } as never)).toThrow("the program has no procedure named 'nosuch'");
  expect(() => server.handle(Demo, { close: 5 } as never)).toThrow('the handler for close must be a function');
});

test('a backlog of typed calls larger than one batch: every handler gets its own decoded arguments', async () => {
  // More calls wait for JS than one batch takes (maxBatch), with decoded
  // arguments of different sizes, so the bridge splits its shared array of
  // decoded values between this batch and the next. The calls come from a
  // worker thread: a client on this (busy) thread could not write them all
  // (its socket's writes wait for the event loop once the kernel's buffer
  // is full).
  const N = 700;
  const Args = xdr.struct({ tag: xdr.string(16), values: xdr.array(xdr.int(), 64) });
  const Sum = defineProgram({
    number: 0x20000078,
    version: 1,
    procedures: { sum: { id: 1, args: Args, result: xdr.string(40) } },
  });
  const server = track(new Server({ maxRequestsPerClient: N }));
  server.handle(Sum, { sum: ({ tag, values }) => `${tag}:${values.length}:${values.reduce((a, b) => a + b, 0)}` });
  const address = (await server.listen({ path: socketPath() })) as { path: string };
  const argsOf = (i: number): { tag: string; values: number[] } => ({ tag: `c${i}`, values: Array.from({ length: i % 13 }, (_, j) => i * 100 + j) });
  const written = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(path.join(__dirname, 'fixtures', 'batch-sender.js'), {
    workerData: {
      socketPath: address.path, program: Sum.number, version: Sum.version, procedure: 1, count: N, flag: written.buffer,
      bodies: Array.from({ length: N }, (_, i) => xdr.encode(Args, argsOf(i))),
    },
  });
  try {
    const [ready] = (await once(worker, 'message')) as [unknown];
    expect(ready).toBe('ready');
    const result = once(worker, 'message');
    worker.postMessage('go');
    // The JS thread stays busy until every call waits for it. The bounds
    // only keep a broken build from hanging the suite.
    expect(Atomics.wait(written, 0, 0, 20000)).not.toBe('timed-out');
    const until = Date.now() + 20000;
    while (server.stats().jsPending < N && Date.now() < until) {
      // busy on purpose
    }
    expect(server.stats().jsPending).toBe(N);
    const [{ replies, wrong, got }] = (await result) as [{ replies: number; wrong: string[]; got: string[] }];
    expect({ replies, wrong }).toEqual({ replies: N, wrong: [] });
    got.forEach((hex, i) => {
      const { tag, values } = argsOf(i);
      expect([i, xdr.decode(xdr.string(40), Buffer.from(hex, 'hex'))]).toEqual([i, `${tag}:${values.length}:${values.reduce((a, b) => a + b, 0)}`]);
    });
  } finally {
    await worker.terminate();
  }
});
