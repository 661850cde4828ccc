/**
 * The user module of `xdrd stress ./module.js` (its contract is in
 * run.ts's header), loaded and checked before anything runs.
 */
import * as fs from 'fs';
import * as path from 'path';

import type { Server } from '../../index';
import type { UserCall } from './scenarios/plan';

/** A problem with the arguments or the user module: the CLI exits 2. */
export class StressUsageError extends Error {
  override readonly name = 'StressUsageError';
}

export interface UserModule {
  setup: (server: Server) => unknown;
  calls: UserCall[];
}

const isU32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
const isI32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff;

export function loadUserModule(file: string): UserModule {
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
