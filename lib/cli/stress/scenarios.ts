/**
 * The stress scenarios: each an async function given the round's context
 * (addresses, its own random stream, scale, the shared ledger and tally).
 * Each does a bounded amount of work, waits only as long as the run's
 * deadline or the reaction bound allows, and leaves no socket open.
 *
 * Every abuse checks what the server did about it, peer by peer (the
 * `hello` call tells the driver which server-side connection a peer is, so
 * the server's own disconnect reason can be compared), and counts itself in
 * the tally so that the report can prove it happened.
 */
import { Client, ErrorCode, liveCounts, xdr } from '../../index';
import type { CloseResult, DisconnectReason, LiveCounts, Server } from '../../index';
import {
  KEEPALIVE_PROC_PING,
  KEEPALIVE_PROGRAM,
  KEEPALIVE_VERSION,
  TYPE_CALL_WITH_FDS,
  TYPE_MESSAGE,
  TYPE_REPLY,
  TYPE_REPLY_WITH_FDS,
  TYPE_STREAM,
  TYPE_STREAM_HOLE,
} from '../../libvirt/wire';
import { Peer, buildFrame } from './peer';
import type { Check, Incoming, Ledger, Outcome, StressAddress } from './peer';
import { MAX_DATA, STRESS_PROGRAM, STRESS_VERSION, StressProgram } from './program';
import type { Identities, Latches } from './program';
import type { Random } from './random';

/** A sample call of the user's module. */
export interface UserCall {
  program: number;
  version: number;
  procedure: number;
  body?: Uint8Array;
}

/** The server options the scenarios rely on, and the driver's own timing. */
export interface Limits {
  maxClients: number;
  maxMessageBytes: number;
  maxSendQueueBytes: number;
  frameTimeoutMs: number;
  callDeadlineMs: number;
  closeGraceMs: number;
  /** How long the driver waits for a reaction of the server before calling it missing. */
  reactionMs: number;
}

/** Counters of what the driver did and saw, by name. */
export class Tally {
  readonly #counts = new Map<string, number>();

