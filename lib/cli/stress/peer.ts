/**
 * A raw peer for the stress driver: plain `net` (UNIX path or loopback
 * TCP), its own framing, and the bookkeeping behind "every call answered
 * exactly once". The library's Client is not used here on purpose: it
 * would refuse to send the frames the driver needs (half frames, wrong
 * types, bad lengths) and its own matching could hide what the server sent.
 *
 * Bookkeeping: every CALL sent with `call()` is pending until a REPLY with
 * its serial comes back. A second reply to it is a duplicate; a reply to a
 * serial never sent (or sent as a frame that must not be answered) is
 * unknown. What is still pending when the connection ends is counted by how
 * it ended:
 *   - the driver ended it after waiting (`end()`), or the server closed it
 *     when the scenario did not expect that: missing (a failure);
 *   - the driver cut it on purpose (`cut()`), or gave up on it because the
 *     run is out of time (`abandon()`): excluded;
 *   - the server closed it and the scenario expected that (`expectClose`):
 *     excluded, unless the scenario said the replies must come first.
 */
import * as net from 'net';

import { RpcError } from '../../index';
import {
  KEEPALIVE_PROC_PONG,
  KEEPALIVE_PROGRAM,
  MIN_FRAME_BYTES,
  STATUS_ERROR,
  STATUS_OK,
  TYPE_CALL,
  TYPE_MESSAGE,
  TYPE_REPLY,
  encodeFrame,
  readHeader,
  writeFrameHeader,
} from '../../libvirt/wire';

/** Frames larger than this from the server are a protocol failure of the server. */
const MAX_INCOMING_FRAME = 64 * 1024 * 1024;
/** How long end() waits for the server to close after our EOF. */
const END_WAIT_MS = 10000;

export type StressAddress = { path: string } | { host: string; port: number };

export interface FrameFields {
  prog: number;
  vers: number;
  proc: number;
  serial: number;
  type?: number;
  status?: number;
  /** Written after status when given (the *_WITH_FDS layout), whatever the type. */
  nfds?: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * A whole frame from the driver's short field names (type CALL and status
 * OK unless given): length word, header, the nfds word when `nfds` is
 * given, body.
 */
export function buildFrame(f: FrameFields, body: Uint8Array = EMPTY): Buffer {
  const header = { program: f.prog, version: f.vers, procedure: f.proc, type: f.type ?? TYPE_CALL, serial: f.serial, status: f.status ?? STATUS_OK };
  if (f.nfds === undefined) return encodeFrame(header, body);
  const frame = Buffer.allocUnsafe(MIN_FRAME_BYTES + 4 + body.length);
  const at = writeFrameHeader(frame, 0, header, 4 + body.length);
  frame.writeUInt32BE(f.nfds >>> 0, at);
  frame.set(body, at + 4);
  return frame;
}

export interface Incoming {
  prog: number;
  vers: number;
  proc: number;
  type: number;
  serial: number;
  status: number;
  body: Buffer;
}

export type Outcome = { kind: 'ok'; body: Buffer } | { kind: 'error'; error: RpcError };

/** Judges a reply: a complaint, or undefined when it is what the call should get. */
export type Check = (outcome: Outcome) => string | undefined;

/** The run's account of calls and replies, shared by every peer. */
export class Ledger {
  /** Calls sent that must be answered. */
  sent = 0;
  /** First replies to them. */
  answered = 0;
  /** Unanswered on a connection that stayed open, or that the server closed unexpectedly. */
  missing = 0;
  /** Second (or later) replies to one call. */
  duplicates = 0;
  /** Replies to serials never sent, or sent in frames the server must not answer. */
  unknown = 0;
  /** Unanswered when the driver cut the connection on purpose (excluded). */
  cutPending = 0;
  /** Unanswered when the server closed the connection as the scenario expected (excluded). */
  closePending = 0;
  /** Unanswered when the run ran out of time and the driver stopped waiting (excluded; the time limit fails the run). */
  abandonedPending = 0;
  /** Replies that did not match their call (wrong body, code, header). */
  wrong = 0;
  /** Connections the server closed when the scenario expected them to stay open. */
  unexpectedCloses = 0;
  /** The server reacted to an abuse otherwise than specified (kept, closed, reason). */
  badReactions = 0;
  /** The first few problems, for the report. */
  readonly problems: string[] = [];
  #suppressed = 0;

