/**
 * Hostile input, one test per kind that no other suite proves with both
 * halves: what the daemon does (the exact reply, or the close and its
 * reason) and the counter of stats() that records it. The table of every
 * kind, with the tests elsewhere that prove the rest, is
 * docs/hostile-input.md.
 */
import { RpcError, defineProgram, xdr } from '../lib';
import type { Connection, DisconnectReason, LogRecord, Server } from '../lib';
import { TYPE_CALL_WITH_FDS } from '../lib/libvirt/wire';
import { TEST_PROGRAM, TEST_VERSION, cleanUp, socketPath, startServer, track, u32, until } from './helpers/harness';
import { KEEPALIVE_PROGRAM, RawPeer, TYPE_MESSAGE, TYPE_REPLY, frame } from './helpers/raw-peer';
import type { Frame } from './helpers/raw-peer';
import { Server as XdrdServer } from '../lib';

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

function nextDisconnect(server: Server): Promise<DisconnectReason> {
  return new Promise((resolve) => server.once('disconnect', (_c: Connection, reason: DisconnectReason) => resolve(reason)));
}

function logs(server: Server): LogRecord[] {
  const seen: LogRecord[] = [];
  server.on('log', (r: LogRecord) => seen.push(r));
  return seen;
}

/** The error struct of an error reply, after checking it is one for `serial`. */
function errorOf(f: Frame, serial: number): RpcError {
  expect(f).toMatchObject({ type: TYPE_REPLY, serial, status: 1 });
  return RpcError.decode(f.body);
}

/** Sends `bytes` and expects the server to close the connection without a byte back, for `reason`. */
async function expectClosedUnanswered(server: Server, peer: RawPeer, bytes: Buffer, reason: DisconnectReason): Promise<void> {
  const gone = nextDisconnect(server);
  peer.send(bytes);
  expect(await gone).toBe(reason);
  await peer.closed;
  await expect(peer.next()).rejects.toThrow('the connection closed before another frame came');
  await until(() => server.stats().clientsClosed === 1);
}

test('hostile: a length word below 28 closes the connection unanswered (protocol), and nothing of it is a call', async () => {
  const { server, address } = await startServer({ 1: (b) => b });
  const records = logs(server);
  const peer = await raw(address);
  await expectClosedUnanswered(server, peer, u32(27), 'protocol');
  const stats = server.stats();
  expect(stats).toMatchObject({ clientsAccepted: 1, clientsClosed: 1, callsReceived: 0, errorReplies: 0, bytesWritten: 0, protocolCloses: 1, limitCloses: 0 });
  await until(() => records.length > 0);
  expect(records[0]!.message).toBe('frame length 27 below the minimum 28; closing the connection');
});

test('hostile: a length word of 0xffffffff closes the connection unanswered (limit), with nothing allocated for it', async () => {
  const { server, address } = await startServer({ 1: (b) => b });
  const records = logs(server);
  const peer = await raw(address);
  await expectClosedUnanswered(server, peer, u32(0xffffffff), 'limit');
  const stats = server.stats();
  expect(stats).toMatchObject({ clientsClosed: 1, callsReceived: 0, errorReplies: 0, bytesWritten: 0, bufferedBytes: 0, limitCloses: 1, protocolCloses: 0 });
  expect(stats.bufferedBytesPeak).toBeLessThan(1024);
  await until(() => records.length > 0);
  expect(records[0]!.message).toBe('frame length 4294967295 above the maximum 33554436; closing the connection');
});

test('hostile: a frame of exactly maxMessageBytes is served, and a length word one byte more closes the connection (limit)', async () => {
  const { server, address } = await startServer({ 1: (b) => b }, { maxMessageBytes: 1024 });
  const records = logs(server);
  // 24 header bytes + 1000 body bytes = 1024: the largest message; its length word says 1028.
  const fits = await raw(address);
  fits.send(frame(TEST_PROGRAM, TEST_VERSION, 1, 1, Buffer.alloc(1000, 7)));
  const reply = await fits.next();
  expect(reply).toMatchObject({ type: TYPE_REPLY, serial: 1, status: 0 });
  expect(reply.body).toEqual(Buffer.alloc(1000, 7));
  // The length word alone is enough: nothing after it is waited for.
  const over = await raw(address);
  await expectClosedUnanswered(server, over, u32(1024 + 4 + 1), 'limit');
  expect(server.stats()).toMatchObject({ callsReceived: 1, repliesWritten: 1, errorReplies: 0, limitCloses: 1 });
  await until(() => records.length > 0);
  expect(records[0]!.message).toBe('frame length 1029 above the maximum 1028; closing the connection');
});