  add(key: string, n = 1): void {
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + n);
  }

  get(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  /** The counts whose key starts with `prefix`, without it, largest first. */
  withPrefix(prefix: string): [string, number][] {
    return [...this.#counts]
      .filter(([k]) => k.startsWith(prefix))
      .map(([k, v]): [string, number] => [k.slice(prefix.length), v])
      .sort((a, b) => b[1] - a[1]);
  }
}

/** How much of each thing one round does; the same for every round. */
export interface Plan {
  pipelinedPeers: number;
  pipelinedCalls: number;
  userPeers: number;
  userRepeats: number;
  clientCalls: number;
  closingReps: number;
  keptReps: number;
  stalls: number;
  midFrameCuts: number;
  midCallHeldCuts: number;
  midCallBurstCuts: number;
  neverReaders: number;
  slowReaderCalls: number;
  deadlineCalls: number;
  burstExtra: number;
  closeLoaders: number;
  closeHolders: number;
  lanes: number;
}

/** Kinds of call the pipelined peers mix; the first wave of each peer has one of each. */
const MIXED_KINDS = ['echo', 'slow', 'latched', 'throw', 'reject', 'refuse', 'badResult', 'events', 'ping'] as const;
type MixedKind = (typeof MIXED_KINDS)[number];
/** Relative weights of the kinds after the first wave. */
const WEIGHTS: Record<MixedKind, number> = { echo: 40, slow: 15, latched: 10, throw: 4, reject: 4, refuse: 5, badResult: 2, events: 6, ping: 4 };

export const SLOW_READER_EVENT_COUNT = 16;
const SLOW_READER_EVENT_SIZE = 8192;
/** A never-reading client asks for this much: far past the send-queue bound plus what the kernel holds. */
const NEVER_READER_EVENT_COUNT = 48;
const NEVER_READER_EVENT_SIZE = 32768;

export function makePlan(scale: number, clients: number, userCalls: number): Plan {
  const n = (base: number, min: number): number => Math.max(min, Math.round(base * scale));
  return {
    pipelinedPeers: clients,
    pipelinedCalls: n(1500, 12),
    userPeers: userCalls > 0 ? Math.max(1, Math.ceil(clients / 2)) : 0,
    userRepeats: userCalls > 0 ? n(Math.ceil(600 / userCalls), 2) : 0,
    clientCalls: n(400, 10),
    closingReps: n(3, 1),
    keptReps: n(12, 2),
    stalls: n(6, 2),
    midFrameCuts: n(12, 2),
    midCallHeldCuts: n(12, 2),
    midCallBurstCuts: n(8, 1),
    neverReaders: n(2, 1),
    slowReaderCalls: n(8, 2),
    // At most the request budget (5): more would wait for the first ones' deadline.
    deadlineCalls: Math.min(5, n(4, 2)),
    burstExtra: n(24, 8),
    closeLoaders: Math.max(2, Math.ceil(clients / 2)),
    closeHolders: n(3, 1),
    lanes: 4,
  };
}

export interface StressContext {
  server: Server;
  unix: StressAddress;
  tcp: StressAddress;
  plan: Plan;
  ledger: Ledger;
  tally: Tally;
  latches: Latches;
  ids: Identities;
  limits: Limits;
  userCalls: readonly UserCall[];
  /** Date.now() after which every wait gives up (the run's --seconds). */
  deadline: number;
  /** Peers opened this round, destroyed at its end whatever happened. */
  peers: Set<Peer>;
}

// ---- Helpers --------------------------------------------------------------

const EMPTY = Buffer.alloc(0);
const P = StressProgram.procedures;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export function timeUp(ctx: StressContext): boolean {
  return Date.now() >= ctx.deadline;
}

/**
 * `p`, or undefined once `capMs` (default: the reaction bound) or the run's
 * deadline passes, whichever comes first.
 */
export async function bounded<T>(ctx: StressContext, p: Promise<T>, capMs = ctx.limits.reactionMs): Promise<T | undefined> {
  const ms = Math.max(0, Math.min(ctx.deadline - Date.now(), capMs));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once `condition()` holds, checking every millisecond; false if the bound passes first. */
export async function waitUntil(ctx: StressContext, condition: () => boolean, capMs = ctx.limits.reactionMs): Promise<boolean> {
  const until = Math.min(ctx.deadline, Date.now() + capMs);
  while (!condition()) {
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
  return true;
}

/**
 * Done with a peer that should have been answered in full: end() (pending
 * calls are missing), or, once the run is out of time, abandon() (they are
 * not counted: the time limit itself fails the run).
 */
async function finish(ctx: StressContext, peer: Peer): Promise<void> {
  if (timeUp(ctx)) peer.abandon();
  else await peer.end();
}

async function connect(ctx: StressContext, rng: Random, label: string, transport?: 'unix' | 'tcp'): Promise<Peer> {
  const t = transport ?? (rng.chance(0.3) ? 'tcp' : 'unix');
  const peer = await Peer.connect(t === 'tcp' ? ctx.tcp : ctx.unix, ctx.ledger, label);
  ctx.peers.add(peer);
  void peer.closed.then(() => ctx.peers.delete(peer));
  ctx.tally.add(`connects.${t}`);
  return peer;
}

/** Binds the peer to a fresh token (see Identities); undefined if hello was not answered. */
async function hello(ctx: StressContext, peer: Peer): Promise<number | undefined> {
  const token = ctx.ids.create();
  const o = await bounded(ctx, peer.call(STRESS_PROGRAM, STRESS_VERSION, P.hello.id, xdr.encode(P.hello.args, { token }), expectValue(P.hello.result, () => undefined)));
  return o?.kind === 'ok' ? token : undefined;
}

function describeOutcome(o: Outcome): string {
  return o.kind === 'ok' ? `a result (${o.body.length} bytes)` : `error ${o.error.code} '${o.error.message}'`;
}

/** A result that decodes with `schema` and passes `test`. */
function expectValue<S extends xdr.Schema>(schema: S, test: (v: xdr.Static<S>) => string | undefined): Check {
  return (o) => {
    if (o.kind !== 'ok') return `expected a result, got ${describeOutcome(o)}`;
    let v: xdr.Static<S>;
    try {
      v = xdr.decode(schema, o.body);
    } catch (e) {
      return `the result does not decode: ${(e as Error).message}`;
    }
    return test(v);
  };
}

function sameBytes(expected: Uint8Array): (v: Buffer) => string | undefined {
  return (v) => (Buffer.compare(v, expected) === 0 ? undefined : `expected ${expected.length} bytes back, got ${v.length} different ones`);
}

/** An error reply with this code (and text in its message, if given). */
function expectError(code: number, text?: string): Check {
  return (o) => {
    if (o.kind !== 'error') return `expected error ${code}, got ${describeOutcome(o)}`;
    if (o.error.code !== code) return `expected error ${code}, got ${describeOutcome(o)}`;
    if (text !== undefined && !o.error.message.includes(text)) return `expected '${text}' in the message, got '${o.error.message}'`;
    return undefined;
  };
}

/** The first check that accepts the outcome wins; otherwise the first complaint. */
function anyOf(...checks: Check[]): Check {
  return (o) => {
    let first: string | undefined;
    for (const c of checks) {
      const complaint = c(o);
      if (complaint === undefined) return undefined;
      first ??= complaint;
    }
    return first;
  };
}

/** Counts `key` in the tally when the check passes: outcomes by kind. */
function counted(check: Check, ctx: StressContext, key: string): Check {
  return (o) => {
    const complaint = check(o);
    if (complaint === undefined) ctx.tally.add(key);
    return complaint;
  };
}

/** OPERATION_TIMEOUT from callDeadlineMs: acceptable for any asynchronous handler. */
function timedOut(ctx: StressContext): Check {
  return counted(expectError(ErrorCode.OPERATION_TIMEOUT, 'Timed out during operation'), ctx, 'deadline.timeouts');
}

/** What close() answers for calls it cancels. */
function shutDown(ctx: StressContext): Check {
  return counted(expectError(ErrorCode.INTERNAL_ERROR, 'server is shutting down'), ctx, 'close.shutdownReplies');
}

/** Opens `latch` once its handler holds it, after a random number of turns (out-of-order completion). */
function openWhenHeld(ctx: StressContext, latch: number, turns: number): void {
  void ctx.latches.whenHeld(latch).then(async (held) => {
    if (!held) return;
    for (let i = 0; i < turns; i++) await turn();
    if (ctx.latches.open(latch)) ctx.tally.add('latched.released');
  });
}

/** Tracks a peer's tick events per tag (the serial of the events call): all, in order, before the reply. */
class EventBook {
  readonly #seen = new Map<number, { count: number; got: number; replied: boolean }>();

  constructor(
    private readonly ctx: StressContext,
    private readonly peer: Peer,
  ) {
    peer.onMessage = (m) => this.#onMessage(m);
  }

  expect(tag: number, count: number): void {
    this.#seen.set(tag, { count, got: 0, replied: false });
  }

  /** The check of the events call's reply. */
  check(tag: number, count: number, key: string): Check {
    return (o) => {
      const complaint = expectValue(P.events.result, (v) => (v === count ? undefined : `${v} events queued, not ${count}`))(o);
      if (complaint !== undefined) return complaint;
      const e = this.#seen.get(tag);
      if (e === undefined) return 'no record of the events call';
      e.replied = true;
      if (e.got !== count) return `the reply came after ${e.got} of its ${count} events`;
      this.ctx.tally.add(key, count);
      this.#seen.delete(tag);
      return undefined;
    };
  }

  #onMessage(m: Incoming): void {
    const tick = StressProgram.events.tick;
    const bad = (what: string): void => {
      this.ctx.ledger.wrong++;
      this.ctx.ledger.note(`${this.peer.label}: event ${what}`);
    };
    if (m.prog !== tick.program || m.vers !== tick.version || m.proc !== tick.id || m.serial !== 0) return bad(`with header ${m.prog}/${m.vers}/${m.proc} serial ${m.serial}`);
    let v: xdr.Static<typeof tick.body>;
    try {
      v = xdr.decode(tick.body, m.body);
    } catch (e) {
      return bad(`that does not decode: ${(e as Error).message}`);
    }
    const e = this.#seen.get(v.tag);
    if (e === undefined || e.replied) return bad(`for tag ${v.tag}, after its reply or never asked for`);
    if (v.seq !== e.got) return bad(`${v.seq} of tag ${v.tag} came as number ${e.got}`);
    if (v.data.length === 0 ? false : v.data.some((b) => b !== (v.seq & 0xff))) return bad(`${v.seq} of tag ${v.tag} has the wrong data`);
    e.got++;
  }
}

function randomData(rng: Random): Buffer {
  return rng.bytes(rng.chance(0.05) ? rng.int(1024, 16384) : rng.int(0, 256));
}

const PING = buildFrame({ prog: KEEPALIVE_PROGRAM, vers: KEEPALIVE_VERSION, proc: KEEPALIVE_PROC_PING, serial: 0, type: TYPE_MESSAGE });

interface MixOptions {
  /** close() may answer or cut any call. */
  closing?: boolean;
}

/**
 * Sends one call of `kind` on `peer`, with the check its reply must pass.
 * Returns whether a call (not a PING) was sent.
 */
function sendKind(ctx: StressContext, rng: Random, peer: Peer, book: EventBook, kind: MixedKind, opts: MixOptions = {}): boolean {
  const send = (proc: { id: number }, body: Uint8Array, check: Check): void => {
    void peer.call(STRESS_PROGRAM, STRESS_VERSION, proc.id, body, opts.closing ? anyOf(check, shutDown(ctx)) : check);
  };
  switch (kind) {
    case 'echo': {
      const data = randomData(rng);
      send(P.echo, xdr.encode(P.echo.args, { data }), counted(expectValue(P.echo.result, sameBytes(data)), ctx, 'handler.echo'));
      return true;
    }
    case 'slow': {
      const data = randomData(rng);
      const turns = rng.int(1, 12);
      send(P.slow, xdr.encode(P.slow.args, { turns, data }), anyOf(counted(expectValue(P.slow.result, sameBytes(data)), ctx, 'handler.slow'), timedOut(ctx)));
      return true;
    }
    case 'latched': {
      const latch = ctx.latches.create();
      send(P.latched, xdr.encode(P.latched.args, { latch }), anyOf(counted(expectValue(P.latched.result, (v) => (v === latch ? undefined : `latch ${v}, not ${latch}`)), ctx, 'handler.latched'), timedOut(ctx)));
      openWhenHeld(ctx, latch, rng.int(0, 6));
      return true;
    }
    case 'throw': {
      const how = rng.int(0, 2);
      send(P.throwPlain, xdr.encode(P.throwPlain.args, { how }), counted(expectError(ErrorCode.INTERNAL_ERROR, how === 0 ? 'thrown on purpose' : 'a non-Error value was thrown'), ctx, 'handler.throws'));
      return true;
    }
    case 'reject': {
      const turns = rng.int(0, 3);
      send(P.reject, xdr.encode(P.reject.args, { turns }), anyOf(counted(expectError(ErrorCode.INTERNAL_ERROR, 'rejected on purpose'), ctx, 'handler.rejects'), timedOut(ctx)));
      return true;
    }
    case 'refuse': {
      const code = rng.pick([ErrorCode.INVALID_ARG, ErrorCode.OPERATION_INVALID, ErrorCode.ACCESS_DENIED, rng.int(1000, 100000)]);
      send(P.refuse, xdr.encode(P.refuse.args, { code }), counted(expectError(code, `refused with code ${code}`), ctx, 'handler.rpcErrors'));
      return true;
    }
    case 'badResult':
      send(P.badResult, EMPTY, counted(expectError(ErrorCode.INTERNAL_ERROR, 'cannot encode'), ctx, 'handler.badResults'));
      return true;
    case 'events': {
      const tag = peer.peekSerial();
      const count = rng.int(0, 4);
      book.expect(tag, count);
      send(P.events, xdr.encode(P.events.args, { tag, count, size: rng.int(0, 2048) }), book.check(tag, count, 'events.pipelined'));
      return true;
    }
    case 'ping':
      peer.send(PING);
      return false;
  }
}

function weightedKind(rng: Random): MixedKind {
  let total = 0;
  for (const k of MIXED_KINDS) total += WEIGHTS[k];
  let x = rng.next() * total;
  for (const k of MIXED_KINDS) {
    x -= WEIGHTS[k];
    if (x < 0) return k;
  }
  return 'echo';
}

/** A wave of kinds, never ending with a PING (its PONG then comes before the wave's last reply). */
function wave(rng: Random, size: number, first: boolean): MixedKind[] {
  const kinds = first ? rng.shuffle(MIXED_KINDS) : Array.from({ length: size }, () => weightedKind(rng));
  if (kinds[kinds.length - 1] === 'ping') kinds.push('echo');
  return kinds;
}

// ---- Load -------------------------------------------------------------------

/** Pipelined waves of every kind of call; the connection stays open, so every call must be answered once. */
export async function pipelined(ctx: StressContext, rng: Random, index: number): Promise<void> {
  // Odd peers over TCP, even ones over UNIX: both transports carry load every round.
  const peer = await connect(ctx, rng, 'pipelined', index % 2 === 1 ? 'tcp' : 'unix');
  const book = new EventBook(ctx, peer);
  let calls = 0;
  let pings = 0;
  if ((await hello(ctx, peer)) !== undefined) {
    let first = true;
    while (calls < ctx.plan.pipelinedCalls && peer.open && !timeUp(ctx)) {
      for (const kind of wave(rng, rng.int(1, 32), first)) {
        if (sendKind(ctx, rng, peer, book, kind)) calls++;
        else pings++;
      }
      first = false;
      await bounded(ctx, peer.settled(), Infinity);
    }
  }
  await finish(ctx, peer);
  ctx.tally.add('calls.pipelined', calls);
  ctx.tally.add('pings.sent', pings);
  ctx.tally.add('pings.answered', peer.pongs);
  if (peer.state === 'ended' && peer.pongs !== pings) ctx.ledger.badReaction(`${peer.label}: ${pings} keepalive PINGs got ${peer.pongs} PONGs`);
}

/** The user module's sample calls, pipelined; each must get exactly one reply or error reply. */
export async function userCalls(ctx: StressContext, rng: Random): Promise<void> {
  const peer = await connect(ctx, rng, 'user-calls');
  let calls = 0;
  for (let r = 0; r < ctx.plan.userRepeats && peer.open && !timeUp(ctx); r++) {
    for (const c of rng.shuffle(ctx.userCalls)) {
      void peer.call(c.program, c.version, c.procedure, c.body ?? EMPTY, (o) => {
        ctx.tally.add(o.kind === 'ok' ? 'user.results' : 'user.errors');
        return undefined;
      });
      calls++;
    }
    await bounded(ctx, peer.settled(), Infinity);
  }
  await finish(ctx, peer);
  ctx.tally.add('calls.user', calls);
}

/** The library's own Client: typed calls and typed events, as an application would. */
export async function libraryClient(ctx: StressContext, rng: Random): Promise<void> {
  const address = rng.chance(0.5) ? ctx.unix : ctx.tcp;
  const client = await Client.connect(address);
  const problems: string[] = [];
  client.on('error', (e) => problems.push(`client error: ${e.message}`));
  let ticks = 0;
  client.on(StressProgram.events.tick, () => ticks++);
  let wanted = 0;
  let settled = 0;
  const calls: Promise<void>[] = [];
  for (let i = 0; i < ctx.plan.clientCalls; i++) {
    const kind = rng.int(0, 9);
    let p: Promise<void>;
    if (kind < 7) {
      const data = randomData(rng);
      p = client.call(P.echo, { data }).then((v) => {
        if (Buffer.compare(v, data) !== 0) problems.push('echo came back different');
      });
    } else if (kind < 9) {
      const count = rng.int(1, 3);
      wanted += count;
      p = client.call(P.events, { tag: 0, count, size: 16 }).then((v) => {
        if (v !== count) problems.push(`events: ${v} queued, not ${count}`);
      });
    } else {
      p = client.call(P.refuse, { code: ErrorCode.INVALID_ARG }).then(
        () => void problems.push('refuse succeeded'),
        (e: { code?: unknown }) => {
          if (e.code !== ErrorCode.INVALID_ARG) problems.push(`refuse: ${String(e)}`);
        },
      );
    }
    calls.push(
      p.then(
        () => void settled++,
        (e: unknown) => {
          settled++;
          problems.push(`call failed: ${String(e)}`);
        },
      ),
    );
  }
  ctx.ledger.sent += calls.length;
  await bounded(ctx, Promise.all(calls), Infinity);
  ctx.ledger.answered += settled;
  if (settled < calls.length && timeUp(ctx)) {
    ctx.ledger.abandonedPending += calls.length - settled;
  } else if (settled < calls.length) {
    ctx.ledger.missing += calls.length - settled;
    ctx.ledger.note(`library client: ${calls.length - settled} call(s) never settled`);
  }
  // Events precede their reply, so every tick is in before the last call settles.
  if (ticks !== wanted) problems.push(`${ticks} tick events, ${wanted} asked for`);
  for (const p of problems.slice(0, 5)) ctx.ledger.note(`library client: ${p}`);
  ctx.ledger.wrong += problems.length;
  ctx.tally.add('calls.client', calls.length);
  await client.close();
}

// ---- Malformed frames ---------------------------------------------------------

interface ClosingKind {
  name: string;
  /** The server's disconnect reason. */
  reason: DisconnectReason;
  bytes(ctx: StressContext, rng: Random, serial: number): Buffer;
}

/** Frames after which the server must close the connection without a reply. */
export const CLOSING_KINDS: readonly ClosingKind[] = [
  { name: 'length word below 28', reason: 'protocol', bytes: (_c, rng) => u32(rng.int(0, 27)) },
  {
    name: 'length word above the maximum',
    reason: 'limit',
    bytes: (c, rng) => u32(rng.chance(0.5) ? c.limits.maxMessageBytes + 5 : rng.int(c.limits.maxMessageBytes + 5, 0xffffffff)),
  },
  {
    name: 'header of unknown type',
    reason: 'protocol',
    bytes: (_c, rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial, type: rng.chance(0.5) ? 99 : rng.int(7, 0xffffffff) }),
  },
  {
    name: 'CALL_WITH_FDS without its nfds word',
    reason: 'protocol',
    bytes: (_c, _rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial, type: TYPE_CALL_WITH_FDS }),
  },
  {
    name: 'CALL_WITH_FDS with more than 32 descriptors',
    reason: 'protocol',
    bytes: (_c, rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial, type: TYPE_CALL_WITH_FDS, nfds: rng.int(33, 0xffffffff) }),
  },
  {
    name: 'REPLY_WITH_FDS without its nfds word',
    reason: 'protocol',
    bytes: (_c, _rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial, type: TYPE_REPLY_WITH_FDS }),
  },
  {
    // The first byte ≥ 0x80 makes the length word larger than any maximum.
    name: 'garbage bytes',
    reason: 'limit',
    bytes: (_c, rng) => {
      const b = rng.bytes(rng.int(4, 600));
      b[0] = b[0]! | 0x80;
      return b;
    },
  },
];

