/**
 * lib/client.ts against small real peers: a net.Server in this file that
 * parses the client's frames and writes hand-built replies.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, ServerMessage } from '../lib/client';
import { RpcError } from '../lib/errors';
import {
  MIN_FRAME_BYTES,
  STATUS_ERROR as ERROR,
  STATUS_OK as OK,
  TYPE_CALL as CALL,
  TYPE_MESSAGE as MESSAGE,
  TYPE_REPLY as REPLY,
  TYPE_STREAM as STREAM,
  encodeFrame,
  readHeader,
} from '../lib/libvirt/wire';

const REMOTE = 0x20008086;

interface Frame {
  program: number;
  version: number;
  procedure: number;
  type: number;
  serial: number;
  status: number;
  body: Buffer;
  /** The whole frame, length word included. */
  raw: Buffer;
}

function frame(f: { program?: number; version?: number; procedure: number; type?: number; serial: number; status?: number; body?: Uint8Array }): Buffer {
  return encodeFrame(
    { program: f.program ?? REMOTE, version: f.version ?? 1, procedure: f.procedure, type: f.type ?? REPLY, serial: f.serial, status: f.status ?? OK },
    f.body,
  );
}

/** The reply to `call` with `body`. */
function replyTo(call: Frame, body: Uint8Array = Buffer.alloc(0), status = OK): Buffer {
  return frame({ program: call.program, version: call.version, procedure: call.procedure, serial: call.serial, status, body });
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A resolvable promise, for waiting on events instead of sleeping. */
function latch<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** One accepted connection on the peer side, with a naive frame reader. */
class PeerConn {
  readonly frames: Frame[] = [];
  private buffered = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  readonly closed: Promise<void>;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      while (this.buffered.length >= 4) {
        const len = this.buffered.readUInt32BE(0);
        if (this.buffered.length < len) break;
        const raw = this.buffered.subarray(0, len);
        this.buffered = this.buffered.subarray(len);
        this.frames.push({
          ...readHeader(raw, 4),
          body: Buffer.from(raw.subarray(MIN_FRAME_BYTES)),
          raw: Buffer.from(raw),
        });
      }
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
    socket.on('error', () => { /* the client may reset us; the tests look at 'close' */ });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Waits until `n` frames in total have arrived and returns them all. */
  async waitFrames(n: number): Promise<Frame[]> {
    while (this.frames.length < n) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    return this.frames.slice(0, n);
  }

  /** Resolves when the chunk is handed to the kernel. */
  write(b: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(b, (err) => (err ? reject(err) : resolve())));
  }
}

class Peer {
  readonly server = net.createServer();
  readonly conns: PeerConn[] = [];
  private waiters: Array<(c: PeerConn) => void> = [];

  private constructor(readonly address: { path: string } | { port: number }) {}

  static async start(kind: 'unix' | 'tcp' = 'unix'): Promise<Peer> {
    const p = kind === 'unix' ? new Peer({ path: path.join(tmpDir, `peer-${peerCount++}.sock`) }) : new Peer({ port: 0 });
    p.server.on('connection', (s) => {
      const c = new PeerConn(s);
      p.conns.push(c);
      const w = p.waiters.shift();
      if (w) w(c);
    });
    await new Promise<void>((resolve) => {
      if ('path' in p.address) p.server.listen(p.address.path, resolve);
      else p.server.listen(0, '127.0.0.1', resolve);
    });
    peers.push(p);
    return p;
  }

  connectOptions(): { path: string } | { port: number; host: string } {
    if ('path' in this.address) return { path: this.address.path };
    return { port: (this.server.address() as net.AddressInfo).port, host: '127.0.0.1' };
  }

