/**
 * Connections as the application sees them: the 'connection' and
 * 'disconnect' events with their reasons, ctx.client, its state slot,
 * close({ afterReply }) and server-side keepalive.
 */
import { Client, liveCounts } from '../lib';
import type { Connection, DisconnectReason, Server } from '../lib';
import { TEST_PROGRAM, TEST_VERSION, cleanUp, connect, startServer, u32, until } from './helpers/harness';
import { KEEPALIVE_PROGRAM, RawPeer, TYPE_MESSAGE, TYPE_REPLY, frame } from './helpers/raw-peer';

const peers: RawPeer[] = [];
afterEach(async () => {
  for (const p of peers.splice(0)) p.destroy();
  await cleanUp();
});

async function raw(address: { path: string } | { host: string; port: number }): Promise<RawPeer> {
  const p = await RawPeer.connect(address);
  peers.push(p);
  return p;
}

/** Resolves with the next 'disconnect' of the server. */
function nextDisconnect(server: Server): Promise<{ client: Connection; reason: DisconnectReason }> {
  return new Promise((resolve) => server.once('disconnect', (client: Connection, reason: DisconnectReason) => resolve({ client, reason })));
}

test("'connection' gives the client: unique id, unix transport, the peer's credentials", async () => {
  const seen: Connection[] = [];
  const { server, address } = await startServer({ 1: () => Buffer.alloc(0) });
  const both = new Promise<void>((resolve) =>
    server.on('connection', (c: Connection) => {
      seen.push(c);
      if (seen.length === 2) resolve();
    }),
  );
  await connect(address);
  await connect(address);
  await both;
  expect(seen[0]!.id).not.toBe(seen[1]!.id);
  for (const c of seen) {
    expect(c.transport).toBe('unix');
    // The client is this very process.
    expect(c.credentials).toEqual({ uid: process.getuid!(), gid: process.getgid!(), pid: process.pid });
    expect(c.readOnly).toBe(false);
    expect(c.authorized).toBe(true);
    expect(c.connected).toBe(true);
    expect(server.connections.get(c.id)).toBe(c);
  }
});

test('ctx.client is the connection, and its state lives as long as the connection', async () => {
  let server!: Server;
  ({ server } = await startServer({
    // Counts calls per connection in the state slot.
    1: (_body, ctx) => {
      const n = ((ctx.client.state.calls as number | undefined) ?? 0) + 1;
      ctx.client.state.calls = n;
      expect(server.connections.get(ctx.client.id)).toBe(ctx.client);
      expect(ctx.clientId).toBe(ctx.client.id);
      return u32(n);
    },
  }));
  const address = server.address()!;
  const a = await connect(address);
  expect((await a.call(TEST_PROGRAM, TEST_VERSION, 1)).readUInt32BE(0)).toBe(1);
  expect((await a.call(TEST_PROGRAM, TEST_VERSION, 1)).readUInt32BE(0)).toBe(2);
  const b = await connect(address);
  expect((await b.call(TEST_PROGRAM, TEST_VERSION, 1)).readUInt32BE(0)).toBe(1);
  expect((await a.call(TEST_PROGRAM, TEST_VERSION, 1)).readUInt32BE(0)).toBe(3);
});

test("'disconnect' says 'eof' when the client closes, after which the connection is gone", async () => {
  const { server, address } = await startServer({ 1: () => Buffer.alloc(0) });
  const client = await connect(address);
  await client.call(TEST_PROGRAM, TEST_VERSION, 1);
  const gone = nextDisconnect(server);
  client.destroy();
  const { client: c, reason } = await gone;
  expect(reason).toBe('eof');
  expect(c.connected).toBe(false);
  expect(c.disconnectReason).toBe('eof');
  expect(server.connections.size).toBe(0);
});

test("'disconnect' says 'protocol' for a length word below the minimum", async () => {
  const { server, address } = await startServer({});
  const peer = await raw(address);
  const gone = nextDisconnect(server);
  peer.send(u32(5));  // no frame is shorter than 28 bytes
  expect((await gone).reason).toBe('protocol');
  await peer.closed;
});

test("'disconnect' says 'limit' for a frame announced larger than maxMessageBytes", async () => {
  const { server, address } = await startServer({}, { maxMessageBytes: 1024 });
  const peer = await raw(address);
  const gone = nextDisconnect(server);
  peer.send(u32(1024 + 4 + 1));
  expect((await gone).reason).toBe('limit');
  await peer.closed;
});

test("'disconnect' says 'frameTimeout' for a frame left unfinished", async () => {
  const { server, address } = await startServer({}, { frameTimeoutMs: 50 });
  const peer = await raw(address);
  const gone = nextDisconnect(server);
  peer.send(frame(TEST_PROGRAM, TEST_VERSION, 1, 1).subarray(0, 10));
  expect((await gone).reason).toBe('frameTimeout');
  expect(server.stats().frameTimeouts).toBe(1);
});

test("'disconnect' says 'server-close' for the connections close() ends", async () => {
  const { server, address } = await startServer({ 1: () => Buffer.alloc(0) });
  const client = await connect(address);
  await client.call(TEST_PROGRAM, TEST_VERSION, 1);
  const gone = nextDisconnect(server);
  await server.close({ graceMs: 0 });
  expect((await gone).reason).toBe('server-close');
});

