/**
 * Per-procedure counters and latency histograms of the JS handlers.
 *
 * Threads: JS thread only. Recording is a few array writes per call (no
 * allocation); snapshots are made only when stats() is asked for.
 */
import { LatencyHistogram } from '../histogram';
import type { LatencySnapshot } from '../histogram';

export interface ProcedureStats {
  program: number;
  version: number;
  procedure: number;
  /** The procedure's name when it was registered from a defineProgram() program. */
  name: string | null;
  /** Calls for the procedure: handed to the handler, or refused by a worker because their arguments did not decode. */
  calls: number;
  /** Of those, answered with an error (arguments that did not decode, thrown, rejected, bad result, deadline). */
  errors: number;
  /** Of those, given up at the deadline (`callDeadlineMs`). */
  deadlines: number;
  /** Of those, whose client left before the answer (the answer was dropped). */
  abandoned: number;
  /** From the loop thread reading the call to the handler being called: the queues and the hand-overs. */
  queueWait: LatencySnapshot;
  /** From the handler being called to its answer (for async handlers, the promise settling). */
  runTime: LatencySnapshot;
}

export class ProcedureRecord {
  calls = 0;
  errors = 0;
  deadlines = 0;
  abandoned = 0;
  /** Calls a worker refused (arguments that did not decode), as last read from the native side. */
  argsRefused = 0;
  readonly queueWait = new LatencyHistogram();
  readonly runTime = new LatencyHistogram();

  constructor(
    readonly program: number,
    readonly version: number,
    readonly procedure: number,
    readonly name: string | null,
  ) {}

  snapshot(): ProcedureStats {
    return {
      program: this.program,
      version: this.version,
      procedure: this.procedure,
      name: this.name,
      calls: this.calls,
      errors: this.errors,
      deadlines: this.deadlines,
      abandoned: this.abandoned,
      queueWait: this.queueWait.snapshot(),
      runTime: this.runTime.snapshot(),
    };
  }
}

/** The records of one registered handler, by procedure number (a catch-all serves many). */
export class ProcedureTable {
  readonly #records = new Map<number, ProcedureRecord>();

  constructor(
    readonly program: number,
    readonly version: number,
    readonly names: ReadonlyMap<number, string>,
  ) {}

  get(procedure: number): ProcedureRecord {
    let r = this.#records.get(procedure);
    if (r === undefined) {
      r = new ProcedureRecord(this.program, this.version, procedure, this.names.get(procedure) ?? null);
      this.#records.set(procedure, r);
    }
    return r;
  }

  records(): IterableIterator<ProcedureRecord> {
    return this.#records.values();
  }
}