test('hostile: unknown program, version and procedure are answered with code 39 by the loop thread, counted in errorReplies', async () => {
  const { server, address } = await startServer({ 1: (b) => b });
  const peer = await raw(address);
  peer.send(frame(0x12345678, 1, 1, 1));
  peer.send(frame(TEST_PROGRAM, 9, 1, 2));
  peer.send(frame(TEST_PROGRAM, TEST_VERSION, 2, 3));
  peer.send(frame(TEST_PROGRAM, TEST_VERSION, -5, 4));
  const messages = [];
  for (let serial = 1; serial <= 4; serial++) {
    const e = errorOf(await peer.next(), serial);
    expect(e).toMatchObject({ code: 39, domain: 7, str1: '%s' });
    messages.push(e.message);
  }
  expect(messages).toEqual([
    'Cannot find program 305419896 version 1',
    `Cannot find program ${TEST_PROGRAM} version 9`,
    'unknown procedure: 2',
    'unknown procedure: -5',
  ]);
  // The connection stays open and serves.
  peer.send(frame(TEST_PROGRAM, TEST_VERSION, 1, 5, u32(5)));
  expect(await peer.next()).toMatchObject({ serial: 5, status: 0, body: u32(5) });
  expect(server.stats()).toMatchObject({ callsReceived: 5, errorReplies: 4, callsDispatched: 1, callsFailed: 4, handlerErrors: 0 });
});

test('hostile: a CALL with a status other than OK is answered "Unexpected message status N", counted in errorReplies', async () => {
  let handled = 0;
  const { server, address } = await startServer({
    1: (b) => {
      handled++;
      return b;
    },
  });
  const peer = await raw(address);
  const call = (serial: number, status: number): Buffer => {
    const f = frame(TEST_PROGRAM, TEST_VERSION, 1, serial);
    f.writeUInt32BE(status, 24);  // the status word
    return f;
  };
  peer.send(call(1, 1));
  peer.send(call(2, 0xffffffff));
  expect(errorOf(await peer.next(), 1)).toMatchObject({ code: 39, domain: 7, message: 'Unexpected message status 1' });
  expect(errorOf(await peer.next(), 2)).toMatchObject({ code: 39, message: 'Unexpected message status 4294967295' });
  expect(handled).toBe(0);
  expect(server.stats()).toMatchObject({ callsReceived: 2, errorReplies: 2, callsDispatched: 0 });
});

test('hostile: a frame of unknown type closes the connection unanswered (protocol)', async () => {
  const { server, address } = await startServer({ 1: (b) => b });
  const records = logs(server);
  const peer = await raw(address);
  await expectClosedUnanswered(server, peer, frame(TEST_PROGRAM, TEST_VERSION, 1, 1, Buffer.alloc(0), 99), 'protocol');
  expect(server.stats()).toMatchObject({ callsReceived: 0, errorReplies: 0, framesDropped: 0, protocolCloses: 1 });
  await until(() => records.length > 0);
  expect(records[0]!.message).toBe('frame of unknown type 99; closing the connection');
});

test('hostile: CALL_WITH_FDS is answered "fd passing is not supported by this server"; without its nfds word, or with nfds above 32, it closes the connection (protocol)', async () => {
  let handled = 0;
  const { server, address } = await startServer({
    1: (b) => {
      handled++;
      return b;
    },
  });
  const records = logs(server);
  // The nfds word is the first word after the header: here the first of the body.
  const withFds = (serial: number, body: Buffer): Buffer => frame(TEST_PROGRAM, TEST_VERSION, 1, serial, body, TYPE_CALL_WITH_FDS);
  const peer = await raw(address);
  peer.send(withFds(1, u32(0)));
  // Answered as a plain REPLY (never REPLY_WITH_FDS), with the call's serial.
  expect(errorOf(await peer.next(), 1)).toMatchObject({ code: 39, domain: 7, message: 'fd passing is not supported by this server' });
  expect(server.stats()).toMatchObject({ callsReceived: 1, errorReplies: 1, fdsClosed: 0 });

  const noWord = await raw(address);
  await expectClosedUnanswered(server, noWord, withFds(2, Buffer.alloc(0)), 'protocol');
  const tooMany = await raw(address);
  const gone = nextDisconnect(server);
  tooMany.send(withFds(3, u32(33)));
  expect(await gone).toBe('protocol');
  await tooMany.closed;
  await until(() => server.stats().clientsClosed === 2);
  expect(server.stats()).toMatchObject({ callsReceived: 1, errorReplies: 1, protocolCloses: 2 });
  expect(handled).toBe(0);
  await until(() => records.length >= 2);
  expect(records.map((r) => r.message)).toEqual([
    'frame shorter than its header; closing the connection',
    'more file descriptors than allowed; closing the connection',
  ]);
});

