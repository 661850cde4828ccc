/**
 * The libvirt example's life cycle, read-only refusals and lifecycle events
 * (issue 24) over a real UNIX socket with raw frames, without a real
 * libvirtd: the values and errors asserted here were recorded from
 * libvirtd 9.0 (examples/libvirt/NOTES.md), and libvirt-conformance.test.ts
 * compares the same behaviour with the real daemon where one is installed.
 */
import { once } from 'events';

import { xdr } from 'xdrd';

import { createLibvirtServer } from '../examples/libvirt/server';
import * as R from '../examples/libvirt/remote';
import { cleanUp, socketPath, track } from './helpers/harness';
import { RawPeer, TYPE_MESSAGE, TYPE_REPLY, frame } from './helpers/raw-peer';
import type { Frame } from './helpers/raw-peer';
import { remoteError } from '../lib/errors';

afterEach(cleanUp);

const PROG = R.REMOTE_PROGRAM;
/** Procedure numbers by their libvirt names: P.REMOTE_PROC_DOMAIN_SUSPEND is 34. */
const P: Record<string, number> = Object.fromEntries(Object.entries(R.remote.procedures).map(([k, v]) => [`REMOTE_PROC_${k.toUpperCase()}`, v.id]));
const TEST = { name: 'test', uuid: Buffer.from('6695eb01f6a4830479aa97f2502e193f', 'hex'), id: 1 };
const GHOST = { name: 'zzz', uuid: Buffer.alloc(16), id: 5 };
type Dom = { name: string; uuid: Buffer; id: number };

async function start() {
  const { server, store } = createLibvirtServer();
  track(server);
  const address = (await server.listen({ path: socketPath() })) as { path: string };
  return { server, store, address };
}

interface LifecycleMsg {
  callbackID: number;
  name: string;
  id: number;
  event: number;
  detail: number;
}

/** A raw connection: calls answered one at a time, events set aside as they come. */
class Peer {
  serial = 0;
  readonly events: LifecycleMsg[] = [];
  readonly eventFrames: Frame[] = [];
  private constructor(readonly raw: RawPeer) {}

  static async open(address: { path: string }, flags = 0): Promise<Peer> {
    const p = new Peer(await RawPeer.connect(address));
    const r = await p.call(P.REMOTE_PROC_CONNECT_OPEN, xdr.encode(R.remote_connect_open_args, { name: 'test:///default', flags }));
    expect(r.status).toBe(0);
    return p;
  }

  async call(proc: number, body: Uint8Array = Buffer.alloc(0)): Promise<Frame> {
    const serial = this.serial++;
    this.raw.send(frame(PROG, 1, proc, serial, body));
    for (;;) {
      const f = await this.raw.next();
      if (f.type === TYPE_MESSAGE) {
        this.#event(f);
        continue;
      }
      expect(f.type).toBe(TYPE_REPLY);
      expect([f.proc, f.serial]).toEqual([proc, serial]);
      return f;
    }
  }

  /** A call that must succeed; its reply body. */
  async ok(proc: number, body: Uint8Array = Buffer.alloc(0)): Promise<Buffer> {
    const f = await this.call(proc, body);
    if (f.status !== 0) throw new Error(`proc ${proc}: ${JSON.stringify(errorOf(f.body))}`);
    return f.body;
  }

  /** A call that must fail: code, domain, message. */
  async fails(proc: number, body: Uint8Array = Buffer.alloc(0)) {
    const f = await this.call(proc, body);
    expect(f.status).toBe(1);
    return errorOf(f.body);
  }

  async state(dom: Dom = TEST) {
    const r = xdr.decode(R.remote_domain_get_state_ret, await this.ok(P.REMOTE_PROC_DOMAIN_GET_STATE, xdr.encode(R.remote_domain_get_state_args, { dom, flags: 0 })));
    const id = xdr.decode(R.remote_domain_lookup_by_name_ret, await this.ok(P.REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, xdr.encode(R.remote_domain_lookup_by_name_args, { name: dom.name }))).dom.id;
    return [r.state, r.reason, id];
  }