interface AnsweredKind {
  name: string;
  /** Answered by the native loop (counted in errorReplies), not by a handler. */
  native: boolean;
  text: string;
  frame(rng: Random, serial: number): { bytes: Buffer; prog: number; vers: number; proc: number };
}

function callFrame(prog: number, vers: number, proc: number, serial: number, body: Uint8Array, extra: { type?: number; status?: number; nfds?: number } = {}) {
  return { bytes: buildFrame({ prog, vers, proc, serial, ...extra }, body), prog, vers, proc };
}

function echoArgs(rng: Random): Buffer {
  return xdr.encode(P.echo.args, { data: rng.bytes(rng.int(1, 64)) });
}

/** CALLs the server must answer with an RPC error (code 39) and go on serving. */
export const ANSWERED_KINDS: readonly AnsweredKind[] = [
  {
    name: 'CALL with a status other than OK',
    native: true,
    text: 'Unexpected message status',
    frame: (rng, serial) => callFrame(STRESS_PROGRAM, STRESS_VERSION, P.echo.id, serial, echoArgs(rng), { status: rng.pick([1, 2, rng.int(3, 0xffffffff)]) }),
  },
  {
    name: 'CALL_WITH_FDS (no descriptors attached)',
    native: true,
    text: 'fd passing is not supported',
    frame: (rng, serial) => callFrame(STRESS_PROGRAM, STRESS_VERSION, P.echo.id, serial, echoArgs(rng), { type: TYPE_CALL_WITH_FDS, nfds: rng.int(0, 32) }),
  },
  {
    name: 'unknown program',
    native: true,
    text: 'Cannot find program',
    frame: (rng, serial) => callFrame(0x78640000 + rng.int(0, 0xffff), 1, 1, serial, EMPTY),
  },
  {
    name: 'unknown version',
    native: true,
    text: 'Cannot find program',
    frame: (rng, serial) => callFrame(STRESS_PROGRAM, rng.int(0xfffff000, 0xffffffff), P.echo.id, serial, EMPTY),
  },
  {
    name: 'unknown procedure',
    native: true,
    text: 'unknown procedure',
    frame: (rng, serial) => callFrame(STRESS_PROGRAM, STRESS_VERSION, rng.chance(0.5) ? rng.int(1000, 0x7fffffff) : -rng.int(1, 0x7fffffff), serial, EMPTY),
  },
  {
    name: 'truncated arguments',
    native: false,
    text: 'Unable to decode message payload',
    frame: (rng, serial) => {
      const full = echoArgs(rng);
      return callFrame(STRESS_PROGRAM, STRESS_VERSION, P.echo.id, serial, full.subarray(0, rng.int(0, full.length - 1)));
    },
  },
  {
    name: 'bytes after the arguments',
    native: false,
    text: 'Unable to decode message payload',
    frame: (rng, serial) => callFrame(STRESS_PROGRAM, STRESS_VERSION, P.echo.id, serial, Buffer.concat([echoArgs(rng), rng.bytes(rng.int(1, 16))])),
  },
  {
    name: 'opaque longer than its schema allows',
    native: false,
    text: 'Unable to decode message payload',
    frame: (rng, serial) => callFrame(STRESS_PROGRAM, STRESS_VERSION, P.echo.id, serial, u32(MAX_DATA + rng.int(1, 1 << 20))),
  },
];

