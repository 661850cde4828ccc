/**
 * The libvirt example daemon (examples/libvirt/) over a real UNIX socket,
 * with raw frames: the session rules libvirtd keeps (recorded from the real
 * daemon, libvirt-wire.md §9 and examples/libvirt/NOTES.md), the shared
 * node, and bad input answered without a crash. The same outputs against a
 * real libvirtd are compared in libvirt-conformance.test.ts.
 */
import * as fs from 'fs';
import * as path from 'path';

import { xdr } from 'xdrd';

import { createLibvirtServer } from '../examples/libvirt/server';
import * as R from '../examples/libvirt/remote';
import { REPO, cleanUp, runChild, socketPath, startChild, tempDir, track, until } from './helpers/harness';
import { RawPeer, TYPE_MESSAGE, frame } from './helpers/raw-peer';
import { remoteError } from '../lib/errors';

afterEach(cleanUp);

const PROG = R.REMOTE_PROGRAM;

async function start() {
  const { server, store } = createLibvirtServer();
  track(server);
  const address = await server.listen({ path: socketPath() });
  return { server, store, address };
}

/** Sends one call and waits for its reply: [status, body]. */
async function call(peer: RawPeer, proc: number, serial: number, body: Uint8Array = Buffer.alloc(0)) {
  peer.send(frame(PROG, 1, proc, serial, body));
  const f = await peer.next();
  expect(f.serial).toBe(serial);
  expect(f.proc).toBe(proc);
  return f;
}

function errorOf(body: Buffer) {
  const e = xdr.decode(remoteError, body);
  return { code: e.code, domain: e.domain, message: e.message };
}

const openArgs = (name: string | null, flags = 0) => xdr.encode(R.remote_connect_open_args, { name, flags });
const feature = (n: number) => xdr.encode(R.remote_connect_supports_feature_args, { feature: n });

test('calls before CONNECT_OPEN are refused as libvirtd refuses them; AUTH_LIST and feature 10 are not', async () => {
  const { address } = await start();
  const peer = await RawPeer.connect(address);
  const auth = await call(peer, 66, 0);
  expect(auth.status).toBe(0);
  expect(xdr.decode(R.remote_auth_list_ret, auth.body)).toEqual({ types: ['REMOTE_AUTH_NONE'] });
  expect(xdr.decode(R.remote_connect_supports_feature_ret, (await call(peer, 60, 1, feature(10))).body)).toEqual({ supported: 1 });
  for (const [proc, body] of [[59, Buffer.alloc(0)], [3, Buffer.alloc(0)], [60, feature(14)], [360, Buffer.alloc(0)]] as const) {
    const r = await call(peer, proc, 2, body);
    expect(r.status).toBe(1);
    expect(errorOf(r.body)).toEqual({ code: 1, domain: 7, message: 'internal error: hypervisor connection not open' });
  }
  const unknown = await call(peer, 9999, 3);
  expect(errorOf(unknown.body)).toEqual({ code: 39, domain: 7, message: 'unknown procedure: 9999' });
  peer.destroy();
});

test('CONNECT_OPEN: the default URI once, read-only flag taken; twice, other URIs refused', async () => {
  const { address, store } = await start();
  const peer = await RawPeer.connect(address);
  expect(errorOf((await call(peer, 1, 0, openArgs('bogus:///x'))).body)).toEqual({ code: 5, domain: 0, message: 'no connection driver available for bogus:///x' });
  expect(errorOf((await call(peer, 1, 1, openArgs('test:///other'))).body)).toEqual({ code: 27, domain: 12, message: "XML error: failed to parse xml document '/other'" });
  expect((await call(peer, 1, 2, openArgs('test:///default', 1))).status).toBe(0);
  expect(store.users).toBe(1);
  expect(errorOf((await call(peer, 1, 3, openArgs('test:///default'))).body)).toEqual({ code: 1, domain: 7, message: 'internal error: connection already open' });
  // As in libvirtd, the refused second open drops the first one.
  expect(store.users).toBe(0);
  expect(errorOf((await call(peer, 59, 4)).body)).toEqual({ code: 1, domain: 7, message: 'internal error: hypervisor connection not open' });
  expect((await call(peer, 1, 4, openArgs('test:///default', 1))).status).toBe(0);
  const features = [];
  for (let f = 0; f <= 17; f++) features.push(xdr.decode(R.remote_connect_supports_feature_ret, (await call(peer, 60, 5 + f, feature(f))).body).supported);
  // As libvirtd with the test driver, except 8 (FD passing): xdrd refuses descriptors.
  expect(features).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0]);
  peer.destroy();
  await until(() => store.users === 0);
});

test('CONNECT_CLOSE is answered, then the daemon closes the socket', async () => {
  const { address } = await start();
  const peer = await RawPeer.connect(address);
  expect((await call(peer, 1, 0, openArgs('test:///default'))).status).toBe(0);
  const r = await call(peer, 2, 1);
  expect(r.status).toBe(0);
  expect(r.body.length).toBe(0);
  await peer.closed;
});