  /** Waits until `n` events have come (they may trail the reply that caused them). */
  async eventsUntil(n: number): Promise<LifecycleMsg[]> {
    while (this.events.length < n) {
      const f = await this.raw.next();
      expect(f.type).toBe(TYPE_MESSAGE);
      this.#event(f);
    }
    return this.events.splice(0);
  }

  /** A lifecycle MESSAGE, kept whole and decoded. */
  #event(f: Frame): void {
    this.eventFrames.push(f);
    const m = xdr.decode(R.remote_domain_event_callback_lifecycle_msg, f.body);
    this.events.push({ callbackID: m.callbackID, name: m.msg.dom.name, id: m.msg.dom.id, event: m.msg.event, detail: m.msg.detail });
  }
}

function errorOf(body: Buffer) {
  const e = xdr.decode(remoteError, body);
  return { code: e.code, domain: e.domain, message: e.message };
}

const domArgs = (dom: Dom) => xdr.encode(R.remote_domain_suspend_args, { dom });
const domFlags = (dom: Dom, flags: number) => xdr.encode(R.remote_domain_reboot_args, { dom, flags });
const register = (eventID: number, dom: Dom | null) => xdr.encode(R.remote_connect_domain_event_callback_register_any_args, { eventID, dom });

const RUNNING = 1, PAUSED = 3, SHUTOFF = 5;
const notRunning = { code: 1, domain: 12, message: "internal error: domain 'test' not running" };
const notPaused = { code: 1, domain: 12, message: "internal error: domain 'test' not paused" };
const invalid = { code: 55, domain: 20, message: 'Requested operation is not valid: domain is not running' };

test('each operation leaves the state, reason and id libvirtd leaves; the wrong state gets its error and changes nothing', async () => {
  const { address } = await start();
  const p = await Peer.open(address);
  expect(await p.state()).toEqual([RUNNING, 0, 1]);
  expect(await p.fails(P.REMOTE_PROC_DOMAIN_CREATE, domArgs(TEST))).toEqual({ code: 1, domain: 12, message: "internal error: Domain 'test' is already running" });
  expect(await p.fails(P.REMOTE_PROC_DOMAIN_RESUME, domArgs(TEST))).toEqual(notPaused);
  await p.ok(P.REMOTE_PROC_DOMAIN_SUSPEND, domArgs(TEST));
  expect(await p.state()).toEqual([PAUSED, 1, 1]);  // paused (user)
  expect(await p.fails(P.REMOTE_PROC_DOMAIN_SUSPEND, domArgs(TEST))).toEqual(notRunning);
  expect(await p.state()).toEqual([PAUSED, 1, 1]);
  await p.ok(P.REMOTE_PROC_DOMAIN_RESUME, domArgs(TEST));
  expect(await p.state()).toEqual([RUNNING, 5, 1]);  // running (unpaused)
  await p.ok(P.REMOTE_PROC_DOMAIN_DESTROY, domArgs(TEST));
  expect(await p.state()).toEqual([SHUTOFF, 2, -1]);  // shut off (destroyed)
  for (const [proc, err] of [[P.REMOTE_PROC_DOMAIN_DESTROY, invalid], [P.REMOTE_PROC_DOMAIN_SUSPEND, notRunning], [P.REMOTE_PROC_DOMAIN_RESUME, notPaused], [P.REMOTE_PROC_DOMAIN_SHUTDOWN, notRunning]] as const) {
    expect(await p.fails(proc, domArgs(TEST))).toEqual(err);
  }
  expect(await p.fails(P.REMOTE_PROC_DOMAIN_REBOOT, domFlags(TEST, 0))).toEqual(invalid);
  expect(await p.state()).toEqual([SHUTOFF, 2, -1]);
  await p.ok(P.REMOTE_PROC_DOMAIN_CREATE, domArgs(TEST));
  expect(await p.state()).toEqual([RUNNING, 1, 2]);  // running (booted), the next id
  await p.ok(P.REMOTE_PROC_DOMAIN_SHUTDOWN, domArgs(TEST));
  expect(await p.state()).toEqual([SHUTOFF, 1, -1]);  // shut off (shutdown)
  await p.ok(P.REMOTE_PROC_DOMAIN_CREATE, domArgs(TEST));
  await p.ok(P.REMOTE_PROC_DOMAIN_SUSPEND, domArgs(TEST));
  await p.ok(P.REMOTE_PROC_DOMAIN_REBOOT, domFlags(TEST, 0));
  expect(await p.state()).toEqual([RUNNING, 1, 3]);  // a reboot keeps the id, even from paused
  expect(await p.fails(P.REMOTE_PROC_DOMAIN_REBOOT, domFlags(TEST, 0x20))).toEqual({ code: 8, domain: 12, message: 'unsupported flags (0x20) in function testDomainReboot' });
  p.raw.destroy();
});

