/**
 * Compile-time tests of modules written by `xdrd gen` (the goldens in
 * test/fixtures/gen/). Checked by `npx tsc -p . --noEmit` (jest does not run
 * this file). Each `Equals` must be `true`; each `@ts-expect-error` line
 * must be an error.
 */
import type { EventBody, HandlerArgs, HandlerResult, Handlers } from '../../lib';
import { ALL_V1, ALL_V2, all_types, by_enum, color, list } from '../fixtures/gen/all';
import { EXTRAS_V1, tree } from '../fixtures/gen/extras';
import { demo } from '../fixtures/gen/procs';

type Equals<A, B> = (<X>() => X extends A ? 1 : 2) extends (<X>() => X extends B ? 1 : 2) ? true : false;
function assertType<T extends true>(): T | undefined {
  return undefined;
}
declare const value: all_types;

// --- the types beside the schemas ----------------------------------------------
assertType<Equals<color, 'RED' | 'GREEN' | 'BLUE' | 'NEGATIVE' | 'BIG'>>();
assertType<Equals<list, { value: number; next: list | null }>>();
assertType<Equals<all_types['c'], bigint>>();
assertType<Equals<all_types['o'], string | null>>();
assertType<Equals<by_enum, { tag: 'RED'; value?: undefined } | { tag: 'GREEN' | 'BLUE'; value: Buffer } | { tag: 'NEGATIVE' | 'BIG'; value: number }>>();
assertType<Equals<tree['children'], { trees: tree[] } | null>>();

// --- programs ----------------------------------------------------------------------
assertType<Equals<HandlerArgs<typeof ALL_V1, 'ALL_ECHO'>, all_types>>();
assertType<Equals<HandlerResult<typeof ALL_V2, 'ALL_LIST'>, list>>();
assertType<Equals<HandlerArgs<typeof ALL_V2, 'ALL_PICK'>, color>>();
assertType<Equals<HandlerArgs<typeof EXTRAS_V1, 'EXTRAS_PAIR'>['arg2'], bigint>>();
assertType<Equals<HandlerArgs<typeof demo, 'connect_open'>, { name: string; flags: number }>>();
assertType<Equals<EventBody<typeof demo, 'tick'>, { count: bigint }>>();

const v1: Handlers<typeof ALL_V1> = {
  ALL_NULL: () => undefined,
  ALL_ECHO: (args) => args,
};
const v2: Handlers<typeof ALL_V2> = {
  ALL_LIST: (n) => ({ value: n, next: null }),
  ALL_PICK: (c) => (c === 'RED' ? { tag: 'RED' } : { tag: 'NEGATIVE', value: 1 }),
};

// @ts-expect-error a handler for every procedure: ALL_ECHO is missing
const missing: Handlers<typeof ALL_V1> = { ALL_NULL: () => undefined };

const wrong: Handlers<typeof ALL_V2> = {
  // @ts-expect-error wrong result type: a list's value is a number
  ALL_LIST: (n) => ({ value: String(n), next: null }),
  // @ts-expect-error wrong result type: GREEN carries a Buffer
  ALL_PICK: () => ({ tag: 'GREEN', value: 'text' }),
};

const demoHandlers: Handlers<typeof demo> = {
  connect_open: () => undefined,
  connect_close: () => undefined,
  echo: ({ value: v }) => ({ value: v }),
  // @ts-expect-error wrong result type: colors is an array of enum names
  list_colors: () => ({ colors: [0] }),
};

void [value, v1, v2, missing, wrong, demoHandlers];