interface DroppedKind {
  name: string;
  bytes(rng: Random, serial: number): Buffer;
}

/** Frames a client must not send, which the server drops while keeping the connection. */
export const DROPPED_KINDS: readonly DroppedKind[] = [
  { name: 'REPLY from the client', bytes: (rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial, type: TYPE_REPLY, status: rng.int(0, 1) }, echoArgs(rng)) },
  { name: 'MESSAGE from the client', bytes: (rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: rng.int(0, 200), serial, type: TYPE_MESSAGE }, echoArgs(rng)) },
  { name: 'STREAM from the client', bytes: (rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial, type: TYPE_STREAM, status: 2 }, rng.bytes(rng.int(0, 64))) },
  { name: 'STREAM_HOLE from the client', bytes: (rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial, type: TYPE_STREAM_HOLE }, rng.bytes(12)) },
  { name: 'REPLY_WITH_FDS from the client', bytes: (rng, serial) => buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial, type: TYPE_REPLY_WITH_FDS, nfds: rng.int(0, 32) }) },
];

/** One frame that must close the connection: no reply, the server's reason as specified. */
async function malformedClosing(ctx: StressContext, rng: Random, kind: ClosingKind): Promise<void> {
  const peer = await connect(ctx, rng, `malformed(${kind.name})`);
  const token = await hello(ctx, peer);
  if (token === undefined) return finish(ctx, peer);
  const framesBefore = peer.framesIn;
  peer.expectClose = 'allowed';
  peer.send(kind.bytes(ctx, rng, peer.takeSerial()));
  ctx.tally.add('malformed.sent');
  const closed = await bounded(ctx, peer.closed.then(() => true));
  if (closed !== true) {
    ctx.ledger.badReaction(`${peer.label}: still open ${ctx.limits.reactionMs} ms after the frame`);
    peer.cut();
    return;
  }
  if (peer.framesIn !== framesBefore) ctx.ledger.badReaction(`${peer.label}: the server answered the frame before closing`);
  const reason = await bounded(ctx, ctx.ids.reason(token));
  if (reason !== kind.reason) ctx.ledger.badReaction(`${peer.label}: closed with reason '${String(reason)}', expected '${kind.reason}'`);
  else ctx.tally.add('malformed.closed');
}