  /** The next accepted connection (or the first one not yet taken). */
  accept(): Promise<PeerConn> {
    const taken = this.taken++;
    if (this.conns.length > taken) return Promise.resolve(this.conns[taken]);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  private taken = 0;

  async close(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let tmpDir: string;
let peerCount = 0;
let peers: Peer[] = [];
let clients: Client[] = [];

async function connect(peer: Peer, maxMessageBytes?: number): Promise<{ client: Client; conn: PeerConn }> {
  const [client, conn] = await Promise.all([Client.connect({ ...peer.connectOptions(), maxMessageBytes }), peer.accept()]);
  clients.push(client);
  return { client, conn };
}

/** The client's socket: only to wait until it has read some bytes, so splits land where the test says. */
function clientSocket(client: Client): net.Socket {
  return (client as unknown as { socket: net.Socket }).socket;
}

/** Resolves once the client's socket has received `n` more bytes. */
function clientReceived(client: Client, n: number): Promise<void> {
  const s = clientSocket(client);
  let got = 0;
  return new Promise((resolve) => {
    const onData = (chunk: Buffer): void => {
      got += chunk.length;
      if (got >= n) {
        s.removeListener('data', onData);
        resolve();
      }
    };
    s.on('data', onData);
  });
}

function closeEvent(client: Client): Promise<Error | undefined> {
  return new Promise((resolve) => client.once('close', (err) => resolve(err)));
}

beforeAll(() => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xdrd-client-'));
});

afterAll(() => {
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const c of clients) c.destroy();
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await Promise.all(peers.map((p) => p.close()));
  peers = [];
});

describe('Client.connect', () => {
  test('connecting to a missing path rejects with code ENOENT', async () => {
    await expect(Client.connect({ path: path.join(tmpDir, 'nothing-here.sock') })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('connects over TCP as well', async () => {
    const peer = await Peer.start('tcp');
    const { client, conn } = await connect(peer);
    const p = client.call(REMOTE, 1, 59);
    const [call] = await conn.waitFrames(1);
    await conn.write(replyTo(call, hex('00000002 766d0000')));
    expect(await p).toEqual(hex('00000002 766d0000'));
  });

  test('rejects bad options', async () => {
    await expect(Client.connect({})).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(Client.connect({ path: 'x', maxMessageBytes: 27 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });
});

describe('calls and replies', () => {
  test('a call gets its reply body, and the CALL frame is exactly right', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const p = client.call(REMOTE, 1, 60, hex('0000000a'));
    expect(client.pending).toBe(1);
    const [call] = await conn.waitFrames(1);
    expect(call.raw).toEqual(hex(
      '00000020' + // length: 4 + 24 + 4
      '20008086' + // program: REMOTE_PROGRAM
      '00000001' + // version 1
      '0000003c' + // procedure 60 (SUPPORTS_FEATURE)
      '00000000' + // type CALL
      '00000001' + // serial: the first call is 1
      '00000000' + // status OK
      '0000000a', //  body: feature 10
    ));
    await conn.write(replyTo(call, hex('00000001')));
    const body = await p;
    expect(body).toEqual(hex('00000001'));
    expect(client.pending).toBe(0);
  });

  test('serials increase by one per call; a negative procedure is sent as a signed int', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const ps = [client.call(REMOTE, 1, 1), client.call(REMOTE, 1, 2), client.call(REMOTE, 1, -5)];
    const calls = await conn.waitFrames(3);
    expect(calls.map((c) => c.serial)).toEqual([1, 2, 3]);
    expect(calls[2].raw.subarray(12, 16)).toEqual(hex('fffffffb'));
    for (const c of calls) await conn.write(replyTo(c));
    await Promise.all(ps);
  });

  test('replies out of order are matched to the right calls', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const ps = [0, 1, 2, 3, 4].map((i) => client.call(REMOTE, 1, 100 + i));
    const calls = await conn.waitFrames(5);
    for (const i of [2, 4, 3, 0, 1]) {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(calls[i].procedure);
      await conn.write(replyTo(calls[i], b));
    }
    const bodies = await Promise.all(ps);
    expect(bodies.map((b) => b.readUInt32BE(0))).toEqual([100, 101, 102, 103, 104]);
  });

  test('a reply split at every byte boundary is reassembled', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const body = hex('00000005 68656c6c6f000000 deadbeef');
    const p = client.call(REMOTE, 1, 7);
    const [call] = await conn.waitFrames(1);
    const reply = replyTo(call, body);
    for (let i = 0; i < reply.length; i++) {
      // Wait for the client to read each byte so that every read is one byte.
      const got = clientReceived(client, 1);
      await conn.write(reply.subarray(i, i + 1));
      await got;
    }
    expect(await p).toEqual(body);
  });

  test('a reply split in two at each possible position is reassembled', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const body = hex('00000003 616263 00 00000007');
    for (let k = 1; k < 28 + body.length; k++) {
      const p = client.call(REMOTE, 1, k);
      const call = (await conn.waitFrames(k))[k - 1];
      const reply = replyTo(call, body);
      const got = clientReceived(client, k);
      await conn.write(reply.subarray(0, k));
      await got;
      await conn.write(reply.subarray(k));
      expect(await p).toEqual(body);
    }
  });

  test('many replies coalesced in one write, ending mid-frame, are all delivered', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const n = 200;
    const ps = Array.from({ length: n }, (_, i) => client.call(REMOTE, 1, i + 1, Buffer.alloc(i % 9, i)));
    const calls = await conn.waitFrames(n);
    // Reply with the call's body echoed, so every reply has a different length.
    const all = Buffer.concat(calls.map((c) => replyTo(c, c.body)));
    const cut = all.length - 7;
    const got = clientReceived(client, cut);
    await conn.write(all.subarray(0, cut));
    await got;
    await conn.write(all.subarray(cut));
    const bodies = await Promise.all(ps);
    bodies.forEach((b, i) => expect(b).toEqual(Buffer.alloc(i % 9, i)));
  });

  test('frames coalesced in one chunk that ends right after the next frame\'s length word', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const ps = [1, 2, 3, 4].map((proc) => client.call(REMOTE, 1, proc));
    const calls = await conn.waitFrames(4);
    const replies = calls.map((c) => replyTo(c, Buffer.alloc(4 * c.procedure, c.procedure)));
    // Chunk 1: two whole replies and only the length word of the third.
    let got = clientReceived(client, replies[0].length + replies[1].length + 4);
    await conn.write(Buffer.concat([replies[0], replies[1], replies[2].subarray(0, 4)]));
    await got;
    expect(await Promise.all(ps.slice(0, 2))).toEqual([Buffer.alloc(4, 1), Buffer.alloc(8, 2)]);
    // Chunk 2: the rest of the third, with the fourth whole behind it.
    got = clientReceived(client, replies[2].length - 4 + replies[3].length);
    await conn.write(Buffer.concat([replies[2].subarray(4), replies[3]]));
    await got;
    expect(await Promise.all(ps.slice(2))).toEqual([Buffer.alloc(12, 3), Buffer.alloc(16, 4)]);
    // Nothing of the first chunk is held once its frames are delivered.
    expect((client as unknown as { pieces: Buffer[] }).pieces).toEqual([]);
  });

  test('a reply body stays intact after later replies arrive', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const p1 = client.call(REMOTE, 1, 1);
    const p2 = client.call(REMOTE, 1, 2);
    const [c1, c2] = await conn.waitFrames(2);
    await conn.write(Buffer.concat([replyTo(c1, Buffer.alloc(8, 0x11)), replyTo(c2, Buffer.alloc(8, 0x22))]));
    const b1 = await p1;
    await p2;
    const p3 = client.call(REMOTE, 1, 3);
    const c3 = (await conn.waitFrames(3))[2];
    await conn.write(replyTo(c3, Buffer.alloc(8, 0x33)));
    await p3;
    expect(b1).toEqual(Buffer.alloc(8, 0x11));
  });

