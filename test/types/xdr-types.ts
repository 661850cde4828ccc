/**
 * Compile-time tests of the inferred types. Checked by `npx tsc -p . --noEmit`
 * (jest does not run this file). Each `Equals` must be `true`; each
 * `@ts-expect-error` line must be an error.
 */
import { Client, Server, defineProgram, xdr } from '../../lib';
import type { CallContext, Connection, EventBody, Handler, HandlerArgs, HandlerResult, Handlers, Static } from '../../lib';

type Equals<A, B> = (<X>() => X extends A ? 1 : 2) extends (<X>() => X extends B ? 1 : 2) ? true : false;
function assertType<T extends true>(): T | undefined {
  return undefined;
}
declare const buf: Buffer;

// --- primitives -------------------------------------------------------------
assertType<Equals<Static<ReturnType<typeof xdr.int>>, number>>();
assertType<Equals<xdr.Infer<ReturnType<typeof xdr.uint>>, number>>();
assertType<Equals<Static<ReturnType<typeof xdr.uchar>>, number>>();
assertType<Equals<Static<ReturnType<typeof xdr.ushort>>, number>>();
assertType<Equals<Static<ReturnType<typeof xdr.hyper>>, bigint>>();
assertType<Equals<Static<ReturnType<typeof xdr.uhyper>>, bigint>>();
assertType<Equals<Static<ReturnType<typeof xdr.double>>, number>>();
assertType<Equals<Static<ReturnType<typeof xdr.bool>>, boolean>>();
assertType<Equals<Static<ReturnType<typeof xdr.void>>, undefined>>();
assertType<Equals<Static<ReturnType<typeof xdr.string>>, string>>();
assertType<Equals<Static<ReturnType<typeof xdr.opaque>>, Buffer>>();
assertType<Equals<Static<ReturnType<typeof xdr.fixedOpaque>>, Buffer>>();

const Color = xdr.enum({ RED: 0, GREEN: 1, BLUE: 2 });
assertType<Equals<Static<typeof Color>, 'RED' | 'GREEN' | 'BLUE'>>();
assertType<Equals<typeof Color.values.GREEN, 1>>();

// --- struct, arrays, optional -------------------------------------------------
const Disk = xdr.struct({ name: xdr.string(256), size: xdr.uhyper() });
const Args = xdr.struct({
  name: xdr.string(256),
  flags: xdr.uint(),
  disks: xdr.array(Disk, 16),
  ids: xdr.fixedArray(xdr.int(), 3),
  label: xdr.optional(xdr.string()),
  uuid: xdr.fixedOpaque(16),
  color: Color,
});
type Args = Static<typeof Args>;
assertType<
  Equals<
    Args,
    {
      name: string;
      flags: number;
      disks: { name: string; size: bigint }[];
      ids: number[];
      label: string | null;
      uuid: Buffer;
      color: 'RED' | 'GREEN' | 'BLUE';
    }
  >
>();

const good: Args = { name: 'a', flags: 0, disks: [{ name: 'd', size: 1n }], ids: [1, 2, 3], label: null, uuid: buf, color: 'RED' };
void good;
// @ts-expect-error wrong field type: flags is a number
const wrongType: Args = { ...good, flags: '1' };
// @ts-expect-error missing field: flags
const missing: Args = { name: 'a', disks: [], ids: [], label: null, uuid: buf, color: 'RED' };
// @ts-expect-error hyper is a bigint, not a number
const notBigint: Args = { ...good, disks: [{ name: 'd', size: 1 }] };
// @ts-expect-error not an enum member
const badEnum: Args = { ...good, color: 'PINK' };
// @ts-expect-error an optional is null when absent, not undefined
const undefOptional: Args = { ...good, label: undefined };
void [wrongType, missing, notBigint, badEnum, undefOptional];

// encode checks the value against the schema, decode returns the type.
xdr.encode(Args, good);
// @ts-expect-error wrong value for the schema
xdr.encode(Args, { name: 1 });
assertType<Equals<ReturnType<typeof xdr.decode<typeof Args>>, Args>>();

// --- unions -----------------------------------------------------------------
const Shape = xdr.union(
  xdr.int(),
  [xdr.arm(1, xdr.double()), xdr.arm([2, 3], xdr.struct({ w: xdr.double(), h: xdr.double() })), xdr.arm(4, xdr.void())],
  { default: xdr.string(8) },
);
type Shape = Static<typeof Shape>;
assertType<
  Equals<
    Shape,
    | { tag: 1; value: number }
    | { tag: 2 | 3; value: { w: number; h: number } }
    | { tag: 4; value?: undefined }
    | { tag: number; value: string }
  >
