/**
 * Server → client events (sendEvent) and the native side's 'log' records.
 */
import { Client, defineProgram, xdr } from '../lib';
import type { Connection, LogRecord, Server } from '../lib';
import { TEST_PROGRAM, TEST_VERSION, cleanUp, connect, socketPath, startServer, track, u32 } from './helpers/harness';
import { RawPeer, TYPE_MESSAGE, TYPE_REPLY, frame } from './helpers/raw-peer';
import { Server as XdrdServer } from '../lib';

const peers: RawPeer[] = [];
afterEach(async () => {
  for (const p of peers.splice(0)) p.destroy();
  await cleanUp();
});

function firstConnection(server: Server): Promise<Connection> {
  return new Promise((resolve) => server.once('connection', resolve));
}

test('an event issued before a reply and one issued after reach the wire in that order', async () => {
  let server!: Server;
  ({ server } = await startServer({
    1: (body, ctx) => {
      const n = body.readUInt32BE(0);
      server.sendEvent(ctx.client, TEST_PROGRAM, TEST_VERSION, 100, u32(n));  // before the reply
      process.nextTick(() => server.sendEvent(ctx.client, TEST_PROGRAM, TEST_VERSION, 101, u32(n)));  // after it
      return u32(n);
    },
  }));
  const peer = await RawPeer.connect(server.address()!);
  peers.push(peer);
  const ROUNDS = 50;
  for (let i = 0; i < ROUNDS; i++) peer.send(frame(TEST_PROGRAM, TEST_VERSION, 1, i, u32(i)));
  // Each call's three frames arrive in order; calls may interleave with
  // one another only as a whole (one worker hands them to JS in order).
  const seen = new Map<number, string[]>();
  for (let i = 0; i < ROUNDS * 3; i++) {
    const f = await peer.next();
    const n = f.body.readUInt32BE(0);
    const kind = f.type === TYPE_REPLY ? 'reply' : f.type === TYPE_MESSAGE ? `event${f.proc}` : `type${f.type}`;
    if (f.type === TYPE_MESSAGE) expect(f.serial).toBe(0);
    seen.set(n, [...(seen.get(n) ?? []), kind]);
  }
  for (let i = 0; i < ROUNDS; i++) expect(seen.get(i)).toEqual(['event100', 'reply', 'event101']);
  expect(server.stats().eventsSent).toBe(ROUNDS * 2);
});

test("typed events: server.sendEvent(client, Program.events.x, value) and client.on('message')", async () => {
  const Chat = defineProgram({
    number: 0x20000077,
    version: 1,
    procedures: { join: { id: 1, args: xdr.string(64), result: xdr.void() } },
    events: { said: { id: 2, body: xdr.struct({ who: xdr.string(64), text: xdr.string(256) }) } },
  });
  const server = track(new XdrdServer());
  server.handle(Chat, {
    join: (name, ctx) => {
      ctx.client.state.name = name;
      setImmediate(() => server.sendEvent(ctx.client, Chat.events.said, { who: 'server', text: `welcome ${name}` }));
    },
  });
  const address = await server.listen({ path: socketPath() });
  const client: Client = await connect(address);
  const message = new Promise<{ procedure: number; body: Buffer }>((r) => client.once('message', r));
  const typed = new Promise<{ who: string; text: string }>((r) => client.on(Chat.events.said, (value) => r(value)));
  await client.call(Chat.procedures.join, 'ann');
  const m = await message;
  expect(m.procedure).toBe(2);
  expect(xdr.decode(Chat.events.said.body, m.body)).toEqual({ who: 'server', text: 'welcome ann' });
  expect(await typed).toEqual({ who: 'server', text: 'welcome ann' });
});

test("client.on(Program.events.x): a body that does not decode is an 'error', and off() removes the listener", async () => {
  const Feed = defineProgram({
    number: 0x20000078,
    version: 1,
    procedures: {},
    events: { tick: { id: 5, body: xdr.uint() } },
  });
  const { server, address } = await startServer({});
  const connected = firstConnection(server);
  const client: Client = await connect(address);
  const conn = await connected;
  const ticks: number[] = [];
  const onTick = (v: number): void => void ticks.push(v);
  client.on(Feed.events.tick, onTick);
  const bad = new Promise<Error & { code?: string }>((r) => client.once('error', r));
  server.sendEvent(conn, Feed.events.tick, 7);
  server.sendEvent(conn, Feed.number, Feed.version, 5, Buffer.from([1, 2]));  // not a uint
  expect((await bad).code).toBe('ERR_XDRD_BAD_EVENT');
  expect(ticks).toEqual([7]);
  client.off(Feed.events.tick, onTick);
  server.sendEvent(conn, Feed.events.tick, 8);
  const raw = new Promise<void>((r) => client.once('message', () => r()));
  await raw;
  expect(ticks).toEqual([7]);
});