/**
 * Frames the server answers with an error or drops, shuffled among valid
 * calls and PINGs on one connection, which must stay open and keep serving.
 */
export async function malformedKept(ctx: StressContext, rng: Random): Promise<void> {
  const peer = await connect(ctx, rng, 'malformed(kept)');
  const book = new EventBook(ctx, peer);
  if ((await hello(ctx, peer)) === undefined) return finish(ctx, peer);
  type Item = { answered: AnsweredKind } | { dropped: DroppedKind } | { valid: MixedKind };
  const items: Item[] = [];
  for (let r = 0; r < ctx.plan.keptReps; r++) {
    for (const k of ANSWERED_KINDS) items.push({ answered: k });
    for (const k of DROPPED_KINDS) items.push({ dropped: k });
    items.push({ valid: 'echo' }, { valid: 'ping' }, { valid: 'slow' });
  }
  let pings = 0;
  for (const item of rng.shuffle(items)) {
    if ('answered' in item) {
      const serial = peer.takeSerial();
      const f = item.answered.frame(rng, serial);
      const key = item.answered.native ? 'malformed.nativeErrors' : 'malformed.decodeErrors';
      void peer.sendTracked(f.bytes, { prog: f.prog, vers: f.vers, proc: f.proc, serial }, counted(expectError(ErrorCode.RPC, item.answered.text), ctx, key));
      ctx.tally.add('malformed.sent');
    } else if ('dropped' in item) {
      // Not tracked: a reply to this serial would be counted as unknown.
      peer.send(item.dropped.bytes(rng, peer.takeSerial()));
      ctx.tally.add('malformed.sent');
      ctx.tally.add('malformed.dropped');
    } else if (item.valid === 'ping') {
      peer.send(PING);
      pings++;
    } else {
      sendKind(ctx, rng, peer, book, item.valid);
    }
  }
  // The last word: a plain call, answered only if the connection survived everything.
  sendKind(ctx, rng, peer, book, 'echo');
  await bounded(ctx, peer.settled(), Infinity);
  await finish(ctx, peer);
  if (peer.state === 'ended' && peer.pongs !== pings) ctx.ledger.badReaction(`${peer.label}: ${pings} PINGs got ${peer.pongs} PONGs`);
}

