/**
 * One round of a stress run, on the run's one Server: listen on a UNIX
 * socket and on loopback TCP; the load and every abuse at once; the
 * connect burst alone; the quiesce sample with every client gone; close()
 * under load; a full GC and an RSS sample. The next round listens again.
 */
import { liveCounts } from '../../index';
import type { CloseResult, LiveCounts, Server } from '../../index';
import type { RoundRecord } from './invariants';
import type { Ledger, StressAddress } from './peer';
import type { Identities, Latches } from './program';
import type { Random } from './random';
import { abuseLanes, deadlines, neverReader, slowReader } from './scenarios/abuse';
import { closeUnderLoad, connectBurst } from './scenarios/close';
import type { CloseUnderLoad } from './scenarios/close';
import { waitUntil } from './scenarios/common';
import { libraryClient, pipelined } from './scenarios/load';
import { malformedKept } from './scenarios/malformed';
import type { Limits, Plan, StressContext, Tally, UserCall } from './scenarios/plan';
import { userCalls } from './scenarios/user';

/** What the rounds of one run share. */
export interface StressRun {
  server: Server;
  socketPath: string;
  plan: Plan;
  limits: Limits;
  ledger: Ledger;
  tally: Tally;
  latches: Latches;
  ids: Identities;
  userCalls: readonly UserCall[];
  /** Date.now() after which every wait gives up (--seconds). */
  deadline: number;
  rng: Random;
  /** A full GC; undefined when none can be had (RSS is then not sampled). */
  gc: (() => void) | undefined;
  /** Scenarios that threw, for the report. */
  crashes: string[];
  /** The peers of every round not yet over, cut at the end whatever happened. */
  allPeers: Set<StressContext['peers']>;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs `fn`; a throw is recorded as a crash of `name` instead of ending the run. */
async function guard<T>(run: StressRun, name: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    run.crashes.push(`${name}: ${e instanceof Error ? (e.stack ?? e.message).split('\n').slice(0, 3).join(' | ') : String(e)}`);
    return undefined;
  }
}

/** Out of time: stop waiting for the peers still at work; what they had pending is not counted (the time limit fails the run by itself). */
function abandonIfLate(run: StressRun, ctx: StressContext): void {
  if (Date.now() >= run.deadline) for (const p of ctx.peers) p.abandon();
}

/**
 * Until every client is gone everywhere: JS, the server's table, and the
 * native objects (the loop frees a reaped client a moment later, once its
 * last reference goes). False if the wait gave up.
 */
function drain(run: StressRun, ctx: StressContext): Promise<boolean> {
  return waitUntil(ctx, () => {
    if (run.server.connections.size !== 0 || run.server.stats().clientsLive !== 0) return false;
    const live = liveCounts();
    return live.clients === 0 && live.jobs === 0;
  });
}

/**
 * Phase 1: the load and every abuse at once. Each scenario's random stream
 * is made here, in a fixed order, before any of them runs.
 */
async function everythingAtOnce(run: StressRun, ctx: StressContext, round: number, roundRng: Random): Promise<void> {
  const { plan } = run;
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
  await Promise.all(forked.map((j) => guard(run, `round ${round}, ${j.name}`, () => j.run(j.rng))));
  abandonIfLate(run, ctx);
  // The latches nobody opened (deadlines, calls whose client left): their
  // handlers answer now, and those answers must be dropped.
  run.latches.reset();
  await drain(run, ctx);
}

/** Phase 2: the connect burst, alone, so that it alone fills maxClients; then the quiesce sample. */
async function burstThenQuiesce(run: StressRun, ctx: StressContext, round: number, roundRng: Random): Promise<RoundRecord['quiesce']> {
  const burstRng = roundRng.fork('burst');
  if (Date.now() < run.deadline) await guard(run, `round ${round}, connect burst`, () => connectBurst(ctx, burstRng));
  abandonIfLate(run, ctx);
  run.latches.reset();
  const drained = await drain(run, ctx);
  await turn();
  const stats = run.server.stats();
  return { drained, live: liveCounts(), bufferedBytes: stats.bufferedBytes, clientsLive: stats.clientsLive };
}

/** Phase 3: close() under load (a plain close() when out of time), and what is left alive after it. */
async function closeUnderLoadOrNot(run: StressRun, ctx: StressContext, round: number, roundRng: Random, cutShort: boolean): Promise<{ close: CloseResult; afterClose: LiveCounts }> {
  const closeRng = roundRng.fork('close');
  const closed: CloseUnderLoad | undefined = cutShort ? undefined : await guard(run, `round ${round}, close under load`, () => closeUnderLoad(ctx, closeRng));
  let close: CloseResult = closed?.result ?? { drained: false, callsCancelled: 0, clientsClosed: 0 };
  let afterClose: LiveCounts = closed?.live ?? liveCounts();
  if (run.server.listening) {
    close = await run.server.close({ graceMs: 0 });
    afterClose = liveCounts();
  }
  return { close, afterClose };
}

export async function runRound(run: StressRun, round: number): Promise<RoundRecord> {
  const roundStarted = Date.now();
  const roundRng = run.rng.fork(`round ${round}`);
  const { server } = run;
  const unix: StressAddress = (await server.listen({ path: run.socketPath })) as StressAddress;
  const tcp: StressAddress = (await server.listen({ port: 0, host: '127.0.0.1' })) as StressAddress;
  const ctx: StressContext = {
    server,
    unix,
    tcp,
    plan: run.plan,
    ledger: run.ledger,
    tally: run.tally,
    latches: run.latches,
    ids: run.ids,
    limits: run.limits,
    userCalls: run.userCalls,
    deadline: run.deadline,
    peers: new Set(),
  };
  run.allPeers.add(ctx.peers);

  await everythingAtOnce(run, ctx, round, roundRng);
  const quiesce = await burstThenQuiesce(run, ctx, round, roundRng);
  const cutShort = Date.now() >= run.deadline;
  const { close, afterClose } = await closeUnderLoadOrNot(run, ctx, round, roundRng, cutShort);

  run.latches.reset();
  run.ids.reset();
  for (const p of ctx.peers) p.abandon();
  run.allPeers.delete(ctx.peers);
  // Late answers of the handlers just released settle in these turns.
  await turn();
  await turn();
  let rss: number | undefined;
  if (run.gc !== undefined) {
    run.gc();
    run.gc();
    rss = process.memoryUsage().rss;
  }
  return { round, ms: Date.now() - roundStarted, cutShort, quiesce, afterClose, close, rss };
}
