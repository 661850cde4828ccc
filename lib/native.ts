/**
 * Loads the compiled addon and describes what it exports.
 *
 * `XDRD_ADDON=<path to a .node file>` loads that exact build (debug,
 * sanitizer and valgrind runs use it); otherwise node-gyp-build picks the
 * build or prebuild that matches this platform from the package root.
 */
import * as fs from 'fs';
import * as path from 'path';

/** Options the native server takes (validated again natively). */
export interface NativeServerOptions {
  workers?: number;
  maxRequestsPerClient?: number;
  maxMessageBytes?: number;
  listenBacklog?: number;
  maxClients?: number;
  maxSendQueueBytes?: number;
  maxBufferedBytes?: number;
  readBudgetBytes?: number;
  frameTimeoutMs?: number;
  maxUnauthenticatedClients?: number;
  /** Microseconds the loop thread polls without sleeping after a busy turn, while a core is idle; 0: never. */
  busyPollUs?: number;
  /** New clients are not read until authorize(id, true). */
  requireAuthorization?: boolean;
  /** What the loop thread waits in; XDRD_EVENT_BACKEND overrides it. See ServerOptions. */
  eventBackend?: 'epoll' | 'poll';
}

export interface NativeListenResult {
  ok: boolean;
  family?: 'unix' | 'ipv4' | 'ipv6';
  replacedStale?: boolean;
  errno?: number;
  message?: string;
  path?: string;
  host?: string;
  port?: number;
}

/**
 * Counters of the core and of the JS bridge; every field a number. The
 * addon makes them from one list (native/core/server/counters.def and the
 * bridge's list in call_bridge.h); `nativeStatKeys` below must name exactly
 * these keys, and a test compares it with the addon's own `statKeys`.
 */
export interface NativeStats {
  clientsAccepted: number;
  clientsClosed: number;
  clientsLive: number;
  clientsThrottled: number;
  clientsStarved: number;
  closedMidFrame: number;
  closedMidCall: number;
  callsReceived: number;
  callsDispatched: number;
  repliesWritten: number;
  repliesDropped: number;
  errorReplies: number;
  framesDropped: number;
  pingsAnswered: number;
  pingsSent: number;
  keepaliveDrops: number;
  /** Clients closed ('protocol') for a stream that cannot be framed or a header that cannot be decoded. */
  protocolCloses: number;
  /** Clients closed ('limit') for announcing a frame larger than maxMessageBytes. */
  limitCloses: number;
  frameTimeouts: number;
  sendQueueDrops: number;
  acceptsPaused: number;
  acceptFailures: number;
  /** Back-off timer ticks after an accept() that failed for want of descriptors. */
  acceptRetries: number;
  callsRead: number;
  callsWaiting: number;
  callsDispatching: number;
  callsReplyPending: number;
  workersBusy: number;
  workersIdle: number;
  jobsQueued: number;
  bufferedBytes: number;
  bufferedBytesPeak: number;
  logSuppressed: number;
  /** Descriptors that arrived with a message and were closed (fd passing is not supported). */
  fdsClosed: number;
  /** Native handlers that threw (JS handlers' errors are caught in JS). */
  handlerExceptions: number;
  bytesRead: number;
  bytesWritten: number;
  /** Clients accepted and waiting for `authorize` to settle. */
  clientsUnauthenticated: number;
  /** Clients closed because `authorize` refused them. */
  clientsDenied: number;
  /** Events (server → client MESSAGEs) queued by sendEvent(). */
  eventsSent: number;
  /** Events dropped because their client was closing or gone. */
  eventsDropped: number;
  /** Times the loop thread polled without sleeping after a turn that did something (busyPollUs). */
  busyPolls: number;
  /** Of those, the ones that found work before busyPollUs ran out. */
  busyPollCatches: number;
  /** Microseconds the loop thread spent in them, caught or not. */
  busyPollUs: number;
  /** Times a worker woke the JS thread (one per empty → non-empty queue). */
  jsWakeups: number;
  /** Calls handed to JS handlers. */
  jsCalls: number;
  /** JS calls that carried them (each at most `layout.maxBatch`). */
  jsBatches: number;
  /** Call bodies of 32 KiB or more, lent to JS as Buffers of their own instead of copied. */
  jsBodiesLent: number;
  /** Calls queued for JS and not yet handed over. */
  jsPending: number;
  /** Calls JS holds and has not answered yet. */
  jsInFlight: number;
  /**
   * Typed calls whose arguments did not decode: a worker answered them with
   * the decode error, and they never reached JS.
   */
  argsRefused: number;
}

/**
 * Every key of NativeStats, once: `satisfies` makes a key missing here, or
 * one NativeStats does not have, a compile error.
 */
export const nativeStatKeys = {
  clientsAccepted: true, clientsClosed: true, clientsLive: true, clientsThrottled: true, clientsStarved: true,
  closedMidFrame: true, closedMidCall: true, callsReceived: true, callsDispatched: true, repliesWritten: true,
  repliesDropped: true, errorReplies: true, framesDropped: true, pingsAnswered: true, pingsSent: true,
  keepaliveDrops: true, protocolCloses: true, limitCloses: true, frameTimeouts: true, sendQueueDrops: true, acceptsPaused: true, acceptFailures: true,
  acceptRetries: true, callsRead: true, callsWaiting: true, callsDispatching: true, callsReplyPending: true,
  workersBusy: true, workersIdle: true, jobsQueued: true, bufferedBytes: true, bufferedBytesPeak: true,
  fdsClosed: true, handlerExceptions: true, logSuppressed: true, bytesRead: true, bytesWritten: true,
  clientsUnauthenticated: true, clientsDenied: true, eventsSent: true, eventsDropped: true, busyPolls: true,
  busyPollCatches: true, busyPollUs: true, jsWakeups: true,
  jsCalls: true, jsBatches: true, jsBodiesLent: true, jsPending: true, jsInFlight: true, argsRefused: true,
} as const satisfies Record<keyof NativeStats, true>;