test("'disconnect' says 'sendQueue' for a client that does not read its events", async () => {
  let client: Connection | undefined;
  const { server, address } = await startServer({}, { maxSendQueueBytes: 64 * 1024, maxMessageBytes: 64 * 1024 });
  const connected = new Promise<void>((resolve) => server.once('connection', (c: Connection) => resolve(void (client = c))));
  const peer = await raw(address);
  await connected;
  peer.socket.pause();  // never reads
  const gone = nextDisconnect(server);
  let reason: DisconnectReason | undefined;
  void gone.then((d) => (reason = d.reason));
  const event = Buffer.alloc(32 * 1024);
  // Events until the server gives up on it: the kernel buffers fill, then
  // the send queue passes its bound.
  while (reason === undefined && server.sendEvent(client!, TEST_PROGRAM, TEST_VERSION, 7, event)) {
    await new Promise((r) => setImmediate(r));
  }
  expect((await gone).reason).toBe('sendQueue');
  expect(server.stats().sendQueueDrops).toBe(1);
});

test("close({ afterReply: true }) in a handler: its reply arrives, then the connection closes ('handler')", async () => {
  const { server, address } = await startServer({
    1: (_body, ctx) => {
      ctx.client.close({ afterReply: true });
      return u32(42);
    },
  });
  const peer = await raw(address);
  const gone = nextDisconnect(server);
  peer.send(frame(TEST_PROGRAM, TEST_VERSION, 1, 9));
  const reply = await peer.next();
  expect(reply).toMatchObject({ type: TYPE_REPLY, serial: 9, status: 0 });
  expect(reply.body.readUInt32BE(0)).toBe(42);
  await peer.closed;
  expect((await gone).reason).toBe('handler');
});

test('close({ afterReply: true }) waits for an async handler to answer', async () => {
  let release!: () => void;
  const latch = new Promise<void>((r) => (release = r));
  const { server, address } = await startServer({
    1: async (_body, ctx) => {
      ctx.client.close({ afterReply: true });
      expect(ctx.client.closing).toBe(true);
      await latch;
      return u32(7);
    },
  });
  const client = await connect(address);
  const gone = nextDisconnect(server);
  const call = client.call(TEST_PROGRAM, TEST_VERSION, 1);
  const closed = new Promise<void>((r) => client.once('close', () => r()));
  release();
  expect((await call).readUInt32BE(0)).toBe(7);
  await closed;
  expect((await gone).reason).toBe('handler');
});

test('close() without afterReply closes at once; later calls of the client never start', async () => {
  let calls = 0;
  let conn: Connection | undefined;
  const { server, address } = await startServer({
    1: () => {
      calls++;
      return Buffer.alloc(0);
    },
  });
  const connected = new Promise<void>((resolve) => server.once('connection', (c: Connection) => resolve(void (conn = c))));
  const client = await connect(address);
  await connected;
  const gone = nextDisconnect(server);
  conn!.close();
  expect((await gone).reason).toBe('handler');
  await expect(client.call(TEST_PROGRAM, TEST_VERSION, 1)).rejects.toHaveProperty('code');
  expect(calls).toBe(0);
});

test("startKeepalive(): a peer that never answers PINGs is closed ('keepalive')", async () => {
  const { server, address } = await startServer({
    1: (_body, ctx) => {
      ctx.client.startKeepalive({ intervalMs: 30, count: 2 });
      return Buffer.alloc(0);
    },
  });
  const peer = await raw(address);
  const gone = nextDisconnect(server);
  peer.send(frame(TEST_PROGRAM, TEST_VERSION, 1, 1));
  expect(await peer.next()).toMatchObject({ type: TYPE_REPLY, serial: 1 });
  // Then PINGs, which this peer ignores, then the close.
  const ping = await peer.next();
  expect(ping).toMatchObject({ prog: KEEPALIVE_PROGRAM, proc: 1, type: TYPE_MESSAGE, serial: 0 });
  expect((await gone).reason).toBe('keepalive');
  expect(server.stats().keepaliveDrops).toBe(1);
});

test('startKeepalive(): a client that answers PINGs stays connected', async () => {
  const { server, address } = await startServer({
    1: (_body, ctx) => {
      // The PONGs come from this process's JS thread: count 3 gives it 90 ms
      // to answer each PING, room for a loaded machine (20 ms x 1 was not).
      ctx.client.startKeepalive({ intervalMs: 30, count: 3 });
      return Buffer.alloc(0);
    },
  });
  const client: Client = await connect(address);  // the library's client answers PINGs
  await client.call(TEST_PROGRAM, TEST_VERSION, 1);
  // Wait until the server has sent several PINGs and had them answered.
  await until(() => server.stats().pingsSent >= 3);
  expect(server.connections.size).toBe(1);
  await client.call(TEST_PROGRAM, TEST_VERSION, 1);
  expect(server.stats().keepaliveDrops).toBe(0);
});

test('startKeepalive() rejects bad settings', async () => {
  let conn: Connection | undefined;
  const { server, address } = await startServer({});
  const connected = new Promise<void>((resolve) => server.once('connection', (c: Connection) => resolve(void (conn = c))));
  await connect(address);
  await connected;
  expect(() => conn!.startKeepalive({ intervalMs: 0 })).toThrow(RangeError);
  expect(() => conn!.startKeepalive({ count: -1 })).toThrow(RangeError);
});

test('every client is freed once it disconnects', async () => {
  const { server, address } = await startServer({ 1: () => Buffer.alloc(0) });
  for (let i = 0; i < 5; i++) {
    const client = await connect(address);
    await client.call(TEST_PROGRAM, TEST_VERSION, 1);
    const gone = nextDisconnect(server);
    client.destroy();
    await gone;
  }
  await until(() => liveCounts().clients === 0);
  expect(server.connections.size).toBe(0);
});
