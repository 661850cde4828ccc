/**
 * The JS handler table: what handle() registered, by the index the native
 * side carries in each batch record, with each entry's per-procedure
 * counters.
 *
 * Threads: JS thread only. Filled before the first listen(); fixed after.
 */
import { checkInt32, checkUint32 } from '../int32';
import type { NativeServer } from '../native';
import { ProcedureTable } from './procedure-stats';
import type { ProcedureRecord, ProcedureStats } from './procedure-stats';
import type { TypedProcedure } from './typed';
import type { RawHandler, RawHandlers } from './types';

export interface HandlerEntry {
  readonly program: number;
  readonly version: number;
  readonly fn: RawHandler;
  readonly table: ProcedureTable;
  /** The procedure's record in `table`, for a per-procedure entry (no look-up per call); undefined for a catch-all. */
  readonly record: ProcedureRecord | undefined;
  /**
   * A typed procedure whose calls a worker decodes: JS gets its arguments
   * as flat data and runs this instead of `fn`. Undefined for raw handlers,
   * and for typed ones the native side could not take the plan of (`fn`
   * then decodes on the JS thread).
   */
  readonly typed: TypedProcedure | undefined;
  /** The procedure number of a per-procedure entry; undefined for a catch-all ('*'). */
  readonly procedure: number | undefined;
}

export class HandlerTable {
  readonly #native: NativeServer;
  readonly #entries: HandlerEntry[] = [];

  constructor(nativeServer: NativeServer) {
    this.#native = nativeServer;
  }

  /** The entry a batch record names. */
  get(index: number): HandlerEntry {
    return this.#entries[index]!;
  }

  /**
   * Registers one program version's raw handlers, natively too; `names`
   * gives the procedures' names for stats(). Throws before changing
   * anything when a key or handler is not valid or the server runs.
   */
  register(
    program: number,
    version: number,
    handlers: RawHandlers,
    names: ReadonlyMap<number, string>,
    typed: ReadonlyMap<number, TypedProcedure> = new Map(),
  ): void {
    checkUint32(program, 'program');
    checkUint32(version, 'version');
    if (this.#native.state !== 'idle') {
      const err = new Error('handle() must be called before listen(): the running server\'s handler table is fixed') as NodeJS.ErrnoException;
      err.code = 'ERR_XDRD_SERVER_RUNNING';
      throw err;
    }
    for (const key of Object.keys(handlers)) {
      const fn = (handlers as Record<string, unknown>)[key];
      if (typeof fn !== 'function') throw new TypeError(`the handler for ${key} must be a function`);
      if (key !== '*' && !/^-?\d+$/.test(key)) throw new TypeError(`handler keys are procedure numbers or '*', got '${key}'`);
    }
    for (const key of Object.keys(handlers)) {
      const fn = (handlers as Record<string, RawHandler>)[key]!;
      const table = new ProcedureTable(program, version, names);
      const index = this.#entries.length;
      if (key === '*') {
        this.#native.handleProgram(program, version, index);
        this.#entries.push({ program, version, fn, table, record: undefined, typed: undefined, procedure: undefined });
        continue;
      }
      const procedure = checkInt32(Number(key), 'procedure');
      const record = table.get(procedure);
      this.#entries.push({ program, version, fn, table, record, typed: this.#handleTyped(program, version, procedure, index, typed.get(procedure)), procedure });
    }
  }

  /**
   * Registers one procedure natively, with its decode plan when it has one
   * the native side takes; returns the typed procedure if it did.
   */
  #handleTyped(program: number, version: number, procedure: number, index: number, typed: TypedProcedure | undefined): TypedProcedure | undefined {
    if (typed !== undefined) {
      try {
        this.#native.handle(program, version, procedure, index, typed.plan.words, typed.plan.names);
        return typed;
      } catch (e) {
        // Only a plan the core refuses (nested too deeply for a worker's
        // stack) falls back to decoding on the JS thread.
        if (!(e instanceof Error && e.message.startsWith('bad decode plan'))) throw e;
      }
    }
    this.#native.handle(program, version, procedure, index);
    return undefined;
  }

  /** Per handler index, typed calls a worker refused; counted as calls and errors of their procedure. */
  #countRefused(): void {
    const refused = this.#native.argsRefused();
    for (let i = 0; i < refused.length; i++) {
      const entry = this.#entries[i];
      const n = refused[i]!;
      if (entry === undefined || entry.procedure === undefined) continue;
      const record = entry.table.get(entry.procedure);
      const added = n - record.argsRefused;
      record.argsRefused = n;
      record.calls += added;
      record.errors += added;
    }
  }

  /** Every procedure's counters and latencies so far. */
  procedureStats(): ProcedureStats[] {
    this.#countRefused();
    const out: ProcedureStats[] = [];
    for (const entry of this.#entries) for (const r of entry.table.records()) out.push(r.snapshot());
    return out;
  }
}