// ---- Half frames, cuts, slow and deaf readers ------------------------------------

function someFrame(rng: Random, serial: number): Buffer {
  return buildFrame({ prog: STRESS_PROGRAM, vers: STRESS_VERSION, proc: P.echo.id, serial }, xdr.encode(P.echo.args, { data: rng.bytes(rng.int(0, 200)) }));
}

/** Half a frame, then silence: the server must close it after frameTimeoutMs. */
async function stall(ctx: StressContext, rng: Random): Promise<void> {
  const peer = await connect(ctx, rng, 'stall');
  const token = await hello(ctx, peer);
  if (token === undefined) return finish(ctx, peer);
  const frame = someFrame(rng, peer.takeSerial());
  peer.expectClose = 'allowed';
  const started = Date.now();
  await peer.sendFlushed(frame.subarray(0, rng.int(1, frame.length - 1)));
  const closed = await bounded(ctx, peer.closed.then(() => true), ctx.limits.reactionMs + ctx.limits.frameTimeoutMs);
  const waited = Date.now() - started;
  if (closed !== true) {
    ctx.ledger.badReaction(`${peer.label}: a half frame was not timed out within ${waited} ms`);
    peer.cut();
    return;
  }
  const reason = await bounded(ctx, ctx.ids.reason(token));
  if (reason !== 'frameTimeout') ctx.ledger.badReaction(`${peer.label}: closed with reason '${String(reason)}', expected 'frameTimeout'`);
  else if (waited < ctx.limits.frameTimeoutMs - 5) ctx.ledger.badReaction(`${peer.label}: timed out after ${waited} ms, before frameTimeoutMs (${ctx.limits.frameTimeoutMs})`);
  else ctx.tally.add('stall.timedOut');
}

/** Part of a frame, then the driver disconnects. */
async function midFrameCut(ctx: StressContext, rng: Random): Promise<void> {
  const peer = await connect(ctx, rng, 'cut-mid-frame');
  const token = await hello(ctx, peer);
  if (token === undefined) return finish(ctx, peer);
  const frame = someFrame(rng, peer.takeSerial());
  // Nothing unread on our side, so the close is a clean EOF after the bytes.
  await peer.sendFlushed(frame.subarray(0, rng.int(1, frame.length - 1)));
  peer.cut();
  ctx.tally.add('cut.midFrame');
  const reason = await bounded(ctx, ctx.ids.reason(token));
  if (reason !== 'eof' && reason !== 'io-error') ctx.ledger.badReaction(`${peer.label}: closed with reason '${String(reason)}', expected 'eof'`);
}

