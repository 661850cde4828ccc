/**
 * listen() over real sockets: several listeners on one server, per-listener
 * read-only flag and what a handler learns about its client, UNIX socket
 * modes (right from the moment the path appears), never taking a path that
 * is not ours, replacing stale sockets, adopting an inherited socket, and
 * option checks.
 */
import { spawn } from 'child_process';
import type { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';

import { Client, Server } from '../lib';
import type { AddressInfo, CallContext, Connection, ListenOptions } from '../lib';
import { MIN_FRAME_BYTES, STATUS_OK, TYPE_CALL, encodeFrame, readHeader } from '../lib/libvirt/wire';
import { REPO, TEST_PROGRAM, TEST_VERSION, cleanUp, connect, socketPath, tempDir, track, u32 } from './helpers/harness';

const FIXTURES = path.join(REPO, 'test', 'fixtures');
const S_IFMT = 0o170000;
const S_IFSOCK = 0o140000;

type ListenError = NodeJS.ErrnoException & { address?: string; detail?: string };

// ---- Children and sockets this file starts, ended after each test ----------

const children: ChildProcess[] = [];
const netServers: net.Server[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once('close', r));
      c.kill('SIGKILL');
      await gone;
    }
  }
  await Promise.all(netServers.splice(0).map((s) => new Promise((r) => s.close(r))));
  await cleanUp();
});

interface LineChild {
  /** The next stdout line not taken yet (waits for it). */
  nextLine(): Promise<string>;
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Spawns `command args`, its stdout read line by line, in order. */
function spawnLines(command: string, args: string[]): LineChild {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  const waiters: ((line: string | undefined) => void)[] = [];
  let ended = false;
  let partial = '';
  let stderr = '';
  const pump = (): void => {
    while (waiters.length > 0 && (lines.length > 0 || ended)) waiters.shift()!(lines.shift());
  };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    pump();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => {
      ended = true;
      pump();
      resolve({ code, signal, stderr });
    });
  });
  return {
    child,
    done,
    nextLine: () =>
      new Promise<string>((resolve, reject) => {
        waiters.push((line) => {
          if (line !== undefined) resolve(line);
          else reject(new Error(`${command} ended before printing another line; stderr: ${stderr}`));
        });
        pump();
      }),
  };
}

// ---- A raw client: one CALL on a plain socket, so the test knows its local port

async function rawConnect(options: { port: number; host: string } | { path: string }): Promise<net.Socket> {
  const socket = net.connect(options);
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** Sends one CALL (serial 1) and resolves with the reply's status and body. */
function rawCall(socket: net.Socket, program: number, version: number, procedure: number, body: Buffer = Buffer.alloc(0)): Promise<{ status: number; body: Buffer }> {
  const call = encodeFrame({ program, version, procedure, type: TYPE_CALL, serial: 1, status: STATUS_OK }, body);
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      if (got.length < 4 || got.length < got.readUInt32BE(0)) return;
      socket.off('data', onData);
      const length = got.readUInt32BE(0);
      resolve({ status: readHeader(got, 4).status, body: got.subarray(MIN_FRAME_BYTES, length) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(call);
  });
}

/** Resolves with the error `p` rejects with; fails the test if it resolves. */
async function rejection(p: Promise<unknown>): Promise<ListenError> {
  return p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e as ListenError,
  );
}

function echoServer(): Server {
  const server = track(new Server());
  server.handle(TEST_PROGRAM, TEST_VERSION, { 1: (b) => Buffer.concat([b, Buffer.from('!')]) });
  return server;
}

// ---- Tests ------------------------------------------------------------------

test('one server serves three listeners (two UNIX paths, one TCP); addresses() lists them, address() is the first', async () => {
  const server = echoServer();
  const a = socketPath('a');
  const b = socketPath('b');
  expect(await server.listen({ path: a })).toEqual({ path: a });
  expect(await server.listen({ path: b })).toEqual({ path: b });
  const tcp = (await server.listen({ port: 0 })) as { host: string; port: number };
  expect(tcp).toEqual({ host: '127.0.0.1', port: expect.any(Number) as unknown as number });
  expect(tcp.port).toBeGreaterThan(0);

  const addresses: AddressInfo[] = [{ path: a }, { path: b }, tcp];
  expect(server.addresses()).toEqual(addresses);
  expect(server.address()).toEqual({ path: a });
  for (const [i, address] of addresses.entries()) {
    const client = await connect(address);
    expect(await client.call(TEST_PROGRAM, TEST_VERSION, 1, Buffer.from(`via ${i}`))).toEqual(Buffer.from(`via ${i}!`));
  }
  expect(server.stats().clientsAccepted).toBe(3);
});

