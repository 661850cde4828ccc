import { defineProgram, xdr } from '../../lib';

const Lookup = xdr.struct({ name: xdr.string(64) });
const Domain = xdr.struct({ id: xdr.int() });

function demo() {
  return defineProgram({
    number: 0x20008086,
    version: 1,
    procedures: {
      lookup: { id: 23, args: Lookup, result: Domain },
      close: { id: 2, args: xdr.void(), result: xdr.void() },
    },
    events: { lifecycle: { id: 107, body: Domain } },
  });
}

describe('defineProgram', () => {
  test('procedures carry program, version, id, name and schemas', () => {
    const P = demo();
    expect(P.number).toBe(0x20008086);
    expect(P.version).toBe(1);
    expect(P.procedures.lookup).toEqual({ kind: 'procedure', name: 'lookup', program: 0x20008086, version: 1, id: 23, args: Lookup, result: Domain });
    expect(P.procedures.lookup.args).toBe(Lookup);
  });

  test('events carry program, version, id, name and body', () => {
    expect(demo().events.lifecycle).toEqual({ kind: 'event', name: 'lifecycle', program: 0x20008086, version: 1, id: 107, body: Domain });
  });

  test('events are optional', () => {
    const P = defineProgram({ number: 1, version: 1, procedures: { ping: { id: 1, args: xdr.void(), result: xdr.void() } } });
    expect(P.events).toEqual({});
  });

  test('the description is frozen', () => {
    const P = demo();
    expect(Object.isFrozen(P)).toBe(true);
    expect(Object.isFrozen(P.procedures)).toBe(true);
    expect(Object.isFrozen(P.procedures.lookup)).toBe(true);
    expect(Object.isFrozen(P.events)).toBe(true);
  });

  test('procedure and event ids share one number space', () => {
    expect(() =>
      defineProgram({
        number: 1,
        version: 1,
        procedures: { a: { id: 5, args: xdr.void(), result: xdr.void() } },
        events: { b: { id: 5, body: xdr.int() } },
      }),
    ).toThrow(new TypeError('defineProgram: procedure a and event b share id 5'));
    expect(() =>
      defineProgram({
        number: 1,
        version: 1,
        procedures: { a: { id: 5, args: xdr.void(), result: xdr.void() }, c: { id: 5, args: xdr.void(), result: xdr.void() } },
      }),
    ).toThrow('defineProgram: procedure a and procedure c share id 5');
  });

  test('program number and version are unsigned 32-bit integers', () => {
    expect(() => defineProgram({ number: -1, version: 1, procedures: {} })).toThrow(
      new RangeError('defineProgram: number must be an unsigned 32-bit integer, got -1'),
    );
    expect(() => defineProgram({ number: 1, version: 2 ** 32, procedures: {} })).toThrow(
      'defineProgram: version must be an unsigned 32-bit integer, got 4294967296',
    );
  });

  test('ids are signed 32-bit integers', () => {
    expect(() => defineProgram({ number: 1, version: 1, procedures: { a: { id: 2 ** 31, args: xdr.void(), result: xdr.void() } } })).toThrow(
      'defineProgram: procedure a id must be a signed 32-bit integer, got 2147483648',
    );
    expect(() => defineProgram({ number: 1, version: 1, procedures: {}, events: { e: { id: 1.5, body: xdr.int() } } })).toThrow(
      'defineProgram: event e id must be a signed 32-bit integer, got 1.5',
    );
  });

  test('args, result and body must be schemas', () => {
    expect(() => defineProgram({ number: 1, version: 1, procedures: { a: { id: 1, args: xdr.int as never, result: xdr.void() } } })).toThrow(
      new TypeError('defineProgram: procedure a args is not an XDR schema, got a function'),
    );
    expect(() => defineProgram({ number: 1, version: 1, procedures: { a: { id: 1, args: xdr.void(), result: {} as never } } })).toThrow(
      'defineProgram: procedure a result is not an XDR schema, got an object',
    );
    expect(() => defineProgram({ number: 1, version: 1, procedures: {}, events: { e: { id: 1, body: null as never } } })).toThrow(
      'defineProgram: event e body is not an XDR schema, got null',
    );
  });

  test('a procedure named "__proto__" stays a plain key', () => {
    const def = JSON.parse('{"number": 1, "version": 1, "procedures": {"__proto__": {"id": 1}}}');
    def.procedures.__proto__.args = xdr.void();
    def.procedures.__proto__.result = xdr.void();
    const P = defineProgram(def);
    expect(Object.getPrototypeOf(P.procedures)).toBe(Object.prototype);
    expect(Object.keys(P.procedures)).toEqual(['__proto__']);
  });

  test('procedures must be an object', () => {
    expect(() => defineProgram({ number: 1, version: 1, procedures: null as never })).toThrow(
      'defineProgram: procedures must be an object, got null',
    );
  });
});
