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

import { Server } from '../../index';
import { counterVerdicts, formatVerdict, invariantVerdicts } from './invariants';
import type { RoundRecord, Verdict } from './invariants';
import { findGc, youngGenerationPinned } from './memory';
import { Ledger } from './peer';
import { Identities, Latches, registerStressProgram } from './program';
import { Random, newSeed } from './random';
import { runRound } from './round';
import { StatsSampler } from './stats-sampler';
import type { StatsSamples } from './stats-sampler';
import type { StressRun } from './round';
import { Tally, makePlan } from './scenarios/plan';
import type { Limits } from './scenarios/plan';
import { StressUsageError, loadUserModule } from './user-module';

export { StressUsageError } from './user-module';

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

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const KiB = 1024;

/** A run under way: what its rounds share, and what only the driver needs. */
interface Run extends StressRun {
  write: (line: string) => void;
  started: number;
  seed: number;
  totalSeconds: number;
  roundsWanted: number;
  /** The temp dir of the UNIX socket. */
  dir: string;
}

/** The run's one Server, with the stress program's handlers and the tally counting its events. */
function stressServer(limits: Limits, tally: Tally, latches: Latches, ids: Identities): Server {
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
  return server;
}

/** Reads the options, prints the seed and settings lines, makes the server and registers every handler. */
async function startRun(options: StressOptions): Promise<Run> {
  const write = options.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const clients = options.clients ?? STRESS_DEFAULTS.clients;
  const totalSeconds = options.seconds ?? STRESS_DEFAULTS.seconds;
  const scale = options.scale ?? STRESS_DEFAULTS.scale;
  const roundsWanted = options.rounds ?? STRESS_DEFAULTS.rounds;
  const user = options.module !== undefined ? loadUserModule(options.module) : undefined;
  const seed = options.seed ?? newSeed();
  write(`seed: ${seed} (repeat with --seed ${seed})`);

  const started = Date.now();
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

  const tally = new Tally();
  const latches = new Latches();
  const ids = new Identities();
  const server = stressServer(limits, tally, latches, ids);
  if (user !== undefined) {
    try {
      await user.setup(server);
    } catch (e) {
      throw new StressUsageError(`${options.module}: setup(server) failed: ${(e as Error).message}`);
    }
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xdrd-stress-'));
  return {
    server,
    socketPath: path.join(dir, 'stress.sock'),
    plan,
    limits,
    ledger: new Ledger(),
    tally,
    latches,
    ids,
    userCalls: user?.calls ?? [],
    deadline: started + totalSeconds * 1000,
    rng: new Random(seed),
    gc,
    crashes: [],
    allPeers: new Set(),
    write,
    started,
    seed,
    totalSeconds,
    roundsWanted,
    dir,
  };
}

/** The rounds, one report line each, until all ran or --seconds would be passed; why it stopped early, if it did. */
async function runRounds(run: Run, records: RoundRecord[]): Promise<string | undefined> {
  const { ledger, tally, deadline, roundsWanted, totalSeconds } = run;
  let prev = { sent: 0, answered: 0, malformed: 0, cuts: 0, problems: 0 };
  for (let round = 1; round <= roundsWanted; round++) {
    const longest = Math.max(0, ...records.map((r) => r.ms));
    if (round > 1 && Date.now() + longest > deadline) {
      return `stopped by --seconds ${totalSeconds} after ${round - 1} of ${roundsWanted} rounds (another takes about ${seconds(longest)}): raise --seconds, or lower --scale or --rounds`;
    }
    const record = await runRound(run, round);
    records.push(record);
    const now = {
      sent: ledger.sent,
      answered: ledger.answered,
      malformed: tally.get('malformed.sent'),
      cuts: tally.get('cut.midFrame') + tally.get('cut.midCall') + tally.get('cut.midWave'),
      problems: ledger.missing + ledger.duplicates + ledger.unknown + ledger.wrong + ledger.badReactions + ledger.unexpectedCloses,
    };
    const a = record.afterClose;
    run.write(
      `round ${round}/${roundsWanted}: ${seconds(record.ms)}; calls ${now.sent - prev.sent} sent, ${now.answered - prev.answered} answered; ` +
        `malformed ${now.malformed - prev.malformed}; cuts ${now.cuts - prev.cuts}; close(): ${record.close.callsCancelled} cancelled, ${record.close.clientsClosed} clients; ` +
        `live after close ${a.clients}/${a.jobs}/${a.messages}/${a.threads}; ` +
        `rss ${record.rss === undefined ? 'n/a' : `${(record.rss / 1048576).toFixed(1)} MiB`}; problems ${now.problems - prev.problems}`,
    );
    prev = now;
    if (Date.now() >= deadline) {
      if (round < roundsWanted) return `stopped by --seconds ${totalSeconds} in round ${round} of ${roundsWanted}: raise --seconds, or lower --scale or --rounds`;
      break;
    }
  }
  return undefined;
}

/** Prints every invariant and abuse counter as PASS/FAIL, the problems and the result line; returns the exit code. */
function report(run: Run, records: readonly RoundRecord[], timeLimit: string | undefined, statsSamples: StatsSamples): number {
  const { write, ledger, tally } = run;
  const invariants: Verdict[] = invariantVerdicts({ ledger, rounds: records, crashes: run.crashes, timeLimit, statsSamples });
  const counters: Verdict[] = counterVerdicts({
    tally,
    plan: run.plan,
    limits: run.limits,
    rounds: records.length,
    stats: run.server.stats(),
    userCalls: run.userCalls.length,
    latchesHeld: run.latches.heldTotal,
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
  const exitCode = failed === 0 && records.length > 0 ? 0 : 1;
  write(`result: ${exitCode === 0 ? 'PASS' : `FAIL (${failed} check${failed === 1 ? '' : 's'} failed)`}; ${records.length} rounds in ${seconds(Date.now() - run.started)}; seed ${run.seed}`);
  return exitCode;
}

/** Whatever happened: no latch, peer, server or socket file outlives the run. */
async function endRun(run: Run): Promise<void> {
  run.latches.reset();
  run.ids.reset();
  for (const peers of run.allPeers) for (const p of peers) p.cut();
  if (run.server.listening) await run.server.close({ graceMs: 0 });
  fs.rmSync(run.dir, { recursive: true, force: true });
}

/** Runs the stress rounds and prints the report; resolves with the exit code (0 or 1). */
export async function runStress(options: StressOptions = {}): Promise<number> {
  const run = await startRun(options);
  try {
    const records: RoundRecord[] = [];
    const sampler = new StatsSampler(run.server);
    sampler.start();
    let timeLimit: string | undefined;
    try {
      timeLimit = await runRounds(run, records);
    } finally {
      sampler.stop();
    }
    return report(run, records, timeLimit, sampler.stop());
  } finally {
    await endRun(run);
  }
}