  note(problem: string): void {
    if (this.problems.length < 25) this.problems.push(problem);
    else this.#suppressed++;
  }

  get suppressed(): number {
    return this.#suppressed;
  }

  /** Records a reaction of the server that is not what the abuse should get. */
  badReaction(problem: string): void {
    this.badReactions++;
    this.note(problem);
  }
}

/** How a scenario expects the server to treat a connection. */
export type CloseExpectation =
  /** It stays open until the driver ends it. */
  | 'never'
  /** The server may close it; calls still pending then are not counted. */
  | 'allowed'
  /** The server may close it, but only after answering every call read. */
  | 'after-replies';

interface Pending {
  prog: number;
  vers: number;
  proc: number;
  check: Check | undefined;
  resolve: (o: Outcome | undefined) => void;
}

export type PeerState = 'open' | 'cut' | 'ended' | 'abandoned' | 'closed-by-server';

let peerCount = 0;

export class Peer {
  readonly label: string;
  readonly socket: net.Socket;
  readonly transport: 'unix' | 'tcp';
  readonly #ledger: Ledger;
  #state: PeerState = 'open';
  expectClose: CloseExpectation = 'never';
  readonly #pending = new Map<number, Pending>();
  readonly #answered = new Set<number>();
  /** Serials counted missing when end() stopped waiting: a reply after that is late, not unknown. */
  readonly #givenUp = new Set<number>();
  #nextSerial = 1;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #settleWaiters: (() => void)[] = [];
  #slowTimer: NodeJS.Timeout | undefined;
  /** Frames received. */
  framesIn = 0;
  /** Keepalive PONGs received. */
  pongs = 0;
  /** Called for every MESSAGE that is not keepalive (events). */
  onMessage: ((m: Incoming) => void) | undefined;
  /** Resolves once the socket is closed, whoever closed it. */
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket, ledger: Ledger, label: string, transport: 'unix' | 'tcp') {
    this.socket = socket;
    this.#ledger = ledger;
    this.label = `${label}#${++peerCount}`;
    this.transport = transport;
    socket.on('error', () => {
      // A reset from the server is one of the outcomes under test; 'close' follows.
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.#onClose();
        resolve();
      });
    });
  }

  static connect(address: StressAddress, ledger: Ledger, label: string): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const tcp = 'port' in address;
      const socket = tcp ? net.connect(address.port, address.host) : net.connect(address.path);
      if (tcp) socket.setNoDelay(true);
      const failed = (e: Error): void => reject(e);
      socket.once('error', failed);
      socket.once('connect', () => {
        socket.off('error', failed);
        resolve(new Peer(socket, ledger, label, tcp ? 'tcp' : 'unix'));
      });
    });
  }

  get state(): PeerState {
    return this.#state;
  }

  get open(): boolean {
    return this.#state === 'open';
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** The serial the next `call()` will use (for bodies that carry it). */
  peekSerial(): number {
    return this.#nextSerial;
  }

  /** Takes a serial that no tracked call uses: for frames sent by hand. */
  takeSerial(): number {
    return this.#nextSerial++;
  }

  /**
   * Sends a CALL and waits for its reply: the outcome, or undefined if the
   * connection ended first. `check` judges the reply; a complaint counts
   * as a wrong reply. Not sent (undefined) if the connection is not open.
   */
  call(prog: number, vers: number, proc: number, body: Uint8Array, check?: Check): Promise<Outcome | undefined> {
    if (this.#state !== 'open') return Promise.resolve(undefined);
    const serial = this.#nextSerial++;
    return this.sendTracked(buildFrame({ prog, vers, proc, serial }, body), { prog, vers, proc, serial }, check);
  }

  /**
   * Sends a hand-made frame that must be answered with a reply carrying
   * `id`'s header fields (a malformed CALL the server answers with an error).
   */
  sendTracked(
    frame: Uint8Array,
    id: { prog: number; vers: number; proc: number; serial: number },
    check?: Check,
  ): Promise<Outcome | undefined> {
    if (this.#state !== 'open') return Promise.resolve(undefined);
    if (this.#pending.has(id.serial) || this.#answered.has(id.serial)) throw new Error(`${this.label}: serial ${id.serial} used twice by the driver`);
    this.#ledger.sent++;
    const outcome = new Promise<Outcome | undefined>((resolve) => {
      this.#pending.set(id.serial, { prog: id.prog, vers: id.vers, proc: id.proc, check, resolve });
    });
    this.socket.write(frame);
    return outcome;
  }

  /** Sends bytes that are not a tracked call (a PING, a frame the server must drop, a half frame). */
  send(bytes: Uint8Array): void {
    if (this.#state === 'open') this.socket.write(bytes);
  }

  /** Resolves once `bytes` were handed to the kernel (or the socket failed). */
  sendFlushed(bytes: Uint8Array): Promise<void> {
    if (this.#state !== 'open') return Promise.resolve();
    return new Promise((resolve) => this.socket.write(bytes, () => resolve()));
  }

  /** Resolves when no call is pending or the connection is no longer open. */
  settled(): Promise<void> {
    if (this.#pending.size === 0 || this.#state !== 'open') return Promise.resolve();
    return new Promise((resolve) => this.#settleWaiters.push(resolve));
  }

  /** Stops reading: the kernel's buffers fill, then the server's send queue. */
  pauseReading(): void {
    this.socket.pause();
  }

  /** Reads one chunk at a time, `delayMs` apart: a slow reader. */
  readSlowly(delayMs: number): void {
    this.socket.on('data', () => {
      if (this.#state !== 'open' || this.#slowTimer !== undefined) return;
      this.socket.pause();
      this.#slowTimer = setTimeout(() => {
        this.#slowTimer = undefined;
        if (this.#state === 'open') this.socket.resume();
      }, delayMs);
    });
  }

  /** The driver cuts the connection on purpose: what is pending is excluded. */
  cut(): void {
    if (this.#state !== 'open' && this.#state !== 'closed-by-server') return;
    if (this.#state === 'open') {
      this.#state = 'cut';
      this.#settle('cut');
    }
    this.socket.resume();
    this.socket.destroy();
  }

  /**
   * The driver is done with a connection it expects to have been answered
   * in full: what is still pending is missing. Closes our end and waits for
   * the socket to close.
   */
  async end(): Promise<void> {
    if (this.#state === 'open') {
      this.#state = 'ended';
      this.#settle('missing');
      this.socket.end();
    }
    this.socket.resume();
    // The server closes its end once it reads our EOF; a server that does
    // not is reported, and the socket destroyed so the run goes on.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), END_WAIT_MS)));
    const tooLate = await Promise.race([this.closed.then(() => false), late]);
    clearTimeout(timer);
    if (tooLate) {
      this.#ledger.badReaction(`${this.label}: the server did not close the connection within ${END_WAIT_MS} ms of our EOF`);
      this.socket.destroy();
      await this.closed;
    }
  }

  /** Gives up on a connection because the run is out of time: what is pending is excluded. */
  abandon(): void {
    if (this.#state === 'open') {
      this.#state = 'abandoned';
      this.#settle('abandoned');
    }
    this.socket.resume();
    this.socket.destroy();
  }

  #settle(how: 'missing' | 'cut' | 'close' | 'abandoned'): void {
    const n = this.#pending.size;
    if (n > 0) {
      if (how === 'missing') {
        this.#ledger.missing += n;
        this.#ledger.note(`${this.label}: ${n} call(s) never answered (serials ${[...this.#pending.keys()].slice(0, 8).join(', ')}${n > 8 ? ', …' : ''})`);
        for (const serial of this.#pending.keys()) this.#givenUp.add(serial);
      } else if (how === 'cut') {
        this.#ledger.cutPending += n;
      } else if (how === 'abandoned') {
        this.#ledger.abandonedPending += n;
      } else {
        this.#ledger.closePending += n;
      }
      for (const p of this.#pending.values()) p.resolve(undefined);
      this.#pending.clear();
    }
    this.#wakeSettled();
  }

  #wakeSettled(): void {
    const waiters = this.#settleWaiters;
    this.#settleWaiters = [];
    for (const w of waiters) w();
  }

  #onClose(): void {
    if (this.#slowTimer !== undefined) clearTimeout(this.#slowTimer);
    this.#slowTimer = undefined;
    if (this.#state !== 'open') return;
    this.#state = 'closed-by-server';
    if (this.expectClose === 'never') {
      this.#ledger.unexpectedCloses++;
      this.#ledger.note(`${this.label}: the server closed a connection that should have stayed open (${this.#pending.size} call(s) pending)`);
      this.#settle('missing');
    } else {
      this.#settle(this.expectClose === 'after-replies' ? 'missing' : 'close');
    }
  }

  #onData(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    while (this.#buffered >= 4) {
      const head = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#buffered);
      this.#chunks = [head];
      const len = head.readUInt32BE(0);
      if (len < MIN_FRAME_BYTES || len > MAX_INCOMING_FRAME) {
        this.#ledger.wrong++;
        this.#ledger.note(`${this.label}: the server sent a frame with length word ${len}`);
        this.#chunks = [];
        this.#buffered = 0;
        this.cut();
        return;
      }
      if (this.#buffered < len) break;
      const frame = head.subarray(0, len);
      const rest = head.subarray(len);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#buffered = rest.length;
      const h = readHeader(frame, 4);
      this.#onFrame({
        prog: h.program,
        vers: h.version,
        proc: h.procedure,
        type: h.type,
        serial: h.serial,
        status: h.status,
        body: frame.subarray(MIN_FRAME_BYTES),
      });
    }
  }

  #onFrame(f: Incoming): void {
    this.framesIn++;
    if (f.type === TYPE_MESSAGE) {
      if (f.prog === KEEPALIVE_PROGRAM && f.proc === KEEPALIVE_PROC_PONG) this.pongs++;
      else if (f.prog !== KEEPALIVE_PROGRAM) this.onMessage?.(f);
      return;
    }
    if (f.type !== TYPE_REPLY) {
      this.#ledger.wrong++;
      this.#ledger.note(`${this.label}: the server sent a frame of type ${f.type}`);
      return;
    }
    const p = this.#pending.get(f.serial);
    if (p === undefined) {
      if (this.#givenUp.delete(f.serial)) {
        // Already counted missing; this is the late answer.
        this.#ledger.note(`${this.label}: serial ${f.serial} answered after the driver stopped waiting`);
      } else if (this.#answered.has(f.serial)) {
        this.#ledger.duplicates++;
        this.#ledger.note(`${this.label}: a second reply to serial ${f.serial}`);
      } else {
        this.#ledger.unknown++;
        this.#ledger.note(`${this.label}: a reply to serial ${f.serial}, which no call is waiting for`);
      }
      return;
    }
    this.#pending.delete(f.serial);
    this.#answered.add(f.serial);
    this.#ledger.answered++;
    let outcome: Outcome | undefined;
    let complaint: string | undefined;
    if (f.prog !== p.prog || f.vers !== p.vers || f.proc !== p.proc) {
      complaint = `reply header ${f.prog}/${f.vers}/${f.proc} for a call to ${p.prog}/${p.vers}/${p.proc}`;
    } else if (f.status === STATUS_OK) {
      outcome = { kind: 'ok', body: Buffer.from(f.body) };
    } else if (f.status === STATUS_ERROR) {
      try {
        outcome = { kind: 'error', error: RpcError.decode(f.body) };
      } catch (e) {
        complaint = `an error reply whose body does not decode: ${(e as Error).message}`;
      }
    } else {
      complaint = `a reply with status ${f.status}`;
    }
    if (outcome !== undefined && p.check !== undefined) complaint = p.check(outcome);
    if (complaint !== undefined) {
      this.#ledger.wrong++;
      this.#ledger.note(`${this.label}: serial ${f.serial} (proc ${p.proc}): ${complaint}`);
    }
    p.resolve(outcome);
    if (this.#pending.size === 0) this.#wakeSettled();
  }
}