const Strict = defineProgram({
  number: 0x20000078,
  version: 1,
  procedures: {
    put: { id: 1, args: xdr.struct({ key: xdr.string(16), value: xdr.uhyper() }), result: xdr.void() },
  },
});

test('hostile: typed arguments truncated, with trailing bytes, or with bad padding are refused by a worker with the field path, counted in argsRefused', async () => {
  const server = track(new XdrdServer());
  let handled = 0;
  server.handle(Strict, {
    put: () => {
      handled++;
    },
  });
  const address = await server.listen({ path: socketPath() });
  const good = xdr.encode(Strict.procedures.put.args, { key: 'abc', value: 7n });  // 4 + 4 + 8 bytes
  const badPadding = Buffer.from(good);
  badPadding[7] = 1;  // the pad byte after "abc"
  const bodies = [
    good.subarray(0, good.length - 4),  // the uhyper cut in half
    Buffer.concat([good, Buffer.alloc(4)]),  // a word after the value
    badPadding,
    u32(0xffffffff),  // a string length far past the body
  ];
  const peer = await raw(address);
  bodies.forEach((body, i) => peer.send(frame(Strict.number, Strict.version, 1, i + 1, body)));
  // Several workers decode one client's calls at once: the refusals may
  // come in any order, so they are matched by serial.
  const bySerial = new Map<number, Frame>();
  for (let i = 0; i < bodies.length; i++) {
    const f = await peer.next();
    bySerial.set(f.serial, f);
  }
  const messages: string[] = [];
  for (let serial = 1; serial <= bodies.length; serial++) {
    const e = errorOf(bySerial.get(serial)!, serial);
    expect(e).toMatchObject({ code: 39, domain: 7 });
    messages.push(e.message);
  }
  expect(messages).toEqual([
    'Unable to decode message payload: args.value: unexpected end of input: need 8 bytes, 4 left',
    'Unable to decode message payload: args: 4 trailing bytes after the value',
    'Unable to decode message payload: args.key: non-zero padding',
    'Unable to decode message payload: args.key: string longer than 16 (4294967295 bytes)',
  ]);
  // The good body is served: the connection stays usable.
  peer.send(frame(Strict.number, Strict.version, 1, 9, good));
  expect(await peer.next()).toMatchObject({ serial: 9, status: 0 });
  expect(handled).toBe(1);
  const stats = server.stats();
  expect(stats).toMatchObject({ argsRefused: 4, jsCalls: 1, errorReplies: 0 });
  expect(stats.procedures.find((p) => p.name === 'put')).toMatchObject({ calls: 5, errors: 4 });
});

test('hostile: bad XDR given to a raw handler is the handler\'s to refuse; an XdrError it lets escape is an internal error, an error event and handlerErrors', async () => {
  const Args = xdr.struct({ key: xdr.string(16) });
  const { server, address } = await startServer({
    // Decodes for itself and lets the XdrError escape.
    1: (body) => xdr.encode(Args, xdr.decode(Args, body)),
    // Decodes for itself and answers as typed handlers do.
    2: (body) => {
      try {
        return xdr.encode(Args, xdr.decode(Args, body, { name: 'args' }));
      } catch (e) {
        throw RpcError.rpc(`Unable to decode message payload: ${(e as Error).message}`);
      }
    },
  });
  const errors: Error[] = [];
  server.on('error', (e: Error) => errors.push(e));
  const peer = await raw(address);
  const tooLong = xdr.encode(xdr.struct({ key: xdr.string(64) }), { key: 'x'.repeat(17) });
  peer.send(frame(TEST_PROGRAM, TEST_VERSION, 1, 1, tooLong));
  peer.send(frame(TEST_PROGRAM, TEST_VERSION, 2, 2, tooLong));
  // Two workers may hand the two calls to JS in either order: match by serial.
  const replies = [await peer.next(), await peer.next()].sort((a, b) => a.serial - b.serial);
  const internal = errorOf(replies[0]!, 1);
  expect(internal).toMatchObject({ code: 1, domain: 7 });
  expect(internal.message).toMatch(new RegExp(`^internal error: the handler for procedure 1 of program ${TEST_PROGRAM} failed: .*string longer than 16`));
  expect(errorOf(replies[1]!, 2)).toMatchObject({
    code: 39,
    message: 'Unable to decode message payload: args.key: string longer than 16 (17 bytes)',
  });
  await until(() => errors.length === 1);
  expect(errors[0]!.name).toBe('XdrError');
  expect(server.stats()).toMatchObject({ callsReceived: 2, jsCalls: 2, handlerErrors: 2, errorReplies: 0, callsFailed: 2, argsRefused: 0 });
});