  test('an error reply rejects with the decoded RpcError', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const p = client.call(REMOTE, 1, 23);
    const [call] = await conn.waitFrames(1);
    const sent = new RpcError('Domain not found', { code: 42, domain: 12, str1: 'Domain not found' });
    await conn.write(replyTo(call, sent.encode(), ERROR));
    const err = await p.then(() => undefined, (e: unknown) => e as RpcError);
    expect(err).toBeDefined();
    expect(err!.name).toBe('RpcError');
    expect(err!.code).toBe(42);
    expect(err!.domain).toBe(12);
    expect(err!.message).toBe('Domain not found');
    expect(err!.str1).toBe('Domain not found');
    expect(client.pending).toBe(0);
  });

  test('an error reply whose body does not decode rejects that call with ERR_XDRD_PROTOCOL; the connection stays usable', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const p = client.call(REMOTE, 1, 23);
    const [call] = await conn.waitFrames(1);
    await conn.write(replyTo(call, hex('0000002a'), ERROR));
    await expect(p).rejects.toMatchObject({ code: 'ERR_XDRD_PROTOCOL' });
    const p2 = client.call(REMOTE, 1, 24);
    const c2 = (await conn.waitFrames(2))[1];
    await conn.write(replyTo(c2, hex('00000001')));
    expect(await p2).toEqual(hex('00000001'));
  });

  test('a call whose frame would exceed maxMessageBytes rejects without being sent', async () => {
    const peer = await Peer.start();
    // 64 + 4 bytes at most: a 28-byte header frame plus 41 bytes is one too many.
    const { client } = await connect(peer, 64);
    await expect(client.call(REMOTE, 1, 1, Buffer.alloc(41))).rejects.toMatchObject({ code: 'ERR_XDRD_MESSAGE_TOO_LARGE' });
    expect(client.pending).toBe(0);
  });

  test('bad program, version or procedure numbers reject', async () => {
    const peer = await Peer.start();
    const { client } = await connect(peer);
    await expect(client.call(-1, 1, 1)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(client.call(REMOTE, 1.5, 1)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(client.call(REMOTE, 1, 0x80000000)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });
});

describe('protocol errors', () => {
  async function expectProtocolError(bytes: Buffer, maxMessageBytes?: number): Promise<void> {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer, maxMessageBytes);
    const errors: Error[] = [];
    client.on('error', (e) => errors.push(e));
    const closed = closeEvent(client);
    const ps = [client.call(REMOTE, 1, 1), client.call(REMOTE, 1, 2)];
    await conn.waitFrames(2);
    await conn.write(bytes);
    for (const p of ps) await expect(p).rejects.toMatchObject({ code: 'ERR_XDRD_PROTOCOL' });
    const err = await closed;
    expect(err).toMatchObject({ code: 'ERR_XDRD_PROTOCOL' });
    expect(errors).toHaveLength(1);
    expect(client.pending).toBe(0);
    await conn.closed;
    await expect(client.call(REMOTE, 1, 3)).rejects.toMatchObject({ code: 'ERR_XDRD_CLIENT_CLOSED' });
  }

  test('a length word of 12 closes the connection and rejects pending calls', async () => {
    await expectProtocolError(hex('0000000c'));
  });

  test('a length word of 27 (one short of a header) is rejected', async () => {
    await expectProtocolError(hex('0000001b'));
  });

  test('a length word of maxMessageBytes + 5 is rejected before the frame is read', async () => {
    // The length word counts itself and the message may be 64 bytes: 68 is
    // the largest. Only the length word is sent: the client must not wait.
    await expectProtocolError(hex('00000045'), 64);
  });

  test('the default limit is libvirt\'s: a length word of 33554437 is rejected at once', async () => {
    await expectProtocolError(hex('02000005'));
  });

  test('a frame of exactly maxMessageBytes + 4 (length word included) is accepted', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer, 64);
    const p = client.call(REMOTE, 1, 1);
    const [call] = await conn.waitFrames(1);
    await conn.write(replyTo(call, Buffer.alloc(40, 7)));
    expect(await p).toEqual(Buffer.alloc(40, 7));
  });

  test('a reply with an unknown serial closes the connection and rejects pending calls', async () => {
    await expectProtocolError(frame({ procedure: 1, serial: 99 }));
  });

  test('a reply whose procedure does not match the call is a protocol error', async () => {
    await expectProtocolError(frame({ procedure: 7, serial: 1 }));
  });

  test('a STREAM frame is a protocol error (streams are not supported)', async () => {
    await expectProtocolError(frame({ procedure: 1, serial: 1, type: STREAM }));
  });

  test('without an error listener a protocol error still rejects calls and reports on close', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const closed = closeEvent(client);
    const p = client.call(REMOTE, 1, 1);
    await conn.waitFrames(1);
    await conn.write(hex('00000008'));
    await expect(p).rejects.toMatchObject({ code: 'ERR_XDRD_PROTOCOL', message: expect.stringMatching(/frame length of 8 bytes/) });
    expect(await closed).toMatchObject({ code: 'ERR_XDRD_PROTOCOL' });
  });
});