test('readOnly is per listener; ctx.client tells the transport, the TCP peer address and port, the UNIX peer credentials', async () => {
  const server = track(new Server());
  const seen: Connection[] = [];
  server.handle(TEST_PROGRAM, TEST_VERSION, {
    1: (_body, ctx: CallContext) => {
      seen.push(ctx.client);
      return u32(ctx.client.readOnly ? 1 : 0);
    },
  });
  const unixRw = await server.listen({ path: socketPath('rw') });
  const unixRo = await server.listen({ path: socketPath('ro'), readOnly: true });
  const tcpRw = (await server.listen({ port: 0, readOnly: false })) as { host: string; port: number };
  const tcpRo = (await server.listen({ port: 0, host: '127.0.0.1', readOnly: true })) as { host: string; port: number };

  // UNIX: the client is this very process.
  for (const [address, readOnly] of [[unixRw, 0], [unixRo, 1]] as const) {
    const client = await connect(address);
    expect(await client.call(TEST_PROGRAM, TEST_VERSION, 1)).toEqual(u32(readOnly));
    const c = seen.pop()!;
    expect(c).toMatchObject({ transport: 'unix', readOnly: readOnly === 1, remoteAddress: null, remotePort: null });
    expect(c.credentials).toEqual({ uid: process.getuid!(), gid: process.getgid!(), pid: process.pid });
  }

  // TCP: a plain socket as the client, to know its local port.
  for (const [address, readOnly] of [[tcpRw, 0], [tcpRo, 1]] as const) {
    const socket = await rawConnect({ port: address.port, host: address.host });
    const reply = await rawCall(socket, TEST_PROGRAM, TEST_VERSION, 1);
    expect(reply).toEqual({ status: 0, body: u32(readOnly) });
    const c = seen.pop()!;
    expect(c).toMatchObject({
      transport: 'tcp',
      readOnly: readOnly === 1,
      remoteAddress: '127.0.0.1',
      remotePort: socket.localPort,
      credentials: null,
    });
  }
  expect(seen).toHaveLength(0);
});

test('a UNIX socket is 0600 by default; mode sets its permission bits', async () => {
  const server = echoServer();
  const byDefault = socketPath('default');
  const group = socketPath('group');
  const everyone = socketPath('everyone');
  await server.listen({ path: byDefault });
  await server.listen({ path: group, mode: 0o660 });
  // Bits a usual umask (022) would clear: the mode is set, not masked.
  await server.listen({ path: everyone, mode: 0o666 });
  for (const [p, mode] of [[byDefault, 0o600], [group, 0o660], [everyone, 0o666]] as const) {
    const st = fs.lstatSync(p);
    expect(st.mode & S_IFMT).toBe(S_IFSOCK);
    expect((st.mode & 0o7777).toString(8)).toBe(mode.toString(8));
  }
  // No temporary bind directory is left next to the sockets.
  expect(fs.readdirSync(path.dirname(group))).toEqual(['group']);
});

test('the socket has its mode the moment its path appears (20 rounds against an lstat loop)', async () => {
  const server = echoServer();
  const p = socketPath('watched');
  const watcher = spawnLines(process.execPath, [path.join(FIXTURES, 'watch-path.js'), p]);
  expect(await watcher.nextLine()).toBe('watching');
  const inodes = new Set<string>();
  for (let round = 0; round < 20; round++) {
    await server.listen({ path: p, mode: 0o600 });
    const line = await watcher.nextLine();
    const m = /^seen (\d+) ([0-7]+)$/.exec(line);
    expect(m).not.toBeNull();
    const mode = parseInt(m![2]!, 8);
    expect({ round, type: (mode & S_IFMT).toString(8), bits: (mode & 0o7777).toString(8) }).toEqual({
      round,
      type: S_IFSOCK.toString(8),
      bits: '600',
    });
    inodes.add(m![1]!);
    await server.close({ graceMs: 0 });
    // close() removed the path it made; wait for the watcher to see that
    // before the next round, so each round's first sighting is its own.
    expect(await watcher.nextLine()).toBe('gone');
  }
  expect(inodes.size).toBeGreaterThan(0);
  watcher.child.kill('SIGKILL');
  expect((await watcher.done).signal).toBe('SIGKILL');
});