test('undefine: a running domain runs on, transient, and goes when it stops; an inactive one goes at once', async () => {
  const { server, address } = await start();
  const p = await Peer.open(address);
  const persistent = async () => xdr.decode(R.remote_domain_is_persistent_ret, await p.ok(P.REMOTE_PROC_DOMAIN_IS_PERSISTENT, domArgs(TEST))).persistent;
  const listed = async () => xdr.decode(R.remote_connect_list_all_domains_ret, await p.ok(P.REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS, xdr.encode(R.remote_connect_list_all_domains_args, { need_results: 1, flags: 0 }))).domains.map((d) => d.name);
  // Flags first: an unknown flag is refused even for a domain that does not exist.
  expect(await p.fails(P.REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS, domFlags(GHOST, 4))).toEqual({ code: 8, domain: 12, message: 'unsupported flags (0x4) in function testDomainUndefineFlags' });
  await p.ok(P.REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS, domFlags(TEST, 3));
  expect(await persistent()).toBe(0);
  expect(await p.state()).toEqual([RUNNING, 0, 1]);
  await p.ok(P.REMOTE_PROC_DOMAIN_UNDEFINE, domArgs(TEST));  // already transient: still OK (recorded)
  await p.ok(P.REMOTE_PROC_DOMAIN_DESTROY, domArgs(TEST));
  expect(await listed()).toEqual([]);
  const gone = await p.fails(P.REMOTE_PROC_DOMAIN_CREATE, domArgs(TEST));
  expect(gone).toEqual({ code: 42, domain: 12, message: "Domain not found: no domain with matching uuid '6695eb01-f6a4-8304-79aa-97f2502e193f' (test)" });
  // The node is let go when the server's 'disconnect' event says the last
  // connection left; a connection opened before that shares the old node.
  const left = once(server, 'disconnect');
  p.raw.destroy();
  await left;

  // A fresh node (the last connection left): inactive, then undefined.
  const q = await Peer.open(address);
  await q.ok(P.REMOTE_PROC_DOMAIN_DESTROY, domArgs(TEST));
  await q.ok(P.REMOTE_PROC_DOMAIN_UNDEFINE, domArgs(TEST));
  expect(errorOf((await q.call(P.REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, xdr.encode(R.remote_domain_lookup_by_name_args, { name: 'test' }))).body)).toEqual({ code: 42, domain: 12, message: 'Domain not found' });
  q.raw.destroy();
});