>();

const FileKind = xdr.enum({ TEXT: 0, DATA: 1, EXEC: 2 });
const FileType = xdr.union(FileKind, [
  xdr.arm('TEXT', xdr.void()),
  xdr.arm('DATA', xdr.string(255)),
  xdr.arm('EXEC', xdr.string(255)),
]);
type FileType = Static<typeof FileType>;
assertType<Equals<FileType, { tag: 'TEXT'; value?: undefined } | { tag: 'DATA'; value: string } | { tag: 'EXEC'; value: string }>>();
const ft: FileType = { tag: 'EXEC', value: 'lisp' };
void ft;
// @ts-expect-error wrong union arm: DATA carries a string
const wrongArm: FileType = { tag: 'DATA', value: 3 };
// @ts-expect-error no such tag
const wrongTag: FileType = { tag: 'LINK', value: 'x' };
void [wrongArm, wrongTag];

// Narrowing works on `tag`.
function kindName(f: FileType): string {
  if (f.tag === 'TEXT') {
    assertType<Equals<typeof f.value, undefined>>();
    return 'text';
  }
  assertType<Equals<typeof f.value, string>>();
  return f.value;
}
void kindName;

// With an enum default, the default arm's tag is the uncovered members.
const Partial = xdr.union(FileKind, [xdr.arm('TEXT', xdr.int())], { default: xdr.void() });
assertType<Equals<Static<typeof Partial>, { tag: 'TEXT'; value: number } | { tag: 'DATA' | 'EXEC'; value?: undefined }>>();

// The README's example: a case list, and a default covering what is left.
const filekind5 = xdr.enum({ TEXT: 0, DATA: 1, EXEC: 2, LINK: 3, PIPE: 4 });
const filetype5 = xdr.union(
  filekind5,
  [xdr.arm('TEXT', xdr.void()), xdr.arm('DATA', xdr.string(255)), xdr.arm(['EXEC', 'LINK'], xdr.string(255))],
  { default: xdr.int() },
);
assertType<
  Equals<
    Static<typeof filetype5>,
    | { tag: 'TEXT'; value?: undefined }
    | { tag: 'DATA'; value: string }
    | { tag: 'EXEC' | 'LINK'; value: string }
    | { tag: 'PIPE'; value: number }
  >
>();

const Maybe = xdr.union(xdr.bool(), [xdr.arm(true, xdr.hyper()), xdr.arm(false, xdr.void())]);
assertType<Equals<Static<typeof Maybe>, { tag: true; value: bigint } | { tag: false; value?: undefined }>>();

// @ts-expect-error a case that is not a member of the enum discriminant
xdr.union(FileKind, [xdr.arm('LINK', xdr.void())]);
// @ts-expect-error a string case for an int discriminant
xdr.union(xdr.int(), [xdr.arm('one', xdr.void())]);
// @ts-expect-error hyper cannot be a discriminant
xdr.union(xdr.hyper(), [xdr.arm(1, xdr.void())]);

// --- recursion ----------------------------------------------------------------
const List = xdr.recursive((self) => xdr.struct({ item: xdr.string(), next: xdr.optional(self) }));
type List = Static<typeof List>;
assertType<Equals<List['item'], string>>();
assertType<Equals<NonNullable<List['next']>['item'], string>>();
assertType<Equals<NonNullable<NonNullable<List['next']>['next']>['next'], List | null>>();
const list: List = { item: 'a', next: { item: 'b', next: null } };
void list;
// @ts-expect-error wrong type two levels down
const badList: List = { item: 'a', next: { item: 2, next: null } };
void badList;

const Tree = xdr.recursive((self) => xdr.struct({ value: xdr.int(), children: xdr.array(self, 8) }));
type Tree = Static<typeof Tree>;
assertType<Equals<Tree['children'][number]['children'][number]['value'], number>>();

const Holder = xdr.struct({ list: xdr.optional(List), count: xdr.uint() });
assertType<Equals<Static<typeof Holder>['list'], List | null>>();

// --- generic code over schemas ---------------------------------------------------
function roundTrip<S extends xdr.Schema>(schema: S, value: Static<S>): Static<S> {
  return xdr.decode(schema, xdr.encode(schema, value));
}
const n: number = roundTrip(xdr.int(), 5);
void n;