test('a regular file at the path is never replaced: EADDRINUSE "not a socket", content intact', async () => {
  const p = path.join(tempDir(), 'precious');
  fs.writeFileSync(p, 'keep me');
  const before = fs.lstatSync(p);
  const server = echoServer();
  const err = await rejection(server.listen({ path: p }));
  expect(err).toMatchObject({ name: 'Error', code: 'EADDRINUSE', syscall: 'listen', address: p });
  // The native detail says why; the message is Node-style (see test/server.test.ts).
  expect(err.detail).toContain('path exists and is not a socket; not replacing it');
  expect(err.message).toContain(p);
  expect(fs.readFileSync(p, 'utf8')).toBe('keep me');
  expect(fs.lstatSync(p).ino).toBe(before.ino);
  expect(server.listening).toBe(false);
  expect(fs.readdirSync(path.dirname(p))).toEqual(['precious']);
});

test('a live socket is never stolen: EADDRINUSE "listening", and its owner still accepts', async () => {
  const p = socketPath('live');
  const owner = net.createServer((s) => s.pipe(s)); // echoes
  netServers.push(owner);
  await new Promise<void>((r) => owner.listen(p, r));
  const inode = fs.lstatSync(p).ino;

  const server = echoServer();
  const err = await rejection(server.listen({ path: p }));
  expect(err).toMatchObject({ code: 'EADDRINUSE', syscall: 'listen', address: p });
  expect(err.detail).toContain('another process is listening on it');
  expect(server.listening).toBe(false);
  expect(fs.lstatSync(p).ino).toBe(inode);

  // The node server still owns the path: a new connection reaches it.
  const socket = await rawConnect({ path: p });
  const echoed = new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())));
  socket.write('still mine');
  expect(await echoed).toBe('still mine');
});

test('a stale socket (nobody listening) is replaced, and the server serves on it', async () => {
  const p = socketPath('stale');
  const made = spawnLines('python3', [
    '-c',
    'import socket, sys\ns = socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[1])\ns.close()\n',
    p,
  ]);
  expect(await made.done).toMatchObject({ code: 0 });
  const stale = fs.lstatSync(p);
  expect(stale.mode & S_IFMT).toBe(S_IFSOCK);
  // Nobody listens there.
  const refused = await rejection(Client.connect({ path: p }));
  expect(refused.code).toBe('ECONNREFUSED');

  const server = echoServer();
  expect(await server.listen({ path: p })).toEqual({ path: p });
  const now = fs.lstatSync(p);
  expect(now.ino).not.toBe(stale.ino);
  expect(now.mode & 0o7777).toBe(0o600);
  const client = await connect({ path: p });
  expect(await client.call(TEST_PROGRAM, TEST_VERSION, 1, Buffer.from('hi'))).toEqual(Buffer.from('hi!'));
});