describe('keepalive and messages', () => {
  test('a server PING gets a PONG with the exact bytes, and does not emit message', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const messages: ServerMessage[] = [];
    client.on('message', (m) => messages.push(m));
    await conn.write(hex('0000001c 6b656570 00000001 00000001 00000002 00000000 00000000'));
    const [pong] = await conn.waitFrames(1);
    expect(pong.raw).toEqual(hex(
      '0000001c' + // length 28
      '6b656570' + // KEEPALIVE_PROGRAM ("keep")
      '00000001' + // version 1
      '00000002' + // procedure PONG
      '00000002' + // type MESSAGE
      '00000000' + // serial 0
      '00000000', //  status OK
    ));
    expect(messages).toHaveLength(0);
  });

  test('a server PONG is swallowed', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const messages: ServerMessage[] = [];
    client.on('message', (m) => messages.push(m));
    const p = client.call(REMOTE, 1, 1);
    const [call] = await conn.waitFrames(1);
    // The PONG and the reply in one write: the reply proves the PONG was read first.
    await conn.write(Buffer.concat([hex('0000001c 6b656570 00000001 00000002 00000002 00000000 00000000'), replyTo(call)]));
    await p;
    expect(messages).toHaveLength(0);
    expect(conn.frames).toHaveLength(1);
  });

  test('a MESSAGE frame that is not keepalive emits message', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const got = latch<ServerMessage>();
    client.on('message', (m) => got.resolve(m));
    await conn.write(frame({ procedure: 107, type: MESSAGE, serial: 0, body: hex('00000001 00000002') }));
    expect(await got.promise).toEqual({ program: REMOTE, version: 1, procedure: 107, serial: 0, body: hex('00000001 00000002') });
  });

  test('startKeepalive: a peer that never answers gets PINGs, then the connection closes with ERR_XDRD_KEEPALIVE', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const closed = closeEvent(client);
    const p = client.call(REMOTE, 1, 1);
    client.startKeepalive({ intervalMs: 20, count: 2 });
    await expect(p).rejects.toMatchObject({ code: 'ERR_XDRD_KEEPALIVE' });
    expect(await closed).toMatchObject({ code: 'ERR_XDRD_KEEPALIVE' });
    await conn.closed;
    // The call, then exactly `count` PINGs.
    expect(conn.frames.map((f) => f.type)).toEqual([CALL, MESSAGE, MESSAGE]);
    expect(conn.frames[1].raw).toEqual(hex('0000001c 6b656570 00000001 00000001 00000002 00000000 00000000'));
    expect(conn.frames[2].raw).toEqual(conn.frames[1].raw);
  });

  test('startKeepalive: a peer that answers PINGs keeps the connection open', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    let closedEarly = false;
    client.once('close', () => (closedEarly = true));
    client.startKeepalive({ intervalMs: 10, count: 3 });
    // Answer six PINGs. Not answering would close the link after 40 ms; the
    // count leaves room for a slow machine to deliver a PONG late.
    for (let i = 1; i <= 6; i++) {
      const f = (await conn.waitFrames(i))[i - 1];
      expect(f.procedure).toBe(1);
      await conn.write(hex('0000001c 6b656570 00000001 00000002 00000002 00000000 00000000'));
    }
    expect(closedEarly).toBe(false);
    const p = client.call(REMOTE, 1, 1);
    const call = (await conn.waitFrames(7)).find((f) => f.type === CALL)!;
    await conn.write(replyTo(call));
    await p;
  });
});