// --- programs -------------------------------------------------------------------
const Demo = defineProgram({
  number: 0x20000001,
  version: 1,
  procedures: {
    lookup: { id: 1, args: xdr.struct({ name: xdr.string(64) }), result: xdr.struct({ id: xdr.int(), uuid: xdr.fixedOpaque(16) }) },
    close: { id: 2, args: xdr.void(), result: xdr.void() },
    version: { id: 3, args: xdr.void(), result: xdr.uhyper() },
  },
  events: { changed: { id: 100, body: xdr.struct({ id: xdr.int() }) } },
});

assertType<Equals<HandlerArgs<typeof Demo, 'lookup'>, { name: string }>>();
assertType<Equals<HandlerResult<typeof Demo, 'lookup'>, { id: number; uuid: Buffer }>>();
assertType<Equals<HandlerResult<typeof Demo, 'version'>, bigint>>();
assertType<Equals<EventBody<typeof Demo, 'changed'>, { id: number }>>();
assertType<Equals<typeof Demo.procedures.lookup.id, 1>>();
assertType<Equals<typeof Demo.procedures.lookup.name, 'lookup'>>();
assertType<Equals<typeof Demo.procedures.lookup.args, typeof Demo.procedures.lookup.args>>();
assertType<Equals<Static<typeof Demo.procedures.version.result>, bigint>>();

const lookup: Handler<typeof Demo, 'lookup'> = async ({ name }) => ({ id: name.length, uuid: buf });
const close: Handler<typeof Demo, 'close'> = () => {};
const version: Handler<typeof Demo, 'version'> = () => 7001002n;
const all: Handlers<typeof Demo> = { lookup, close, version };
void all;

// @ts-expect-error handler result type mismatch: id must be a number
const badLookup: Handler<typeof Demo, 'lookup'> = async () => ({ id: 'x', uuid: buf });
// @ts-expect-error handler result type mismatch: hyper is a bigint
const badVersion: Handler<typeof Demo, 'version'> = () => 7001002;
// @ts-expect-error handler args type mismatch: name is a string
const badArgs: Handler<typeof Demo, 'lookup'> = (args: { name: number }) => ({ id: args.name, uuid: buf });
// @ts-expect-error a handler for every procedure: version is missing
const incomplete: Handlers<typeof Demo> = { lookup, close };
// @ts-expect-error no such procedure
type NoSuch = HandlerArgs<typeof Demo, 'nosuch'>;
void [badLookup, badVersion, badArgs, incomplete];
export type { NoSuch };

// quadruple exists only to fail clearly: its return type is never.
assertType<Equals<ReturnType<typeof xdr.quadruple>, never>>();

// --- typed server.handle and client.call --------------------------------------
declare const server: Server;
declare const client: Client;
server.handle(Demo, {
  lookup: async ({ name }, ctx: CallContext) => ({ id: name.length + ctx.procedure, uuid: buf }),
  version: () => 7001002n,
});
// @ts-expect-error a result of the wrong type
server.handle(Demo, { version: () => 'seven' });
// @ts-expect-error arguments read as the wrong type
server.handle(Demo, { lookup: (args: { name: number }) => ({ id: args.name, uuid: buf }) });
async function typedCalls(): Promise<void> {
  const r = await client.call(Demo.procedures.lookup, { name: 'x' });
  assertType<Equals<typeof r, { id: number; uuid: Buffer }>>();
  const v = await client.call(Demo.procedures.version, undefined);
  assertType<Equals<typeof v, bigint>>();
  const raw = await client.call(1, 1, 1, buf);
  assertType<Equals<typeof raw, Buffer>>();
  // @ts-expect-error arguments of the wrong shape
  await client.call(Demo.procedures.lookup, { name: 5 });
}
void typedCalls;

// --- typed events: server.sendEvent and client.on ------------------------------
declare const someClient: Connection;
server.sendEvent(someClient, Demo.events.changed, { id: 3 });
// @ts-expect-error an event body of the wrong shape
server.sendEvent(someClient, Demo.events.changed, { id: 'three' });
server.sendEvent(someClient, 0x20000001, 1, 100, buf);  // raw: bytes
client.on(Demo.events.changed, (value, message) => {
  assertType<Equals<typeof value, { id: number }>>();
  assertType<Equals<typeof message.body, Buffer>>();
});
// @ts-expect-error the listener reads the body as the wrong type
client.on(Demo.events.changed, (value: { id: string }) => void value);
client.on('message', (m) => assertType<Equals<typeof m.procedure, number>>());
client.on('close', (err) => assertType<Equals<typeof err, Error | undefined>>());