/** A call held by its latched handler, then the driver disconnects: the late answer must be dropped. */
async function midCallHeldCut(ctx: StressContext, rng: Random): Promise<void> {
  const peer = await connect(ctx, rng, 'cut-mid-call');
  const token = await hello(ctx, peer);
  if (token === undefined) return finish(ctx, peer);
  const latch = ctx.latches.create();
  void peer.call(STRESS_PROGRAM, STRESS_VERSION, P.latched.id, xdr.encode(P.latched.args, { latch }));
  const held = await bounded(ctx, ctx.latches.whenHeld(latch));
  if (held !== true) ctx.ledger.badReaction(`${peer.label}: the latched call never reached its handler`);
  peer.cut();
  ctx.tally.add('cut.midCall');
  // The latch stays shut until the round ends: the handler answers after its client left.
  const reason = await bounded(ctx, ctx.ids.reason(token));
  if (reason !== 'eof' && reason !== 'io-error') ctx.ledger.badReaction(`${peer.label}: closed with reason '${String(reason)}', expected 'eof'`);
}

/** A pipelined wave (user calls included), cut as soon as it is written. */
async function midCallBurstCut(ctx: StressContext, rng: Random): Promise<void> {
  const peer = await connect(ctx, rng, 'cut-mid-wave');
  const book = new EventBook(ctx, peer);
  if ((await hello(ctx, peer)) === undefined) return finish(ctx, peer);
  const n = rng.int(3, 20);
  for (let i = 0; i < n; i++) {
    if (ctx.userCalls.length > 0 && rng.chance(0.3)) {
      const c = rng.pick(ctx.userCalls);
      void peer.call(c.program, c.version, c.procedure, c.body ?? EMPTY);
    } else {
      sendKind(ctx, rng, peer, book, rng.pick(['echo', 'slow', 'latched', 'events', 'reject'] as const));
    }
  }
  await peer.sendFlushed(EMPTY);
  for (let i = rng.int(0, 3); i > 0; i--) await turn();
  peer.cut();
  ctx.tally.add('cut.midWave');
}

/** Stops reading and asks for far more events than the send queue may hold: the server must close it ('sendQueue'). */
export async function neverReader(ctx: StressContext, rng: Random): Promise<void> {
  // UNIX only: loopback TCP buffers can grow to megabytes and absorb it all.
  const peer = await connect(ctx, rng, 'never-reads', 'unix');
  const token = await hello(ctx, peer);
  if (token === undefined) return finish(ctx, peer);
  peer.pauseReading();
  peer.expectClose = 'allowed';
  void peer.call(STRESS_PROGRAM, STRESS_VERSION, P.events.id, xdr.encode(P.events.args, { tag: 0, count: NEVER_READER_EVENT_COUNT, size: NEVER_READER_EVENT_SIZE }));
  // A paused socket does not see the close: ask the server why it ended.
  const reason = await bounded(ctx, ctx.ids.reason(token));
  if (reason !== 'sendQueue') ctx.ledger.badReaction(`${peer.label}: ended with reason '${String(reason)}', expected 'sendQueue'`);
  else ctx.tally.add('neverReader.dropped');
  peer.cut();
}

/** Reads one chunk every few ms while the server sends bursts of events; each burst must arrive whole, before its reply. */
export async function slowReader(ctx: StressContext, rng: Random): Promise<void> {
  const peer = await connect(ctx, rng, 'slow-reader');
  const book = new EventBook(ctx, peer);
  if ((await hello(ctx, peer)) === undefined) return finish(ctx, peer);
  peer.readSlowly(2);
  for (let i = 0; i < ctx.plan.slowReaderCalls && peer.open && !timeUp(ctx); i++) {
    const tag = peer.peekSerial();
    book.expect(tag, SLOW_READER_EVENT_COUNT);
    await bounded(
      ctx,
      peer.call(STRESS_PROGRAM, STRESS_VERSION, P.events.id, xdr.encode(P.events.args, { tag, count: SLOW_READER_EVENT_COUNT, size: SLOW_READER_EVENT_SIZE }), book.check(tag, SLOW_READER_EVENT_COUNT, 'events.slowReader')),
      Infinity,
    );
  }
  await finish(ctx, peer);
}

/** Latched calls never released in time: each must be answered OPERATION_TIMEOUT, and nothing else. */
export async function deadlines(ctx: StressContext, rng: Random): Promise<void> {
  const peer = await connect(ctx, rng, 'deadlines');
  if ((await hello(ctx, peer)) === undefined) return finish(ctx, peer);
  for (let i = 0; i < ctx.plan.deadlineCalls; i++) {
    const latch = ctx.latches.create();  // opened only when the round ends
    void peer.call(STRESS_PROGRAM, STRESS_VERSION, P.latched.id, xdr.encode(P.latched.args, { latch }), timedOut(ctx));
  }
  await bounded(ctx, peer.settled(), Infinity);
  await finish(ctx, peer);
  ctx.tally.add('deadline.calls', ctx.plan.deadlineCalls);
}

/**
 * The short abuses, run a few at a time in lanes so that they do not all
 * wait for a client slot behind the long-lived load.
 */
export async function abuseLanes(ctx: StressContext, rng: Random): Promise<void> {
  const tasks: ((r: Random) => Promise<void>)[] = [];
  for (let i = 0; i < ctx.plan.closingReps; i++) for (const k of CLOSING_KINDS) tasks.push((r) => malformedClosing(ctx, r, k));
  for (let i = 0; i < ctx.plan.stalls; i++) tasks.push((r) => stall(ctx, r));
  for (let i = 0; i < ctx.plan.midFrameCuts; i++) tasks.push((r) => midFrameCut(ctx, r));
  for (let i = 0; i < ctx.plan.midCallHeldCuts; i++) tasks.push((r) => midCallHeldCut(ctx, r));
  for (let i = 0; i < ctx.plan.midCallBurstCuts; i++) tasks.push((r) => midCallBurstCut(ctx, r));
  const queue = rng.shuffle(tasks).map((task, i) => ({ task, rng: rng.fork(`task ${i}`) }));
  const lane = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined && !timeUp(ctx); next = queue.shift()) await next.task(next.rng);
  };
  await Promise.all(Array.from({ length: ctx.plan.lanes }, lane));
}