test('connections open at the same time share the node; it starts afresh after the last one', async () => {
  const { address, store } = await start();
  const a = await RawPeer.connect(address);
  const b = await RawPeer.connect(address);
  await call(a, 1, 0, openArgs('test:///default'));
  await call(b, 1, 0, openArgs('test:///default'));
  expect(store.users).toBe(2);
  a.destroy();
  await until(() => store.users === 1);
  await call(b, 2, 1);
  await b.closed;
  await until(() => store.users === 0);
});

test('domain lookups and per-domain calls, found and not found', async () => {
  const { address } = await start();
  const peer = await RawPeer.connect(address);
  await call(peer, 1, 0, openArgs('test:///default'));
  const found = xdr.decode(R.remote_domain_lookup_by_name_ret, (await call(peer, 23, 1, xdr.encode(R.remote_domain_lookup_by_name_args, { name: 'test' }))).body);
  expect(found.dom.id).toBe(1);
  expect(found.dom.uuid.toString('hex')).toBe('6695eb01f6a4830479aa97f2502e193f');
  const info = xdr.decode(R.remote_domain_get_info_ret, (await call(peer, 16, 2, xdr.encode(R.remote_domain_get_info_args, { dom: found.dom }))).body);
  expect({ ...info, cpuTime: 0n }).toEqual({ state: 1, maxMem: 8388608n, memory: 2097152n, nrVirtCpu: 2, cpuTime: 0n });
  expect(errorOf((await call(peer, 22, 3, xdr.encode(R.remote_domain_lookup_by_id_args, { id: 7 }))).body)).toEqual({ code: 42, domain: 12, message: 'Domain not found' });
  const ghost = { name: 'zzz', uuid: Buffer.alloc(16), id: 5 };
  expect(errorOf((await call(peer, 212, 4, xdr.encode(R.remote_domain_get_state_args, { dom: ghost, flags: 0 }))).body)).toEqual({
    code: 42,
    domain: 12,
    message: "Domain not found: no domain with matching uuid '00000000-0000-0000-0000-000000000000' (zzz)",
  });
  peer.destroy();
});

test('bad input: truncated args get the decode error; a PING gets a PONG; the daemon keeps serving', async () => {
  const { address } = await start();
  const peer = await RawPeer.connect(address);
  const bad = await call(peer, 1, 0, Buffer.from([0, 0, 0, 1, 0, 0]));
  expect(bad.status).toBe(1);
  expect(errorOf(bad.body).message).toMatch(/^Unable to decode message payload/);
  peer.send(frame(0x6b656570, 1, 1, 0, Buffer.alloc(0), TYPE_MESSAGE));
  const pong = await peer.next();
  expect([pong.prog, pong.proc, pong.type]).toEqual([0x6b656570, 2, TYPE_MESSAGE]);
  expect((await call(peer, 1, 1, openArgs('test:///default'))).status).toBe(0);
  peer.destroy();
});

test('`npm start` runs the libvirt daemon and prints the virsh line to paste; SIGTERM stops it', async () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const m = /^node (\S+)$/.exec(pkg.scripts.start ?? '');
  expect(m?.[1]).toBe('dist/examples/libvirt/daemon.js');
  const sock = socketPath('libvirt.sock');
  const daemon = startChild(path.join(REPO, m![1]!), [], { env: { XDRD_SOCKET: sock } });
  const line = await daemon.waitFor(/virsh -c/);
  expect(line.trim()).toBe(`virsh -c 'test+unix:///default?socket=${sock}' list --all`);
  const peer = await RawPeer.connect({ path: sock });
  expect((await call(peer, 66, 0)).status).toBe(0);
  peer.destroy();
  daemon.kill('SIGTERM');
  const r = await daemon.done;
  expect(r.code).toBe(0);
  expect(r.stderr).toBe('');
});

test('examples/libvirt/remote.ts is what `xdrd gen` makes of remote.x now', async () => {
  const out = path.join(tempDir(), 'remote.ts');
  const args = ['gen', path.join(REPO, 'examples', 'libvirt', 'remote.x'), '-o', out, '--program', 'remote=REMOTE_PROGRAM,REMOTE_PROTOCOL_VERSION,remote_procedure,REMOTE_PROC_'];
  const r = await runChild(path.join(REPO, 'dist', 'lib', 'cli', 'cli.js'), args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  // The header records the command with the output path given; compare the schemas below it.
  const body = (s: string) => s.split('\n').slice(2).join('\n');
  expect(body(fs.readFileSync(out, 'utf8'))).toBe(body(fs.readFileSync(path.join(REPO, 'examples', 'libvirt', 'remote.ts'), 'utf8')));
});

test('keepalive: the daemon PINGs a client that asked about feature 10, and only such a client', async () => {
  const { address } = await start();
  const asked = await RawPeer.connect(address);
  const silent = await RawPeer.connect(address);
  await call(asked, 60, 0, feature(10));
  await call(silent, 66, 0);
  // libvirtd's default interval: a PING after 5 s without traffic.
  const ping = await asked.next();
  expect([ping.prog, ping.proc, ping.type, ping.serial]).toEqual([0x6b656570, 1, TYPE_MESSAGE, 0]);
  // The one that never asked got nothing in the same time; it still works.
  expect((await call(silent, 1, 1, openArgs('test:///default'))).status).toBe(0);
  asked.destroy();
  silent.destroy();
}, 15000);