test('sendEvent() to a client that is gone returns false; bad arguments throw', async () => {
  const { server, address } = await startServer({});
  const connected = firstConnection(server);
  const client = await connect(address);
  const conn = await connected;
  const gone = new Promise((r) => server.once('disconnect', r));
  client.destroy();
  await gone;
  expect(server.sendEvent(conn, TEST_PROGRAM, TEST_VERSION, 1, u32(1))).toBe(false);
  expect(() => server.sendEvent(conn, -1, 1, 1)).toThrow(RangeError);
  expect(() => server.sendEvent({} as Connection, 1, 1, 1)).toThrow(TypeError);
});

test('sendEvent() carries the serial it is given (libvirtd sends 1), 0 by default; a bad serial throws', async () => {
  const Feed = defineProgram({ number: 0x20008087, version: 1, procedures: {}, events: { tick: { id: 7, body: xdr.uint() } } });
  const { server, address } = await startServer({});
  const connected = firstConnection(server);
  const peer = await RawPeer.connect(address);
  peers.push(peer);
  const conn = await connected;
  expect(server.sendEvent(conn, Feed.events.tick, 1, { serial: 1 })).toBe(true);
  expect(server.sendEvent(conn, TEST_PROGRAM, TEST_VERSION, 9, u32(2), { serial: 0xffffffff })).toBe(true);
  expect(server.sendEvent(conn, Feed.events.tick, 3)).toBe(true);
  const got = [await peer.next(), await peer.next(), await peer.next()].map((f) => [f.proc, f.type, f.serial, f.body.readUInt32BE(0)]);
  expect(got).toEqual([[7, TYPE_MESSAGE, 1, 1], [9, TYPE_MESSAGE, 0xffffffff, 2], [7, TYPE_MESSAGE, 0, 3]]);
  expect(() => server.sendEvent(conn, Feed.events.tick, 4, { serial: -1 })).toThrow(RangeError);
  expect(() => server.sendEvent(conn, Feed.events.tick, 4, { serial: 1.5 })).toThrow(RangeError);
});

test('sendEvent() refuses a body larger than maxMessageBytes with a clear error', async () => {
  const { server, address } = await startServer({}, { maxMessageBytes: 1024 });
  const connected = firstConnection(server);
  await connect(address);
  const conn = await connected;
  expect(() => server.sendEvent(conn, TEST_PROGRAM, TEST_VERSION, 1, Buffer.alloc(1024))).toThrow(/maxMessageBytes/);
  expect(server.sendEvent(conn, TEST_PROGRAM, TEST_VERSION, 1, Buffer.alloc(1000))).toBe(true);
});

test("'log' delivers the native side's records: a dropped frame, with its client", async () => {
  const { server, address } = await startServer({ 1: () => Buffer.alloc(0) });
  const connected = firstConnection(server);
  const logged = new Promise<LogRecord>((r) => server.once('log', r));
  const peer = await RawPeer.connect(address);
  peers.push(peer);
  const conn = await connected;
  peer.send(frame(TEST_PROGRAM, TEST_VERSION, 1, 3, Buffer.alloc(0), TYPE_REPLY));  // nobody expects a REPLY
  const record = await logged;
  expect(record.clientId).toBe(conn.id);
  expect(record.message).toMatch(/dropped unexpected REPLY frame/);
  expect(record.time).toBeInstanceOf(Date);
  expect(server.stats().framesDropped).toBe(1);
});

test("'log' is rate-limited: a flood of dropped frames gives a few records and a suppressed count", async () => {
  const { server, address } = await startServer({ 1: () => Buffer.alloc(0) });
  const records: LogRecord[] = [];
  server.on('log', (r: LogRecord) => records.push(r));
  const client = await connect(address);
  const peer = await RawPeer.connect(address);
  peers.push(peer);
  const burst = Buffer.concat(Array.from({ length: 200 }, (_, i) => frame(TEST_PROGRAM, TEST_VERSION, 1, i, Buffer.alloc(0), TYPE_REPLY)));
  peer.send(burst);
  peer.send(frame(TEST_PROGRAM, TEST_VERSION, 1, 1000));
  expect((await peer.next()).serial).toBe(1000);  // everything before it was read
  await client.call(TEST_PROGRAM, TEST_VERSION, 1);  // and the records have reached JS
  const stats = server.stats();
  expect(stats.framesDropped).toBe(200);
  expect(records.length).toBeGreaterThan(0);
  expect(records.length).toBeLessThan(200);
  expect(records.length + stats.logSuppressed).toBe(200);
});
