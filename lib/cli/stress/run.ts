/**
 * `xdrd stress` / `npm run stress`: drives a daemon in this very process
 * (native live counts are process-wide) with every kind of load and abuse,
 * round after round, and checks that nothing is lost, answered twice, left
 * alive or grows.
 *
 * A run prints a seed line first (`--seed` repeats the choices; thread and
 * kernel timing still vary), then one line per round, then every invariant
 * and every abuse counter as PASS/FAIL with its numbers, and the total time.
 * Exit code 0 when all pass, 1 otherwise (2, from the CLI, for usage errors).
 *
 * One round, on one Server that lives for the whole run:
 *   1. listen() on a UNIX socket in a private temp dir and on 127.0.0.1:0;
 *   2. concurrently: pipelined calls of every handler kind (echo, slow,
 *      latched, throwing, rejecting, RpcError, unencodable result, events,
 *      keepalive PINGs), the user module's sample calls, the library Client,
 *      malformed frames of every kind, half frames that stall past
 *      frameTimeoutMs, disconnects mid-frame and mid-call, a client that
 *      never reads, events to a slow reader, calls that pass their deadline;
 *   3. alone: a burst of connects past maxClients;
 *   4. with every client gone: the quiesce sample (live clients/jobs 0,
 *      buffered bytes and live messages as in round 2);
 *   5. close() under load (pipelined calls streaming, latched calls held),
 *      then liveCounts() must be all 0; a full GC and an RSS sample.
 * The next round listens again on the same server.
 *
 * Bounds: counts scale with --scale (every kind of abuse still happens at
 * least once a round); waits give up at the --seconds deadline, and no round
 * starts that would probably not finish before it.
 *
 * THE USER MODULE (`xdrd stress ./my-handlers.js`), a CommonJS module:
 *
 *   exports.setup = (server) => { server.handle(MyProgram, { ... }); };
 *   exports.calls = [{ program, version, procedure, body }, ...];   // optional
 *
 *   - `setup(server)` (may return a promise) registers its handlers on the
 *     stress server, before its first listen(); it may use defineProgram.
 *     The built-in stress program is 0x78647273 version 1: do not reuse it.
 *   - `calls`: valid sample calls (`body` a Uint8Array of XDR arguments,
 *     default empty). The driver sends them pipelined, in shuffled order,
 *     on several connections every round, and checks that each gets exactly
 *     one reply or error reply; it also cuts connections right after sending
 *     some of them (handlers must cope with clients that leave).
 *   - The server it gets: maxMessageBytes 256 KiB, callDeadlineMs 500
 *     (calls still running then are answered OPERATION_TIMEOUT), 3 workers.
 *     Under valgrind (XDRD_UNDER_VALGRIND=1) every time limit is ten times
 *     longer.
 *
 * GC and RSS: RSS is sampled after a full GC. With `node --expose-gc` the
 * global gc() is used; otherwise it is enabled at run time through
 * v8.setFlagsFromString. V8's young generation grows in steps of up to
 * 16 MiB under allocation pressure, more than the whole RSS allowance, so
 * the run wants `--max-semi-space-size=1`, which only works at startup: the
 * CLI re-execs itself with it (and --expose-gc) unless node already has it
 * (XDRD_STRESS_NO_REEXEC=1 prevents the child). Under valgrind, give both
 * flags to node directly so that no child is spawned:
 *   valgrind … node --expose-gc --max-semi-space-size=1 dist/lib/cli/cli.js stress --scale 0.05
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as v8 from 'v8';
import * as vm from 'vm';

import { Server, liveCounts } from '../../index';
import type { CloseResult, LiveCounts } from '../../index';
import { counterVerdicts, formatVerdict, invariantVerdicts } from './invariants';
import type { RoundRecord, Verdict } from './invariants';
import { Ledger } from './peer';
import type { StressAddress } from './peer';
import { Identities, Latches, registerStressProgram } from './program';
import { Random, newSeed } from './random';
import { abuseLanes, deadlines, neverReader, slowReader } from './scenarios/abuse';
import { closeUnderLoad, connectBurst } from './scenarios/close';
import type { CloseUnderLoad } from './scenarios/close';
import { waitUntil } from './scenarios/common';
import { libraryClient, pipelined } from './scenarios/load';
import { malformedKept } from './scenarios/malformed';
import { Tally, makePlan } from './scenarios/plan';
import type { Limits, StressContext, UserCall } from './scenarios/plan';
import { userCalls } from './scenarios/user';

export interface StressOptions {
  /** Path of a user module (see the header). */
  module?: string;
  /** Pipelined clients per round. */
  clients?: number;
  /** Upper bound of the run's time. */
  seconds?: number;
  /** Multiplies every count (0.05 for valgrind). */
  scale?: number;
  seed?: number;
  rounds?: number;
  /** Where report lines go (default stdout). */
  write?: (line: string) => void;
}