/** Called on the JS thread: kind 0 = calls are waiting; kind 1 = close finished. */
export type OnNative = (kind: number, drained?: boolean, cancelled?: number, clientsClosed?: number) => void;

export interface NativeServer {
  /**
   * With a decode plan (lib/xdr/plan.ts: its words and names), the
   * procedure's arguments are decoded and checked on the worker.
   */
  handle(program: number, version: number, procedure: number, handlerIndex: number, planWords?: Float64Array, planNames?: readonly string[]): void;
  handleProgram(program: number, version: number, handlerIndex: number): void;
  listenUnix(path: string, mode: number, readOnly: boolean): NativeListenResult;
  listenTcp(host: string, port: number, readOnly: boolean): NativeListenResult;
  listenFd(fd: number, readOnly: boolean): NativeListenResult;
  /** Connect, disconnect and log notices as a JSON array, or undefined if none. */
  takeNotices(): string | undefined;
  /**
   * Each returns false when JS has already seen the client's disconnect
   * notice (or never saw it connect); the native side takes no lock for it.
   */
  authorize(id: number, allow: boolean): boolean;
  closeClient(id: number, afterWrites: boolean): boolean;
  startKeepalive(id: number, intervalMs: number, count: number): boolean;
  sendEvent(id: number, program: number, version: number, procedure: number, body: Uint8Array, serial?: number): boolean;
  /** Starts the threads; false if already running. */
  start(): boolean;
  /** Begins a graceful stop on a native thread; false if not running. */
  close(graceMs: number): boolean;
  finishClose(): void;
  /**
   * Fills the batch area; returns the copied bodies, or undefined if nothing
   * waits. When some bodies are lent (length word with bit 31 set: large
   * bodies cross without a copy) or some calls come with decoded arguments,
   * an array: the copied bodies, the decoded values (or undefined), then one
   * Buffer per lent body, in call order.
   */
  takeBatch(): Buffer | [Buffer, Float64Array | undefined, ...Buffer[]] | undefined;
  /** Per handler index: typed calls whose arguments a worker refused (0 for raw handlers). */
  argsRefused(): number[];
  /** Answers `count` calls described in the result area: their bytes back to back, or one Uint8Array each. */
  complete(count: number, data: Buffer | Uint8Array[]): void;
  stats(): NativeStats;
  /** Stops at once, joining every thread (for process 'exit'). */
  stopNow(): void;
  /** Whether a running server keeps the process alive (default true). */
  setRef(keepsProcessAlive: boolean): void;
  readonly state: 'idle' | 'running' | 'closing';
}

/** The flat areas of native/addon/call_bridge.h: sizes, result kinds and the word of every record field. */
export interface NativeLayout {
  maxBatch: number;
  inWords: number;
  outWords: number;
  batchAreaWords: number;
  resultAreaWords: number;
  resultBody: number;
  resultError: number;
  /** Bit 31 of a batch record's body length: the body is lent, a Buffer of its own. */
  lentBody: number;
  inSlot: number;
  inHandler: number;
  inProcedure: number;
  inSerial: number;
  inClientLow: number;
  inClientHigh: number;
  inBodyLength: number;
  inQueueWaitUs: number;
  inValues: number;
  outSlot: number;
  outKind: number;
  outLength: number;
  outReserved: number;
}

export interface LiveCounts {
  clients: number;
  jobs: number;
  messages: number;
  /** xdrd threads running in this process (loops, workers, closers). */
  threads: number;
}

export interface NativeAddon {
  NativeServer: new (
    options: NativeServerOptions,
    onNative: OnNative,
    batchArea: Uint32Array,
    resultArea: Uint32Array,
  ) => NativeServer;
  liveCounts(): LiveCounts;
  /**
   * Runs a decode plan (lib/xdr/plan.ts) on `body` on this thread: the flat
   * output, or where and why it does not decode. For the differential tests;
   * servers run plans on their workers.
   */
  decodeWithPlan(words: Float64Array, names: readonly string[], body: Uint8Array): Float64Array | { path: string; reason: string; offset: number };
  layout: NativeLayout;
  /** The keys of stats(), from the native counter lists. */
  statKeys: readonly string[];
}

/** The package root: the nearest folder above this file with xdrd's package.json. */
export function packageRoot(): string {
  for (let dir = __dirname; ; ) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'xdrd') return dir;
    } catch {
      // no package.json here: keep climbing
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`xdrd: cannot find the package root above ${__dirname}`);
    dir = up;
  }
}

function load(): NativeAddon {
  const explicit = process.env.XDRD_ADDON;
  if (explicit) return require(path.resolve(explicit)) as NativeAddon;
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  return nodeGypBuild(packageRoot()) as NativeAddon;
}

let addon: NativeAddon | undefined;

/** The addon, loaded on first use. */
export function native(): NativeAddon {
  addon ??= load();
  return addon;
}

/**
 * Process-wide counts of live native objects, threads included: after every
 * server has closed, `threads` is 0. For tests and leak hunting.
 */
export function liveCounts(): LiveCounts {
  return native().liveCounts();
}