describe('abort and timeout', () => {
  test('an aborted call rejects with the signal reason; its late reply is ignored and later calls work', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const ac = new AbortController();
    const p = client.call(REMOTE, 1, 1, undefined, { signal: ac.signal });
    const [call] = await conn.waitFrames(1);
    const reason = new Error('user gave up');
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(client.pending).toBe(0);
    const p2 = client.call(REMOTE, 1, 2);
    const c2 = (await conn.waitFrames(2))[1];
    // The late reply first, in the same write as the next one.
    await conn.write(Buffer.concat([replyTo(call, hex('00000001')), replyTo(c2, hex('00000002'))]));
    expect(await p2).toEqual(hex('00000002'));
    // Its serial is now fully forgotten: a second reply to it is unknown.
    const closed = closeEvent(client);
    await conn.write(replyTo(call));
    expect(await closed).toMatchObject({ code: 'ERR_XDRD_PROTOCOL' });
  });

  test('abort() without a reason rejects with an AbortError', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const ac = new AbortController();
    const p = client.call(REMOTE, 1, 1, undefined, { signal: ac.signal });
    await conn.waitFrames(1);
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  });

  test('an already aborted signal rejects without sending', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const ac = new AbortController();
    ac.abort();
    await expect(client.call(REMOTE, 1, 1, undefined, { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    const p = client.call(REMOTE, 1, 2);
    const [call] = await conn.waitFrames(1);
    expect(call.procedure).toBe(2);
    await conn.write(replyTo(call));
    await p;
  });

  test('timeoutMs rejects with ERR_XDRD_TIMEOUT; the late reply is ignored and later calls work', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const p = client.call(REMOTE, 1, 1, undefined, { timeoutMs: 10 });
    const [call] = await conn.waitFrames(1);
    await expect(p).rejects.toMatchObject({ code: 'ERR_XDRD_TIMEOUT' });
    expect(client.pending).toBe(0);
    await conn.write(replyTo(call));
    const p2 = client.call(REMOTE, 1, 2, undefined, { timeoutMs: 60000 });
    const c2 = (await conn.waitFrames(2))[1];
    await conn.write(replyTo(c2, hex('00000002')));
    expect(await p2).toEqual(hex('00000002'));
  });
  test('timeoutMs and keepalive intervals outside what setTimeout honours are refused, not run as 1 ms', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    for (const timeoutMs of [-1, NaN, Infinity, 2 ** 31]) {
      await expect(client.call(REMOTE, 1, 1, undefined, { timeoutMs })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    }
    for (const intervalMs of [0, NaN, 2 ** 31]) {
      expect(() => client.startKeepalive({ intervalMs, count: 1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    }
    expect(() => client.startKeepalive({ intervalMs: 10, count: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(client.pending).toBe(0);
    // The largest delay is accepted, and the call is still waiting after a tick.
    const p = client.call(REMOTE, 1, 2, undefined, { timeoutMs: 2 ** 31 - 1 });
    const [call] = await conn.waitFrames(1);
    await new Promise((r) => setTimeout(r, 20));
    expect(client.pending).toBe(1);
    await conn.write(replyTo(call));
    await p;
  });
});

describe('closing', () => {
  test('close() rejects pending calls with ERR_XDRD_CLIENT_CLOSED and ends the socket', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const closed = closeEvent(client);
    const ps = [client.call(REMOTE, 1, 1), client.call(REMOTE, 1, 2)];
    await conn.waitFrames(2);
    const done = client.close();
    for (const p of ps) await expect(p).rejects.toMatchObject({ code: 'ERR_XDRD_CLIENT_CLOSED' });
    expect(client.pending).toBe(0);
    await expect(client.call(REMOTE, 1, 3)).rejects.toMatchObject({ code: 'ERR_XDRD_CLIENT_CLOSED' });
    // The peer sees an orderly end of stream.
    await new Promise<void>((resolve) => conn.socket.once('end', () => { conn.socket.end(); resolve(); }));
    await done;
    expect(await closed).toBeUndefined();
  });

  test('destroy() rejects pending calls at once', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const p = client.call(REMOTE, 1, 1);
    await conn.waitFrames(1);
    client.destroy();
    await expect(p).rejects.toMatchObject({ code: 'ERR_XDRD_CLIENT_CLOSED' });
    await conn.closed;
  });

  test('the server closing the connection rejects pending calls with ERR_XDRD_CONNECTION_CLOSED', async () => {
    const peer = await Peer.start();
    const { client, conn } = await connect(peer);
    const closed = closeEvent(client);
    const p = client.call(REMOTE, 1, 1);
    await conn.waitFrames(1);
    conn.socket.end();
    await expect(p).rejects.toMatchObject({ code: 'ERR_XDRD_CONNECTION_CLOSED' });
    // A server hanging up is not a failure of the connection itself.
    expect(await closed).toBeUndefined();
  });

  test('unref() and ref() pass through and return the client', async () => {
    const peer = await Peer.start();
    const { client } = await connect(peer);
    expect(client.unref()).toBe(client);
    expect(client.ref()).toBe(client);
  });
});
