/**
 * The Server API over real sockets: what each kind of handler produces on
 * the wire, registration rules, listen errors, close and listen again.
 */
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';

import { RpcError, Server, liveCounts } from '../lib';
import type { CallContext } from '../lib';
import { TEST_PROGRAM, TEST_VERSION, cleanUp, connect, runChild, socketPath, startServer, tempDir, track, u32 } from './helpers/harness';

afterEach(cleanUp);

function errorEvents(server: Server): Error[] {
  const seen: Error[] = [];
  server.on('error', (e: Error) => seen.push(e));
  return seen;
}

/** Waits until `n` 'error' events arrived (they are emitted on the next tick). */
async function nextErrors(seen: Error[], n: number): Promise<Error[]> {
  while (seen.length < n) await new Promise((r) => setImmediate(r));
  return seen;
}

describe('handlers', () => {
  test('a synchronous handler returns the reply body', async () => {
    const { address } = await startServer({ 1: (body) => Buffer.concat([body, body]) });
    const client = await connect(address);
    expect(await client.call(TEST_PROGRAM, TEST_VERSION, 1, Buffer.from('abcd'))).toEqual(Buffer.from('abcdabcd'));
  });

  test('an async handler resolves the reply body', async () => {
    const { address } = await startServer({
      1: async (body) => {
        await new Promise((r) => setImmediate(r));
        return Buffer.from(body).reverse();
      },
    });
    const client = await connect(address);
    expect(await client.call(TEST_PROGRAM, TEST_VERSION, 1, Buffer.from([1, 2, 3, 4]))).toEqual(Buffer.from([4, 3, 2, 1]));
  });

  test.each([0, 1000])('calls are answered with busyPollUs %i (never spinning, and spinning long)', async (busyPollUs) => {
    const { address } = await startServer({ 1: (body) => Buffer.concat([body, body]) }, { busyPollUs });
    const client = await connect(address);
    for (let i = 0; i < 20; i++) {
      const body = Buffer.from([i, i + 1, i + 2, i + 3]);
      expect(await client.call(TEST_PROGRAM, TEST_VERSION, 1, body)).toEqual(Buffer.concat([body, body]));
    }
  });

  test.each(['epoll', 'poll'] as const)('calls are answered with eventBackend %s', async (eventBackend) => {
    const { address } = await startServer({ 1: (body) => Buffer.concat([body, body]) }, { eventBackend });
    const client = await connect(address);
    for (let i = 0; i < 20; i++) {
      const body = Buffer.from([i, i + 1, i + 2, i + 3]);
      expect(await client.call(TEST_PROGRAM, TEST_VERSION, 1, body)).toEqual(Buffer.concat([body, body]));
    }
  });

  // The addon reads the real environment, which jest's process.env is not:
  // a child process is started with the variable set.
  test.each([
    ['poll', 0, /"reply":"hi!"/],
    ['kqueue', 1, /XDRD_EVENT_BACKEND must be 'epoll' or 'poll', not 'kqueue'/],
  ])('XDRD_EVENT_BACKEND=%s: the server serves, or listen() fails naming the variable', async (value, code, output) => {
    const r = await runChild(path.join(__dirname, 'fixtures', 'serve-one-call.js'), [socketPath()], {
      env: { XDRD_EVENT_BACKEND: value },
    });
    expect(r.code).toBe(code);
    expect(r.stdout + r.stderr).toMatch(output);
  });

  test('an empty body in and out is a valid call and reply', async () => {
    const { address } = await startServer({ 1: (body) => body });
    const client = await connect(address);
    expect(await client.call(TEST_PROGRAM, TEST_VERSION, 1)).toEqual(Buffer.alloc(0));
  });

  test('a thrown RpcError becomes an error reply with its fields, and no error event', async () => {
    const { server, address } = await startServer({
      1: () => {
        throw new RpcError('no such domain', { code: 42, domain: 10, str1: 'a', int1: 7 });
      },
    });
    const seen = errorEvents(server);
    const client = await connect(address);
    const err = await client.call(TEST_PROGRAM, TEST_VERSION, 1).catch((e: RpcError) => e);
    expect(err).toMatchObject({ name: 'RpcError', code: 42, domain: 10, message: 'no such domain', str1: 'a', int1: 7 });
    // Served and the next call works: the event would have come by now.
    expect(await client.call(TEST_PROGRAM, TEST_VERSION, 1).catch((e: RpcError) => e.code)).toBe(42);
    expect(seen).toHaveLength(0);
  });

  test('a rejected RpcError becomes an error reply too', async () => {
    const { address } = await startServer({
      1: async () => {
        throw new RpcError('later', { code: 55 });
      },
    });
    const client = await connect(address);
    await expect(client.call(TEST_PROGRAM, TEST_VERSION, 1)).rejects.toMatchObject({ name: 'RpcError', code: 55, message: 'later' });
  });

  test('a thrown Error becomes an internal error reply with its message, and an error event', async () => {
    const { server, address } = await startServer({
      1: () => {
        throw new Error('disk on fire');
      },
      2: (b) => b,
    });
    const seen = errorEvents(server);
    const client = await connect(address);
    const err = (await client.call(TEST_PROGRAM, TEST_VERSION, 1).catch((e: RpcError) => e)) as RpcError;
    expect(err).toMatchObject({ name: 'RpcError', code: 1, domain: 7 });
    expect(err.message).toBe(`internal error: the handler for procedure 1 of program ${TEST_PROGRAM} failed: disk on fire`);
    const [event] = await nextErrors(seen, 1);
    expect(event!.message).toBe('disk on fire');
    expect(await client.call(TEST_PROGRAM, TEST_VERSION, 2, u32(9))).toEqual(u32(9));
  });

  test('a rejected promise becomes an internal error reply and an error event', async () => {
    const { server, address } = await startServer({ 1: () => Promise.reject(new TypeError('bad state')) });
    const seen = errorEvents(server);
    const client = await connect(address);
    await expect(client.call(TEST_PROGRAM, TEST_VERSION, 1)).rejects.toMatchObject({
      name: 'RpcError',
      code: 1,
      message: expect.stringContaining('failed: bad state') as unknown as string,
    });
    expect((await nextErrors(seen, 1))[0]).toMatchObject({ name: 'TypeError', message: 'bad state' });
  });

  test('a thrown non-Error value is described in the reply', async () => {
    const { server, address } = await startServer({
      1: () => {
        throw 'a string'; // eslint-disable-line no-throw-literal
      },
    });
    const seen = errorEvents(server);
    const client = await connect(address);
    const err = (await client.call(TEST_PROGRAM, TEST_VERSION, 1).catch((e: RpcError) => e)) as RpcError;
    expect(err.message).toContain("a non-Error value was thrown: 'a string'");
    await nextErrors(seen, 1);
  });

  test('a handler returning a non-Buffer gets an error reply and the server keeps serving', async () => {
    const { server, address } = await startServer({
      1: () => 'not bytes' as unknown as Buffer,
      2: async () => ({ an: 'object' }) as unknown as Buffer,
      3: () => undefined as unknown as Buffer,
      4: (b) => b,
    });
    const seen = errorEvents(server);
    const client = await connect(address);
    const messages = await Promise.all(
      [1, 2, 3].map((p) => client.call(TEST_PROGRAM, TEST_VERSION, p).catch((e: RpcError) => `${e.code}: ${e.message}`)),
    );
    expect(messages).toEqual([
      `1: internal error: the handler for procedure 1 of program ${TEST_PROGRAM} returned a string, not a Buffer`,
      `1: internal error: the handler for procedure 2 of program ${TEST_PROGRAM} returned an object (Object), not a Buffer`,
      `1: internal error: the handler for procedure 3 of program ${TEST_PROGRAM} returned undefined, not a Buffer`,
    ]);
    expect((await nextErrors(seen, 3)).map((e) => e.name)).toEqual(['TypeError', 'TypeError', 'TypeError']);
    expect(await client.call(TEST_PROGRAM, TEST_VERSION, 4, u32(1))).toEqual(u32(1));
  });

  test('any Uint8Array is a valid reply body', async () => {
    const { address } = await startServer({ 1: () => new Uint8Array([0, 0, 0, 5]) });
    const client = await connect(address);
    expect(await client.call(TEST_PROGRAM, TEST_VERSION, 1)).toEqual(u32(5));
  });

  test('the context names the call: program, version, procedure, serial, client', async () => {
    const seen: CallContext[] = [];
    const { address } = await startServer({
      [-3]: (b, ctx) => {
        seen.push(ctx);
        return b;
      },
    });
    const a = await connect(address);
    const b = await connect(address);
    await a.call(TEST_PROGRAM, TEST_VERSION, -3);
    await a.call(TEST_PROGRAM, TEST_VERSION, -3);
    await b.call(TEST_PROGRAM, TEST_VERSION, -3);
    expect(seen.map((c) => [c.program, c.version, c.procedure, c.serial])).toEqual([
      [TEST_PROGRAM, TEST_VERSION, -3, 1],
      [TEST_PROGRAM, TEST_VERSION, -3, 2],
      [TEST_PROGRAM, TEST_VERSION, -3, 1],
    ]);
    expect(seen[0]!.clientId).toBe(seen[1]!.clientId);
    expect(seen[2]!.clientId).not.toBe(seen[0]!.clientId);
  });

  test("the catch-all '*' serves procedures without their own handler", async () => {
    const { address } = await startServer({
      1: () => u32(1),
      '*': (_b, ctx) => u32(1000 + ctx.procedure),
    });
    const client = await connect(address);
    expect(await client.call(TEST_PROGRAM, TEST_VERSION, 1)).toEqual(u32(1));
    expect(await client.call(TEST_PROGRAM, TEST_VERSION, 7)).toEqual(u32(1007));
  });

  test('unknown procedures and programs get libvirt-style errors from the native core', async () => {
    const { address } = await startServer({ 1: (b) => b });
    const client = await connect(address);
    await expect(client.call(TEST_PROGRAM, TEST_VERSION, 2)).rejects.toMatchObject({ code: 39, message: 'unknown procedure: 2' });
    await expect(client.call(TEST_PROGRAM, 9, 1)).rejects.toMatchObject({
      code: 39,
      message: `Cannot find program ${TEST_PROGRAM} version 9`,
    });
  });

  test('two programs on one server each reach their own handlers', async () => {
    const server = track(new Server());
    server.handle(1, 1, { 1: () => u32(11) }).handle(2, 1, { 1: () => u32(21) });
    const address = await server.listen({ path: socketPath() });
    const client = await connect(address);
    expect(await client.call(1, 1, 1)).toEqual(u32(11));
    expect(await client.call(2, 1, 1)).toEqual(u32(21));
    await client.close();
    await server.close();
  });
});