export const STRESS_DEFAULTS = { clients: 8, seconds: 120, scale: 1, rounds: 6 } as const;

/** A problem with the arguments or the user module: the CLI exits 2. */
export class StressUsageError extends Error {
  override readonly name = 'StressUsageError';
}

interface UserModule {
  setup: (server: Server) => unknown;
  calls: UserCall[];
}

const isU32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
const isI32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff;

function loadUserModule(file: string): UserModule {
  const full = path.resolve(file);
  if (!fs.existsSync(full)) throw new StressUsageError(`no such module: ${file}`);
  let mod: { setup?: unknown; calls?: unknown };
  try {
    mod = require(full) as typeof mod;
  } catch (e) {
    throw new StressUsageError(`cannot load ${file}: ${(e as Error).message}`);
  }
  if (typeof mod.setup !== 'function') throw new StressUsageError(`${file} must export setup(server)`);
  const calls = mod.calls ?? [];
  if (!Array.isArray(calls)) throw new StressUsageError(`${file}: calls must be an array of { program, version, procedure, body? }`);
  calls.forEach((c: Partial<UserCall>, i) => {
    if (typeof c !== 'object' || c === null || !isU32(c.program) || !isU32(c.version) || !isI32(c.procedure))
      throw new StressUsageError(`${file}: calls[${i}] needs program and version (unsigned 32-bit) and procedure (signed 32-bit)`);
    if (c.body !== undefined && !(c.body instanceof Uint8Array)) throw new StressUsageError(`${file}: calls[${i}].body must be a Uint8Array`);
  });
  return { setup: mod.setup as (server: Server) => unknown, calls: calls as UserCall[] };
}

/** Whether node was started with a fixed young generation (see the header). */
function youngGenerationPinned(): boolean {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.replace(/_/g, '-').startsWith('--max-semi-space-size'));
}

/** A full GC, if one can be had: global.gc, or enabled at run time. */
function findGc(): { gc: (() => void) | undefined; how: string } {
  const global = (globalThis as { gc?: unknown }).gc;
  if (typeof global === 'function') return { gc: global as () => void, how: 'global.gc (--expose-gc)' };
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn = vm.runInNewContext('gc') as unknown;
    if (typeof fn === 'function') return { gc: fn as () => void, how: 'enabled at run time (v8.setFlagsFromString)' };
  } catch {
    // fall through: RSS is then not checked
  }
  return { gc: undefined, how: 'unavailable (run node --expose-gc); RSS not checked' };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const KiB = 1024;