test('every write procedure on a read-only connection is refused with OPERATION_DENIED, and the node is unchanged', async () => {
  const { address } = await start();
  const rw = await Peer.open(address);
  const ro = await Peer.open(address, 1);
  const writes: [number, Uint8Array, string][] = [
    [P.REMOTE_PROC_DOMAIN_CREATE, domArgs(TEST), 'virDomainCreate'],
    [P.REMOTE_PROC_DOMAIN_DESTROY, domArgs(TEST), 'virDomainDestroy'],
    [P.REMOTE_PROC_DOMAIN_SHUTDOWN, domArgs(TEST), 'virDomainShutdown'],
    [P.REMOTE_PROC_DOMAIN_REBOOT, domFlags(TEST, 0), 'virDomainReboot'],
    [P.REMOTE_PROC_DOMAIN_SUSPEND, domArgs(TEST), 'virDomainSuspend'],
    [P.REMOTE_PROC_DOMAIN_RESUME, domArgs(TEST), 'virDomainResume'],
    [P.REMOTE_PROC_DOMAIN_UNDEFINE, domArgs(TEST), 'virDomainUndefine'],
    [P.REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS, domFlags(TEST, 4), 'virDomainUndefineFlags'],  // before the flags check
    [P.REMOTE_PROC_DOMAIN_SUSPEND, domArgs(GHOST), 'virDomainSuspend'],  // before the lookup
  ];
  for (const [proc, body, api] of writes) {
    expect(await ro.fails(proc, body)).toEqual({ code: 29, domain: 20, message: `operation forbidden: read only access prevents ${api}` });
  }
  // Reading and event registration stay allowed.
  expect(await ro.state()).toEqual([RUNNING, 0, 1]);
  expect(xdr.decode(R.remote_connect_domain_event_callback_register_any_ret, await ro.ok(P.REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, register(0, null))).callbackID).toBe(0);
  // The read-write connection can still act, and the read-only one hears it.
  await rw.ok(P.REMOTE_PROC_DOMAIN_SUSPEND, domArgs(TEST));
  expect(await ro.eventsUntil(1)).toEqual([{ callbackID: 0, name: 'test', id: 1, event: 3, detail: 0 }]);
  rw.raw.destroy();
  ro.raw.destroy();
});

test('lifecycle events: every registered connection, the acting one included, in its own order; filters and deregistration hold', async () => {
  const { address, server } = await start();
  const a = await Peer.open(address);
  const b = await Peer.open(address);
  const c = await Peer.open(address);  // registers nothing: hears nothing
  const id = async (p: Peer, eventID: number, dom: Dom | null) =>
    xdr.decode(R.remote_connect_domain_event_callback_register_any_ret, await p.ok(P.REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, register(eventID, dom))).callbackID;
  // Callback ids are the node's: one counter for every connection.
  expect(await id(a, 0, null)).toBe(0);
  expect(await id(b, 0, TEST)).toBe(1);
  expect(await id(b, 0, GHOST)).toBe(2);  // a domain that does not exist is accepted
  expect(await id(a, 1, null)).toBe(3);  // REBOOT: never raised by the test driver
  expect(await a.fails(P.REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, register(27, null))).toEqual({ code: 1, domain: 7, message: 'internal error: unsupported event ID 27' });
  for (const proc of [P.REMOTE_PROC_DOMAIN_SUSPEND, P.REMOTE_PROC_DOMAIN_RESUME, P.REMOTE_PROC_DOMAIN_DESTROY, P.REMOTE_PROC_DOMAIN_CREATE]) await a.ok(proc, domArgs(TEST));
  await a.ok(P.REMOTE_PROC_DOMAIN_REBOOT, domFlags(TEST, 0));  // no event
  await a.ok(P.REMOTE_PROC_DOMAIN_SHUTDOWN, domArgs(TEST));
  const expected = (callbackID: number) => [
    { callbackID, name: 'test', id: 1, event: 3, detail: 0 },  // SUSPENDED PAUSED
    { callbackID, name: 'test', id: 1, event: 4, detail: 0 },  // RESUMED UNPAUSED
    { callbackID, name: 'test', id: -1, event: 5, detail: 1 },  // STOPPED DESTROYED
    { callbackID, name: 'test', id: 2, event: 2, detail: 0 },  // STARTED BOOTED, the new id
    { callbackID, name: 'test', id: -1, event: 5, detail: 0 },  // STOPPED SHUTDOWN
  ];
  expect(await a.eventsUntil(5)).toEqual(expected(0));
  expect(await b.eventsUntil(5)).toEqual(expected(1));
  // libvirtd's events carry serial 1.
  expect(new Set([...a.eventFrames, ...b.eventFrames].map((f) => `${f.proc}/${f.serial}/${f.status}`))).toEqual(new Set(['318/1/0']));
  // Deregistered: no more events; an id it does not hold is refused.
  await b.ok(P.REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, xdr.encode(R.remote_connect_domain_event_callback_deregister_any_args, { callbackID: 1 }));
  expect(await b.fails(P.REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, xdr.encode(R.remote_connect_domain_event_callback_deregister_any_args, { callbackID: 1 }))).toEqual({ code: 1, domain: 7, message: 'internal error: domain event callback 1 not registered' });
  // A listener that leaves does not disturb the others.
  b.raw.destroy();
  await a.ok(P.REMOTE_PROC_DOMAIN_CREATE, domArgs(TEST));
  expect(await a.eventsUntil(1)).toEqual([{ callbackID: 0, name: 'test', id: 3, event: 2, detail: 0 }]);
  await c.ok(P.REMOTE_PROC_CONNECT_GET_TYPE);
  expect(c.events).toEqual([]);
  expect(c.eventFrames).toEqual([]);
  expect(server.stats().eventsDropped).toBe(0);
  a.raw.destroy();
  c.raw.destroy();
});