// ---- Phases run alone -------------------------------------------------------------

/**
 * More connections at once than maxClients: the server takes exactly
 * maxClients (each holds a latched call), pauses accepting, and takes the
 * rest as others leave. Every call is answered.
 */
export async function connectBurst(ctx: StressContext, rng: Random): Promise<void> {
  const max = ctx.limits.maxClients;
  const total = max + ctx.plan.burstExtra;
  const pausedBefore = ctx.server.stats().acceptsPaused;
  const peers = await Promise.all(Array.from({ length: total }, () => connect(ctx, rng, 'burst')));
  ctx.tally.add('burst.connects', total);
  const latches = peers.map(() => ctx.latches.create());
  const done = peers.map(async (peer, i) => {
    const latch = latches[i]!;
    await peer.call(STRESS_PROGRAM, STRESS_VERSION, P.latched.id, xdr.encode(P.latched.args, { latch }), anyOf(expectValue(P.latched.result, () => undefined), timedOut(ctx)));
    await finish(ctx, peer);
  });
  let peakLive = 0;
  const heldNow = (): number => latches.filter((l) => ctx.latches.isHeld(l)).length;
  const saturated = await waitUntil(ctx, () => {
    peakLive = Math.max(peakLive, ctx.server.stats().clientsLive);
    return heldNow() >= max;
  });
  const held = heldNow();
  if (!saturated) ctx.ledger.badReaction(`burst: only ${held} of ${total} calls reached a handler (maxClients ${max})`);
  if (peakLive > max) ctx.ledger.badReaction(`burst: ${peakLive} clients live, more than maxClients (${max})`);
  if (saturated && peakLive === max) ctx.tally.add('burst.saturated');
  // From now on a handler is released as soon as it holds its latch: each
  // client that leaves lets one more in.
  for (const l of latches) openWhenHeld(ctx, l, 0);
  await bounded(ctx, Promise.all(done), Infinity);
  const paused = ctx.server.stats().acceptsPaused - pausedBefore;
  if (paused < 1) ctx.ledger.badReaction(`burst: ${total} connects with maxClients ${max} never paused accepting`);
}

export interface CloseUnderLoad {
  result: CloseResult;
  /** liveCounts() as soon as close() resolved. */
  live: LiveCounts;
}

/**
 * close() while pipelined calls stream in and latched calls are held: the
 * held calls get "server is shutting down" before their connection closes,
 * every connection is closed, nothing is answered twice.
 */
export async function closeUnderLoad(ctx: StressContext, rng: Random): Promise<CloseUnderLoad> {
  const holder = await connect(ctx, rng, 'close-holder');
  await hello(ctx, holder);
  // Its calls were read before close(): they must be answered before the connection goes.
  holder.expectClose = 'after-replies';
  const held: Promise<boolean | undefined>[] = [];
  for (let i = 0; i < ctx.plan.closeHolders; i++) {
    const latch = ctx.latches.create();
    void holder.call(STRESS_PROGRAM, STRESS_VERSION, P.latched.id, xdr.encode(P.latched.args, { latch }), anyOf(counted(shutDown(ctx), ctx, 'close.heldCancelled'), timedOut(ctx)));
    held.push(bounded(ctx, ctx.latches.whenHeld(latch)));
  }
  const loaders = await Promise.all(Array.from({ length: ctx.plan.closeLoaders }, () => connect(ctx, rng, 'close-loader')));
  // Set when close() starts: each loader then sends one more wave, which
  // meets a draining server, and stops.
  let closing = false;
  const signals: (() => void)[] = [];
  const firstWaves = loaders.map(() => new Promise<void>((resolve) => signals.push(resolve)));
  const loops = loaders.map(async (peer, i) => {
    const r = rng.fork(`loader ${i}`);
    const book = new EventBook(ctx, peer);
    const signalFirst = signals[i]!;
    await hello(ctx, peer);
    peer.expectClose = 'allowed';
    let first = true;
    let lastWave = false;
    while (peer.open && !lastWave && !timeUp(ctx)) {
      lastWave = closing;
      for (const kind of wave(r, r.int(4, 24), false)) sendKind(ctx, r, peer, book, kind === 'ping' ? 'echo' : kind, { closing: true });
      if (first) {
        first = false;
        signalFirst();
        continue;  // the next wave goes out at once: calls are in flight at every stage
      }
      await bounded(ctx, peer.settled(), Infinity);
    }
    signalFirst();
  });
  await Promise.all(held);
  await bounded(ctx, Promise.all(firstWaves));
  const closed = ctx.server.close({ graceMs: ctx.limits.closeGraceMs });
  closing = true;
  const result = await closed;
  const live = liveCounts();
  ctx.tally.add('close.callsCancelled', result.callsCancelled);
  ctx.tally.add('close.clientsClosed', result.clientsClosed);
  await bounded(ctx, Promise.all(loops), Infinity);
  for (const peer of [holder, ...loaders]) {
    const closed = await bounded(ctx, peer.closed.then(() => true));
    if (closed !== true) {
      ctx.ledger.badReaction(`${peer.label}: still open after close() resolved`);
      peer.cut();
    } else if (peer.state !== 'closed-by-server') {
      ctx.ledger.badReaction(`${peer.label}: ended as '${peer.state}', not closed by the server`);
    }
  }
  return { result, live };
}