test('{ fd }: an inherited listening socket (socket activation) is served, and its path is left in place on close', async () => {
  const p = socketPath('activated');
  // python3 binds and listens, puts the socket on fd 3 and execs node.
  const activate = [
    'import os, socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
    's.bind(sys.argv[1])',
    's.listen(16)',
    'if s.fileno() != 3: os.dup2(s.fileno(), 3)',
    'os.set_inheritable(3, True)',
    'os.execvp(sys.argv[2], sys.argv[2:])',
  ].join('\n');
  const child = spawnLines('python3', ['-c', activate, p, process.execPath, path.join(FIXTURES, 'listen-fd.js')]);
  expect(JSON.parse(await child.nextLine())).toEqual({ path: p });
  expect(await child.nextLine()).toBe('ready');

  const client = await Client.connect({ path: p });
  expect(await client.call(TEST_PROGRAM, TEST_VERSION, 1, Buffer.from('activated'))).toEqual(Buffer.from('activated!'));
  client.destroy();

  child.child.kill('SIGTERM');
  expect(await child.nextLine()).toMatch(/^closed \{"drained":true,/);
  const result = await child.done;
  expect(result).toMatchObject({ code: 0, signal: null }); // on failure jest shows its stderr too
  // Adopted, not made: close() does not unlink it. Nobody listens any more.
  expect(fs.lstatSync(p).mode & S_IFMT).toBe(S_IFSOCK);
  expect((await rejection(Client.connect({ path: p }))).code).toBe('ECONNREFUSED');
});

test('{ fd }: a non-socket is ENOTSOCK and a socket that is not listening is EINVAL; the descriptor stays the caller\'s', async () => {
  const server = echoServer();

  const devNull = fs.openSync('/dev/null', 'r');
  try {
    const err = await rejection(server.listen({ fd: devNull }));
    expect(err).toMatchObject({ code: 'ENOTSOCK', syscall: 'listen', address: `fd ${devNull}` });
    expect(err.detail).toContain('not a socket');
    expect(fs.fstatSync(devNull).isCharacterDevice()).toBe(true); // still open
  } finally {
    fs.closeSync(devNull);
  }

  // A connected (not listening) stream socket: the client end of a connection.
  const p = socketPath('peer');
  const peer = net.createServer();
  netServers.push(peer);
  const accepted = new Promise<net.Socket>((resolve) => peer.once('connection', resolve));
  await new Promise<void>((r) => peer.listen(p, r));
  const socket = await rawConnect({ path: p });
  const serverSide = await accepted;
  sockets.push(serverSide);
  const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
  expect(fd).toBeGreaterThan(2);
  const err = await rejection(server.listen({ fd }));
  expect(err).toMatchObject({ code: 'EINVAL', syscall: 'listen' });
  expect(err.detail).toContain('socket is not listening');
  expect(server.listening).toBe(false);
  // The descriptor was neither closed nor taken: the connection still works.
  const got = new Promise<string>((resolve) => serverSide.once('data', (d: Buffer) => resolve(d.toString())));
  socket.write('still here');
  expect(await got).toBe('still here');
});

describe('bad options are refused before anything is opened', () => {
  const cases: [string, unknown, 'TypeError' | 'RangeError'][] = [
    ['no options', undefined, 'TypeError'],
    ['null', null, 'TypeError'],
    ['an empty path', { path: '' }, 'TypeError'],
    ['a non-string path', { path: 42 }, 'TypeError'],
    ['a negative mode', { path: '/nonexistent/x', mode: -1 }, 'RangeError'],
    ['a mode above 0o7777', { path: '/nonexistent/x', mode: 0o10000 }, 'RangeError'],
    ['a fractional mode', { path: '/nonexistent/x', mode: 1.5 }, 'RangeError'],
    ['a string mode', { path: '/nonexistent/x', mode: '600' }, 'RangeError'],
    ['a port above 65535', { port: 65536 }, 'RangeError'],
    ['a negative port', { port: -1 }, 'RangeError'],
    ['a fractional port', { port: 80.5 }, 'RangeError'],
    ['a string port', { port: '80' }, 'RangeError'],
    ['a non-string host', { port: 0, host: 127 }, 'TypeError'],
    ['a negative fd', { fd: -1 }, 'RangeError'],
    ['a fractional fd', { fd: 3.5 }, 'RangeError'],
    ['a string fd', { fd: '3' }, 'RangeError'],
    ['an fd above int32', { fd: 2 ** 31 }, 'RangeError'],
    ['a string readOnly', { path: '/nonexistent/x', readOnly: 'yes' }, 'TypeError'],
    ['a numeric readOnly', { port: 0, readOnly: 1 }, 'TypeError'],
    ['a string readOnly with an fd', { fd: 2 ** 30, readOnly: 'false' }, 'TypeError'],
  ];
  test.each(cases)('%s', async (_what, options, name) => {
    const server = echoServer();
    const err = await rejection(server.listen(options as ListenOptions));
    expect(err.name).toBe(name);
    expect(server.listening).toBe(false);
    expect(server.addresses()).toEqual([]);
  });
});
