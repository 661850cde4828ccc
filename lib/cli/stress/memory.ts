/**
 * What the RSS check needs from V8: a full GC, and whether the young
 * generation is pinned (see run.ts's header for why both matter).
 */
import * as v8 from 'v8';
import * as vm from 'vm';

/** Whether node was started with a fixed young generation. */
export function youngGenerationPinned(): boolean {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.replace(/_/g, '-').startsWith('--max-semi-space-size'));
}

/** A full GC, if one can be had: global.gc, or enabled at run time. */
export function findGc(): { gc: (() => void) | undefined; how: string } {
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