test('hostile: a reply larger than maxMessageBytes is replaced by an internal error, counted as a handler failure', async () => {
  const { server, address } = await startServer({ 1: () => Buffer.alloc(1004, 1), 2: () => Buffer.alloc(1000, 2) }, { maxMessageBytes: 1024 });
  const errors: Error[] = [];
  server.on('error', (e: Error) => errors.push(e));
  const peer = await raw(address);
  peer.send(frame(TEST_PROGRAM, TEST_VERSION, 2, 1));
  expect(await peer.next()).toMatchObject({ serial: 1, status: 0, body: Buffer.alloc(1000, 2) });
  peer.send(frame(TEST_PROGRAM, TEST_VERSION, 1, 2));
  expect(errorOf(await peer.next(), 2)).toMatchObject({
    code: 1,
    domain: 7,
    message: 'internal error: reply of 1004 bytes exceeds the maximum message size',
  });
  // The connection stays usable.
  peer.send(frame(TEST_PROGRAM, TEST_VERSION, 2, 3));
  expect(await peer.next()).toMatchObject({ serial: 3, status: 0 });
  // The loop thread counts a reply once write() returned: the peer may read it a moment before.
  await until(() => server.stats().repliesWritten === 3);
  const stats = server.stats();
  expect(stats).toMatchObject({ callsReceived: 3, repliesWritten: 3, errorReplies: 0 });
  // A handler failure like any other: counted, and an 'error' event names the handler.
  expect(stats).toMatchObject({ handlerErrors: 1, callsFailed: 1 });
  expect(stats.procedures.find((p) => p.procedure === 1)).toMatchObject({ calls: 1, errors: 1 });
  expect(errors.map((e) => e.message)).toEqual([
    `the handler for procedure 1 of program ${TEST_PROGRAM} returned a reply of 1004 bytes; maxMessageBytes allows 1000 after the header`,
  ]);
});

test('hostile: a typed result whose encoding is larger than maxMessageBytes is refused the same way, and the next answers are intact', async () => {
  const Big = defineProgram({ number: 0x20008088, version: 1, procedures: { get: { id: 1, args: xdr.uint(), result: xdr.opaque() } } });
  const server = track(new XdrdServer({ maxMessageBytes: 1024 }));
  server.handle(Big, { get: (n) => Buffer.alloc(n, 7) });
  const errors: Error[] = [];
  server.on('error', (e: Error) => errors.push(e));
  const address = await server.listen({ path: socketPath() });
  const peer = await raw(address);
  // opaque<>: 4 bytes of length, the data, padding. 996 + 4 = 1000 fits; 997 + 4 + 3 = 1004 does not.
  peer.send(Buffer.concat([frame(Big.number, 1, 1, 1, u32(997)), frame(Big.number, 1, 1, 2, u32(996)), frame(Big.number, 1, 1, 3, u32(5))]));
  const replies = new Map<number, Frame>();
  for (let i = 0; i < 3; i++) {
    const f = await peer.next();
    replies.set(f.serial, f);
  }
  expect(errorOf(replies.get(1)!, 1)).toMatchObject({ code: 1, domain: 7, message: 'internal error: reply of 1004 bytes exceeds the maximum message size' });
  expect(replies.get(2)).toMatchObject({ status: 0, body: Buffer.concat([u32(996), Buffer.alloc(996, 7)]) });
  expect(replies.get(3)).toMatchObject({ status: 0, body: Buffer.concat([u32(5), Buffer.alloc(5, 7), Buffer.alloc(3)]) });
  expect(server.stats()).toMatchObject({ handlerErrors: 1, callsFailed: 1 });
  expect(errors.map((e) => e.message)).toEqual([
    `the handler for procedure 1 of program ${Big.number} returned a reply of 1004 bytes; maxMessageBytes allows 1000 after the header`,
  ]);
});

