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
import type { ProcedureStats } from './procedure-stats';
import type { RawHandler, RawHandlers } from './types';

export interface HandlerEntry {
  readonly program: number;
  readonly version: number;
  readonly fn: RawHandler;
  readonly table: ProcedureTable;
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
  register(program: number, version: number, handlers: RawHandlers, names: ReadonlyMap<number, string>): void {
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
      const index = this.#entries.push({ program, version, fn, table: new ProcedureTable(program, version, names) }) - 1;
      if (key === '*') this.#native.handleProgram(program, version, index);
      else this.#native.handle(program, version, checkInt32(Number(key), 'procedure'), index);
    }
  }

  /** Every procedure's counters and latencies so far. */
  procedureStats(): ProcedureStats[] {
    const out: ProcedureStats[] = [];
    for (const entry of this.#entries) for (const r of entry.table.records()) out.push(r.snapshot());
    return out;
  }
}