/** Runs the stress rounds and prints the report; resolves with the exit code (0 or 1). */
export async function runStress(options: StressOptions = {}): Promise<number> {
  const write = options.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const clients = options.clients ?? STRESS_DEFAULTS.clients;
  const totalSeconds = options.seconds ?? STRESS_DEFAULTS.seconds;
  const scale = options.scale ?? STRESS_DEFAULTS.scale;
  const roundsWanted = options.rounds ?? STRESS_DEFAULTS.rounds;
  const user = options.module !== undefined ? loadUserModule(options.module) : undefined;
  const seed = options.seed ?? newSeed();
  write(`seed: ${seed} (repeat with --seed ${seed})`);

  const started = Date.now();
  const deadline = started + totalSeconds * 1000;
  const slow = process.env.XDRD_UNDER_VALGRIND === '1' ? 10 : 1;
  const plan = makePlan(scale, clients, user?.calls.length ?? 0);
  const limits: Limits = {
    // Room for the long-lived load plus a few abuses at once; the burst goes past it.
    maxClients: Math.max(16, plan.pipelinedPeers + plan.userPeers + 8),
    maxMessageBytes: 256 * KiB,
    // The bound is max(this, maxMessageBytes + 4): 256 KiB unsent closes a client.
    maxSendQueueBytes: 64 * KiB,
    frameTimeoutMs: 200 * slow,
    callDeadlineMs: 500 * slow,
    closeGraceMs: 50 * slow,
    reactionMs: 10000 * slow,
  };
  const { gc, how: gcHow } = findGc();
  write(
    `settings: rounds ${roundsWanted}, clients ${clients}, scale ${scale}, seconds ${totalSeconds}${options.module ? `, module ${options.module} (${user!.calls.length} sample calls)` : ''}; ` +
      `maxClients ${limits.maxClients}, frameTimeoutMs ${limits.frameTimeoutMs}, callDeadlineMs ${limits.callDeadlineMs}, maxMessageBytes ${limits.maxMessageBytes}, maxSendQueueBytes ${limits.maxSendQueueBytes}; gc ${gcHow}; young generation ${youngGenerationPinned() ? 'pinned (--max-semi-space-size)' : 'not pinned (RSS may step with it)'}`,
  );

  const ledger = new Ledger();
  const tally = new Tally();
  const latches = new Latches();
  const ids = new Identities();
  const crashes: string[] = [];
  const records: RoundRecord[] = [];
  let timeLimit: string | undefined;

  const server = new Server({
    workers: 3,
    maxClients: limits.maxClients,
    maxMessageBytes: limits.maxMessageBytes,
    maxSendQueueBytes: limits.maxSendQueueBytes,
    frameTimeoutMs: limits.frameTimeoutMs,
    callDeadlineMs: limits.callDeadlineMs,
  });
  // Handler failures are part of the load: counted, never printed.
  server.on('error', () => tally.add('server.errorEvents'));
  server.on('disconnect', (client, reason) => {
    ids.disconnected(client.id, reason);
    tally.add(`server.disconnect.${reason}`);
  });
  server.on('log', () => tally.add('server.logLines'));
  registerStressProgram(server, latches, ids);
  if (user !== undefined) {
    try {
      await user.setup(server);
    } catch (e) {
      throw new StressUsageError(`${options.module}: setup(server) failed: ${(e as Error).message}`);
    }
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xdrd-stress-'));
  const socketPath = path.join(dir, 'stress.sock');
  const rng = new Random(seed);
  const allPeers = new Set<StressContext['peers']>();

  const guard = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (e) {
      crashes.push(`${name}: ${e instanceof Error ? (e.stack ?? e.message).split('\n').slice(0, 3).join(' | ') : String(e)}`);
      return undefined;
    }
  };

  const runRound = async (round: number): Promise<RoundRecord> => {
    const roundStarted = Date.now();
    const roundRng = rng.fork(`round ${round}`);
    const unix: StressAddress = (await server.listen({ path: socketPath })) as StressAddress;
    const tcp: StressAddress = (await server.listen({ port: 0, host: '127.0.0.1' })) as StressAddress;
    const ctx: StressContext = { server, unix, tcp, plan, ledger, tally, latches, ids, limits, userCalls: user?.calls ?? [], deadline, peers: new Set() };
    allPeers.add(ctx.peers);
    // Gone everywhere: JS, the server's table, and the native objects (the
    // loop frees a reaped client a moment later, once its last reference goes).
    const drain = (): Promise<boolean> =>
      waitUntil(ctx, () => {
        if (server.connections.size !== 0 || server.stats().clientsLive !== 0) return false;
        const live = liveCounts();
        return live.clients === 0 && live.jobs === 0;
      });

    // Phase 1: everything at once. Each scenario's random stream is made
    // here, in a fixed order, before any of them runs.
    const jobs: { name: string; run: (r: Random) => Promise<void> }[] = [];
    for (let i = 0; i < plan.pipelinedPeers; i++) jobs.push({ name: `pipelined ${i}`, run: (r) => pipelined(ctx, r, i) });
    for (let i = 0; i < plan.userPeers; i++) jobs.push({ name: `user calls ${i}`, run: (r) => userCalls(ctx, r) });
    for (let i = 0; i < plan.neverReaders; i++) jobs.push({ name: `never reader ${i}`, run: (r) => neverReader(ctx, r) });
    jobs.push(
      { name: 'library client', run: (r) => libraryClient(ctx, r) },
      { name: 'malformed (kept)', run: (r) => malformedKept(ctx, r) },
      { name: 'abuse lanes', run: (r) => abuseLanes(ctx, r) },
      { name: 'slow reader', run: (r) => slowReader(ctx, r) },
      { name: 'deadlines', run: (r) => deadlines(ctx, r) },
    );
    const forked = jobs.map((j) => ({ ...j, rng: roundRng.fork(j.name) }));
    // Out of time: stop waiting for the peers still at work; what they had
    // pending is not counted (the time limit fails the run by itself).
    const abandonIfLate = (): void => {
      if (Date.now() >= deadline) for (const p of ctx.peers) p.abandon();
    };
    await Promise.all(forked.map((j) => guard(`round ${round}, ${j.name}`, () => j.run(j.rng))));
    abandonIfLate();
    // The latches nobody opened (deadlines, calls whose client left): their
    // handlers answer now, and those answers must be dropped.
    latches.reset();
    await drain();

    // Phase 2: the connect burst, alone, so that it alone fills maxClients.
    const burstRng = roundRng.fork('burst');
    if (Date.now() < deadline) await guard(`round ${round}, connect burst`, () => connectBurst(ctx, burstRng));
    abandonIfLate();
    latches.reset();
    const drained = await drain();
    await turn();
    const stats = server.stats();
    const quiesce = { drained, live: liveCounts(), bufferedBytes: stats.bufferedBytes, clientsLive: stats.clientsLive };
    const cutShort = Date.now() >= deadline;

    // Phase 3: close() under load (a plain close() when out of time).
    const closeRng = roundRng.fork('close');
    const closed: CloseUnderLoad | undefined = cutShort ? undefined : await guard(`round ${round}, close under load`, () => closeUnderLoad(ctx, closeRng));
    let close: CloseResult = closed?.result ?? { drained: false, callsCancelled: 0, clientsClosed: 0 };
    let afterClose: LiveCounts = closed?.live ?? liveCounts();
    if (server.listening) {
      close = await server.close({ graceMs: 0 });
      afterClose = liveCounts();
    }
    latches.reset();
    ids.reset();
    for (const p of ctx.peers) p.abandon();
    allPeers.delete(ctx.peers);
    // Late answers of the handlers just released settle in these turns.
    await turn();
    await turn();
    let rss: number | undefined;
    if (gc !== undefined) {
      gc();
      gc();
      rss = process.memoryUsage().rss;
    }
    return { round, ms: Date.now() - roundStarted, cutShort, quiesce, afterClose, close, rss };
  };

  let exitCode = 1;
  try {
    let prev = { sent: 0, answered: 0, malformed: 0, cuts: 0, problems: 0 };
    for (let round = 1; round <= roundsWanted; round++) {
      const longest = Math.max(0, ...records.map((r) => r.ms));
      if (round > 1 && Date.now() + longest > deadline) {
        timeLimit = `stopped by --seconds ${totalSeconds} after ${round - 1} of ${roundsWanted} rounds (another takes about ${seconds(longest)}): raise --seconds, or lower --scale or --rounds`;
        break;
      }
      const record = await runRound(round);
      records.push(record);
      const now = {
        sent: ledger.sent,
        answered: ledger.answered,
        malformed: tally.get('malformed.sent'),
        cuts: tally.get('cut.midFrame') + tally.get('cut.midCall') + tally.get('cut.midWave'),
        problems: ledger.missing + ledger.duplicates + ledger.unknown + ledger.wrong + ledger.badReactions + ledger.unexpectedCloses,
      };
      const a = record.afterClose;
      write(
        `round ${round}/${roundsWanted}: ${seconds(record.ms)}; calls ${now.sent - prev.sent} sent, ${now.answered - prev.answered} answered; ` +
          `malformed ${now.malformed - prev.malformed}; cuts ${now.cuts - prev.cuts}; close(): ${record.close.callsCancelled} cancelled, ${record.close.clientsClosed} clients; ` +
          `live after close ${a.clients}/${a.jobs}/${a.messages}/${a.threads}; ` +
          `rss ${record.rss === undefined ? 'n/a' : `${(record.rss / 1048576).toFixed(1)} MiB`}; problems ${now.problems - prev.problems}`,
      );
      prev = now;
      if (Date.now() >= deadline) {
        if (round < roundsWanted) timeLimit = `stopped by --seconds ${totalSeconds} in round ${round} of ${roundsWanted}: raise --seconds, or lower --scale or --rounds`;
        break;
      }
    }

    const invariants: Verdict[] = invariantVerdicts({ ledger, rounds: records, crashes, timeLimit });
    const counters: Verdict[] = counterVerdicts({
      tally,
      plan,
      limits,
      rounds: records.length,
      stats: server.stats(),
      userCalls: user?.calls.length ?? 0,
      latchesHeld: latches.heldTotal,
    });
    write('invariants:');
    for (const v of invariants) write(formatVerdict(v));
    write(`abuse counters (minimums for ${records.length} round${records.length === 1 ? '' : 's'}):`);
    for (const v of counters) write(formatVerdict(v));
    const reasons = tally.withPrefix('server.disconnect.');
    write(`server disconnect reasons: ${reasons.map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}; log lines ${tally.get('server.logLines')}`);
    if (ledger.problems.length > 0) {
      write(`problems (the first ${ledger.problems.length}${ledger.suppressed > 0 ? `; ${ledger.suppressed} more` : ''}):`);
      for (const p of ledger.problems) write(`  ${p}`);
    }
    const failed = [...invariants, ...counters].filter((v) => !v.pass).length;
    exitCode = failed === 0 && records.length > 0 ? 0 : 1;
    write(`result: ${exitCode === 0 ? 'PASS' : `FAIL (${failed} check${failed === 1 ? '' : 's'} failed)`}; ${records.length} rounds in ${seconds(Date.now() - started)}; seed ${seed}`);
  } finally {
    // Whatever happened: no latch, peer, server or socket file outlives the run.
    latches.reset();
    ids.reset();
    for (const peers of allPeers) for (const p of peers) p.cut();
    if (server.listening) await server.close({ graceMs: 0 });
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return exitCode;
}
