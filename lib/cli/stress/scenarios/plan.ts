/**
 * The plan of a stress run (how much of each thing a round does), the
 * server limits the scenarios rely on, the tally of what the driver did,
 * and the context every scenario gets.
 */
import type { Server } from '../../../index';
import type { Ledger, Peer, StressAddress } from '../peer';
import type { Identities, Latches } from '../program';

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