describe('registration', () => {
  test('handle() after listen() throws ERR_XDRD_SERVER_RUNNING', async () => {
    const { server } = await startServer({ 1: (b) => b });
    expect(() => server.handle(TEST_PROGRAM, TEST_VERSION, { 2: (b) => b })).toThrow(
      expect.objectContaining({ code: 'ERR_XDRD_SERVER_RUNNING' }) as unknown as Error,
    );
  });

  test('bad program numbers, keys and handlers are refused with clear errors', () => {
    const server = track(new Server());
    expect(() => server.handle(-1, 1, {})).toThrow(/program must be an unsigned 32-bit integer/);
    expect(() => server.handle(1, 2 ** 32, {})).toThrow(/version must be an unsigned 32-bit integer/);
    expect(() => server.handle(1, 1, { x: () => Buffer.alloc(0) } as never)).toThrow(/procedure numbers or '\*'/);
    expect(() => server.handle(1, 1, { 1: 'nope' } as never)).toThrow(/must be a function/);
    expect(() => server.handle(1, 1, { [2 ** 31]: (b: Buffer) => b })).toThrow(/procedure must be a signed 32-bit integer/);
  });

  test('bad options are refused by name', () => {
    expect(() => new Server({ workers: 0 })).toThrow(/options.workers must be an integer from 1/);
    expect(() => new Server({ maxMessageBytes: 1.5 })).toThrow(/options.maxMessageBytes/);
    expect(() => new Server({ busyPollUs: -1 })).toThrow(/options.busyPollUs must be an integer from 0 to 1000000/);
    // A TypeError of the addon's realm: compared by name, not by class.
    expect(() => new Server({ eventBackend: 'kqueue' as never })).toThrow(
      expect.objectContaining({ name: 'TypeError', message: "options.eventBackend must be 'epoll' or 'poll'" }),
    );
  });
});