test('bad input of every kind gets an error reply, changes nothing, and leaves another connection served', async () => {
  const { address, server } = await start();
  const a = await Peer.open(address);
  const b = await Peer.open(address);
  await b.ok(P.REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, register(0, null));
  const listed = async () => xdr.decode(R.remote_connect_list_all_domains_ret, await a.ok(P.REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS, xdr.encode(R.remote_connect_list_all_domains_args, { need_results: 1, flags: 0 }))).domains.map((d) => [d.name, d.id]);
  const before = await listed();
  const define = (xml: string) => xdr.encode(R.remote_domain_define_xml_args, { xml });
  const bad: [string, number, Uint8Array, { code: number; domain: number; message: string | RegExp }][] = [
    ['an unknown domain', P.REMOTE_PROC_DOMAIN_SUSPEND!, domArgs(GHOST), { code: 42, domain: 12, message: "Domain not found: no domain with matching uuid '00000000-0000-0000-0000-000000000000' (zzz)" }],
    ['the wrong state', P.REMOTE_PROC_DOMAIN_RESUME!, domArgs(TEST), notPaused],
    ['an unknown flag', P.REMOTE_PROC_DOMAIN_REBOOT!, domFlags(TEST, 1 << 30), { code: 8, domain: 12, message: 'unsupported flags (0x40000000) in function testDomainReboot' }],
    ['malformed XML', P.REMOTE_PROC_DOMAIN_DEFINE_XML!, define('<domain'), { code: 35, domain: 20, message: /^\(domain_definition\):1: Couldn't find end of Start Tag domain line 1\n/ }],
    ['XML without a name', P.REMOTE_PROC_DOMAIN_DEFINE_XML!, define("<domain type='test'><memory>1024</memory><os><type>hvm</type></os></domain>"), { code: 21, domain: 20, message: 'missing name information' }],
    ['a name clash', P.REMOTE_PROC_DOMAIN_DEFINE_XML!, define("<domain type='test'><name>test</name><memory>1024</memory><os><type>hvm</type></os></domain>"), { code: 9, domain: 20, message: "operation failed: domain 'test' already exists with uuid 6695eb01-f6a4-8304-79aa-97f2502e193f" }],
    ['3 MiB of XML, well formed but incomplete', P.REMOTE_PROC_DOMAIN_DEFINE_XML!, define(`<domain type='test'><name>big</name><description>${'x'.repeat(3 << 20)}</description><memory>1024</memory></domain>`), { code: 27, domain: 20, message: 'XML error: an os <type> must be specified' }],
    ['3 MiB of malformed XML', P.REMOTE_PROC_DOMAIN_DEFINE_XML!, define(`<domain type='test'><name>big</name><description>${'<x>'.repeat(1 << 20)}</description></domain>`), { code: 35, domain: 20, message: /^\(domain_definition\):1: / }],
    ['arguments that do not decode', P.REMOTE_PROC_DOMAIN_SUSPEND!, Buffer.from([0, 0, 0, 9, 1]), { code: 39, domain: 7, message: /^Unable to decode message payload/ }],
    ['a string past REMOTE_STRING_MAX', P.REMOTE_PROC_DOMAIN_DEFINE_XML!, Buffer.concat([Buffer.from([0, 0x40, 0, 1]), Buffer.alloc(64)]), { code: 39, domain: 7, message: /^Unable to decode message payload/ }],
  ];
  for (const [what, proc, body, want] of bad) {
    const e = await a.fails(proc, body);
    expect({ what, code: e.code, domain: e.domain }).toEqual({ what, code: want.code, domain: want.domain });
    if (typeof want.message === 'string') expect(e.message).toBe(want.message);
    else expect(e.message).toMatch(want.message);
    // The other connection is still served, between every bad call.
    expect(await b.state()).toEqual([RUNNING, 0, 1]);
  }
  expect(await listed()).toEqual(before);
  expect(b.events).toEqual([]);  // nothing changed, so nothing was raised
  expect(server.connections.size).toBe(2);
  a.raw.destroy();
  b.raw.destroy();
});

test('define, start, redefine while running, stop: the new definition takes over only when the domain stops', async () => {
  const { address } = await start();
  const p = await Peer.open(address);
  await p.ok(P.REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, register(0, null));
  const uuid = '4d5b3e1a-0c6f-4b6e-9d7a-2f3c1b0a9e8d';
  const xml = (mem: number) => `<domain type='test'><name>vm1</name><uuid>${uuid}</uuid><memory unit='MiB'>${mem}</memory><os><type>hvm</type></os></domain>`;
  const defined = xdr.decode(R.remote_domain_define_xml_ret, await p.ok(P.REMOTE_PROC_DOMAIN_DEFINE_XML, xdr.encode(R.remote_domain_define_xml_args, { xml: xml(64) }))).dom;
  expect(defined).toEqual({ name: 'vm1', uuid: Buffer.from(uuid.replace(/-/g, ''), 'hex'), id: -1 });
  const maxMem = async () => xdr.decode(R.remote_domain_get_info_ret, await p.ok(P.REMOTE_PROC_DOMAIN_GET_INFO, domArgs(defined))).maxMem;
  expect(await p.state(defined)).toEqual([SHUTOFF, 0, -1]);
  await p.ok(P.REMOTE_PROC_DOMAIN_CREATE, domArgs(defined));
  const running = { ...defined, id: 2 };
  await p.ok(P.REMOTE_PROC_DOMAIN_DEFINE_XML, xdr.encode(R.remote_domain_define_xml_args, { xml: xml(128) }));
  expect(await maxMem()).toBe(65536n);  // still the live definition
  await p.ok(P.REMOTE_PROC_DOMAIN_DESTROY, domArgs(running));
  expect(await maxMem()).toBe(131072n);
  expect(await p.eventsUntil(4)).toEqual([
    { callbackID: 0, name: 'vm1', id: -1, event: 0, detail: 0 },  // DEFINED ADDED
    { callbackID: 0, name: 'vm1', id: 2, event: 2, detail: 0 },  // STARTED BOOTED
    { callbackID: 0, name: 'vm1', id: 2, event: 0, detail: 1 },  // DEFINED UPDATED
    { callbackID: 0, name: 'vm1', id: -1, event: 5, detail: 1 },  // STOPPED DESTROYED
  ]);
  p.raw.destroy();
});