test('hostile: a flood of 2,000 PINGs is answered by the loop thread, PONG for PING, and never reaches a worker', async () => {
  const { server, address } = await startServer({ 1: (b) => b }, { maxRequestsPerClient: 1 });
  const peer = await raw(address);
  const ping = frame(KEEPALIVE_PROGRAM, 1, 1, 0, Buffer.alloc(0), TYPE_MESSAGE);
  const N = 2000;
  peer.send(Buffer.concat(Array.from({ length: N }, () => ping)));
  peer.send(frame(TEST_PROGRAM, TEST_VERSION, 1, 7, u32(7)));
  for (let i = 0; i < N; i++) expect(await peer.next()).toMatchObject({ prog: KEEPALIVE_PROGRAM, proc: 2, type: TYPE_MESSAGE, serial: 0 });
  expect(await peer.next()).toMatchObject({ serial: 7, status: 0 });
  expect(server.stats()).toMatchObject({ pingsAnswered: N, callsReceived: 1, callsDispatched: 1, framesDropped: 0, clientsThrottled: 0 });
});

test('hostile: calls past maxRequestsPerClient are not read until a slot frees; then every one is answered', async () => {
  const held: Array<() => void> = [];
  const { server, address } = await startServer(
    { 1: (body) => new Promise<Buffer>((resolve) => held.push(() => resolve(body))) },
    { maxRequestsPerClient: 2 },
  );
  const peer = await raw(address);
  for (let serial = 1; serial <= 6; serial++) peer.send(frame(TEST_PROGRAM, TEST_VERSION, 1, serial, u32(serial)));
  await until(() => held.length === 2 && server.stats().clientsThrottled === 1);
  // Give a loaded machine room to read more than it should, then check it did not.
  await new Promise((r) => setTimeout(r, 150));
  expect(server.stats()).toMatchObject({ callsReceived: 2, clientsThrottled: 1 });
  expect(held).toHaveLength(2);
  const seen: number[] = [];
  while (seen.length < 6) {
    await until(() => held.length > 0);
    held.shift()!();
    seen.push((await peer.next()).serial);
    expect(server.stats().callsDispatching + server.stats().callsWaiting + server.stats().callsRead).toBeLessThanOrEqual(2);
  }
  // Workers may hand one client's calls to JS out of order: every one answered is what counts.
  expect([...seen].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(server.stats()).toMatchObject({ callsReceived: 6, clientsThrottled: 0 });
});

test('hostile: connections past maxClients wait in the backlog, unaccepted, until one leaves', async () => {
  const { server, address } = await startServer({ 1: (b) => b }, { maxClients: 2 });
  const a = await raw(address);
  const b = await raw(address);
  // connect() completes in the kernel's backlog; the server does not accept it.
  const c = await raw(address);
  c.send(frame(TEST_PROGRAM, TEST_VERSION, 1, 1, u32(1)));
  await until(() => server.stats().acceptsPaused >= 1 && server.stats().clientsAccepted === 2);
  await new Promise((r) => setTimeout(r, 150));
  expect(server.stats()).toMatchObject({ clientsAccepted: 2, clientsLive: 2, callsReceived: 0 });
  a.destroy();
  expect(await c.next()).toMatchObject({ serial: 1, status: 0, body: u32(1) });
  expect(server.stats()).toMatchObject({ clientsAccepted: 3 });
  expect(server.stats().clientsLive).toBeLessThanOrEqual(2);
});

test('hostile: a frame trickled a byte at a time is still closed when frameTimeoutMs has passed since its first byte (frameTimeout)', async () => {
  const { server, address } = await startServer({ 1: (b) => b }, { frameTimeoutMs: 300 });
  const peer = await raw(address);
  const gone = nextDisconnect(server);
  let reason: DisconnectReason | undefined;
  void gone.then((r) => (reason = r));
  const bytes = frame(TEST_PROGRAM, TEST_VERSION, 1, 1, Buffer.alloc(200));
  const started = Date.now();
  let sent = 0;
  // One byte every 20 ms: far more often than the timeout, never a whole frame.
  while (reason === undefined && sent < bytes.length - 1) {
    peer.send(bytes.subarray(sent, sent + 1));
    sent++;
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(await gone).toBe('frameTimeout');
  expect(Date.now() - started).toBeGreaterThanOrEqual(300 - 20);
  expect(sent).toBeLessThan(bytes.length - 1);  // it was still sending
  await until(() => server.stats().clientsClosed === 1);
  expect(server.stats()).toMatchObject({ frameTimeouts: 1, closedMidFrame: 1, callsReceived: 0 });
});