describe('listen', () => {
  test('a UNIX socket gets mode 0600 by default and the path is in the address', async () => {
    const p = socketPath();
    const server = track(new Server());
    server.handle(TEST_PROGRAM, TEST_VERSION, { 1: (b) => b });
    expect(await server.listen({ path: p })).toEqual({ path: p });
    expect(fs.statSync(p).mode & 0o777).toBe(0o600);
    expect(server.addresses()).toEqual([{ path: p }]);
    expect(server.address()).toEqual({ path: p });
    expect(server.listening).toBe(true);
    await server.close();
    expect(fs.existsSync(p)).toBe(false);
    expect(server.listening).toBe(false);
    expect(server.address()).toBeNull();
  });

  test('TCP on port 0 resolves with the port the kernel picked', async () => {
    const server = track(new Server());
    server.handle(TEST_PROGRAM, TEST_VERSION, { 1: (b) => b });
    const address = (await server.listen({ port: 0 })) as { host: string; port: number };
    expect(address.host).toBe('127.0.0.1');
    expect(address.port).toBeGreaterThan(0);
    const client = await connect(address);
    expect(await client.call(TEST_PROGRAM, TEST_VERSION, 1, u32(3))).toEqual(u32(3));
    await client.close();
    await server.close();
  });

  test('an existing path is EADDRINUSE, Node-style, and is left alone', async () => {
    const p = path.join(tempDir(), 'taken');
    fs.writeFileSync(p, 'precious');
    const server = track(new Server());
    const err = (await server.listen({ path: p }).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err).toMatchObject({ code: 'EADDRINUSE', syscall: 'listen', address: p });
    expect(err.message).toBe(`listen EADDRINUSE: address already in use ${p} (path exists and is not a socket; not replacing it)`);
    expect(fs.readFileSync(p, 'utf8')).toBe('precious');
    expect(server.listening).toBe(false);
  });

  test('a path longer than sun_path is a clear error', async () => {
    const p = path.join(tempDir(), 'x'.repeat(120));
    const err = (await new Server().listen({ path: p }).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err).toMatchObject({ code: 'ENAMETOOLONG', syscall: 'listen' });
    expect(err.message).toContain(p);
  });

  test('a TCP port in use is EADDRINUSE with the port in the message', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const err = (await new Server().listen({ port }).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err).toMatchObject({ code: 'EADDRINUSE', port, address: '127.0.0.1' });
    expect(err.message).toBe(`listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
    await new Promise((r) => blocker.close(r));
  });

  test('one server listens on several sockets at once', async () => {
    const server = track(new Server());
    server.handle(TEST_PROGRAM, TEST_VERSION, { 1: (b) => b });
    const a = await server.listen({ path: socketPath('a') });
    const b = await server.listen({ port: 0 });
    for (const address of [a, b]) {
      const client = await connect(address);
      expect(await client.call(TEST_PROGRAM, TEST_VERSION, 1, u32(2))).toEqual(u32(2));
    }
    expect(server.addresses()).toHaveLength(2);
    await cleanUp();
    await server.close();
  });
});

describe('close', () => {
  test('close() twice returns the same promise; closing an idle server resolves at once', async () => {
    const { server } = await startServer({ 1: (b) => b });
    const first = server.close();
    expect(server.close()).toBe(first);
    expect(await first).toEqual({ drained: true, callsCancelled: 0, clientsClosed: 0 });
    expect(await new Server().close()).toEqual({ drained: true, callsCancelled: 0, clientsClosed: 0 });
  });

  test("'listening' and 'close' events fire", async () => {
    const server = track(new Server());
    server.handle(TEST_PROGRAM, TEST_VERSION, { 1: (b) => b });
    const events: string[] = [];
    server.on('listening', () => events.push('listening')).on('close', () => events.push('close'));
    await server.listen({ path: socketPath() });
    await server.close();
    expect(events).toEqual(['listening', 'close']);
  });

  test('a closed server listens and serves again, and no native thread is left', async () => {
    const server = track(new Server({ workers: 3 }));
    server.handle(TEST_PROGRAM, TEST_VERSION, { 1: (b) => b });
    for (let round = 0; round < 3; round++) {
      const address = await server.listen({ path: socketPath(`s${round}`) });
      const client = await connect(address);
      expect(await client.call(TEST_PROGRAM, TEST_VERSION, 1, u32(round))).toEqual(u32(round));
      await client.close();
      await server.close({ graceMs: 1000 });
      expect(liveCounts().threads).toBe(0);
    }
  });

  test('an unanswered call is cancelled at the end of the grace period', async () => {
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => (entered = r));
    const { server, address } = await startServer({
      1: () => {
        entered();
        return new Promise<Buffer>(() => {}); // never settles
      },
    });
    const client = await connect(address);
    const call = client.call(TEST_PROGRAM, TEST_VERSION, 1).catch((e: RpcError) => e);
    await inHandler;
    const result = await server.close({ graceMs: 50 });
    expect(result).toEqual({ drained: false, callsCancelled: 1, clientsClosed: 1 });
    expect(await call).toMatchObject({ name: 'RpcError', message: 'server is shutting down' });
    expect(liveCounts().threads).toBe(0);
  });
});
