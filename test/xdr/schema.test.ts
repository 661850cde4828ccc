import { xdr } from '../../lib';

describe('schema builders', () => {
  test('quadruple is rejected', () => {
    expect(() => xdr.quadruple()).toThrow(new TypeError('quadruple (128-bit float) is not supported'));
  });

  test('schemas are frozen plain objects', () => {
    const S = xdr.struct({ a: xdr.int() });
    expect(Object.isFrozen(S)).toBe(true);
    expect(Object.isFrozen(S.fields)).toBe(true);
    expect(Object.getPrototypeOf(S)).toBe(Object.prototype);
  });

  test('isSchema accepts built schemas only', () => {
    expect(xdr.isSchema(xdr.int())).toBe(true);
    expect(xdr.isSchema({ kind: 'int', minSize: 4, min: 0, max: 1 })).toBe(false);
    expect(xdr.isSchema(xdr.arm(1, xdr.int()))).toBe(false);
  });

  test('a builder passed uncalled gets a hint', () => {
    expect(() => xdr.struct({ a: xdr.int as never })).toThrow(
      'struct field a: not an XDR schema, got a function (a builder function: did you forget to call it, e.g. xdr.int()?)',
    );
  });

  test('maxima and lengths must be 32-bit unsigned integers', () => {
    expect(() => xdr.string(-1)).toThrow(new RangeError('string: max must be an integer from 0 to 4294967295, got -1'));
    expect(() => xdr.opaque(2 ** 32)).toThrow('opaque: max must be an integer from 0 to 4294967295, got 4294967296');
    expect(() => xdr.fixedOpaque(1.5)).toThrow('fixedOpaque: length must be an integer from 0 to 4294967295, got 1.5');
    expect(() => xdr.array(xdr.int(), NaN)).toThrow('array: max must be an integer from 0 to 4294967295, got NaN');
  });

  test('omitted maxima mean <>, i.e. 2^32-1', () => {
    expect(xdr.string().max).toBe(0xffffffff);
    expect(xdr.opaque().max).toBe(0xffffffff);
    expect(xdr.array(xdr.int()).max).toBe(0xffffffff);
  });

  test('enum members must be distinct 32-bit integers with XDR names', () => {
    expect(() => xdr.enum({ A: 0, B: 0 })).toThrow('enum: members A and B share the value 0');
    expect(() => xdr.enum({ A: 1.5 })).toThrow('enum: member A must be a 32-bit integer, got 1.5');
    expect(() => xdr.enum({ A: 2 ** 31 })).toThrow('enum: member A must be a 32-bit integer, got 2147483648');
    expect(() => xdr.enum({ 'not-a-name': 1 })).toThrow('enum: member name "not-a-name" is not an XDR identifier');
    expect(() => xdr.enum({})).toThrow('enum: needs at least one member');
  });

  test('struct needs fields with XDR names, so "__proto__" cannot be one', () => {
    expect(() => xdr.struct({})).toThrow('struct: needs at least one field');
    expect(() => xdr.struct({ ['__proto__']: xdr.int() })).toThrow('struct: field name "__proto__" is not an XDR identifier');
    expect(() => xdr.struct({ '1st': xdr.int() })).toThrow('struct: field name "1st" is not an XDR identifier');
  });

  test('array elements must take bytes on the wire', () => {
    expect(() => xdr.array(xdr.void())).toThrow('array: elements must take at least one byte on the wire (not void or zero-length)');
    expect(() => xdr.fixedArray(xdr.fixedOpaque(0), 2)).toThrow('fixedArray: elements must take at least one byte');
  });

  test('union discriminants are int, unsigned int, enum or bool', () => {
    expect(() => xdr.union(xdr.hyper() as unknown as xdr.IntSchema<'int'>, [xdr.arm(1, xdr.void())])).toThrow(
      'union: the discriminant must be int, unsigned int, enum or bool, got hyper',
    );
    expect(() => xdr.union(xdr.char() as unknown as xdr.IntSchema<'int'>, [xdr.arm(1, xdr.void())])).toThrow('got char');
  });

  test('union cases must fit the discriminant and be distinct', () => {
    expect(() => xdr.union(xdr.int(), [xdr.arm([1, 2], xdr.void()), xdr.arm(2, xdr.int())])).toThrow('union: case 2 appears twice');
    expect(() => xdr.union(xdr.uint(), [xdr.arm(-1, xdr.void())])).toThrow('union case -1: unsigned int out of range: -1');
    expect(() => xdr.union(xdr.enum({ A: 0 }), [xdr.arm('B' as never, xdr.void())])).toThrow('union case "B": bad enum value "B"');
    expect(() => xdr.union(xdr.bool(), [xdr.arm(1 as never, xdr.void())])).toThrow('union case 1: expected a boolean, got 1');
    expect(() => xdr.union(xdr.bool(), [xdr.arm(true, xdr.void()), xdr.arm(true, xdr.void())])).toThrow('union: case true appears twice');
  });

  test('union needs arms made with xdr.arm', () => {
    expect(() => xdr.union(xdr.int(), [])).toThrow('union: needs at least one arm');
    expect(() => xdr.union(xdr.int(), [{ kind: 'arm', cases: [1], schema: xdr.int() }] as never)).toThrow(
      'union: arms must be made with xdr.arm(...), got an object',
    );
    expect(() => xdr.arm([], xdr.int())).toThrow('arm: needs at least one case');
  });

  test('a union with only a default arm is allowed', () => {
    const U = xdr.union(xdr.int(), [], { default: xdr.int() });
    expect(xdr.decode(U, Buffer.from('0000000500000006', 'hex'))).toEqual({ tag: 5, value: 6 });
  });

  test('recursion must pass through an optional, a variable array or a union', () => {
    expect(() => xdr.recursive((self) => xdr.struct({ a: xdr.int(), b: self }))).toThrow(
      'recursive: the schema contains itself without an optional, a variable-length array or a union in between',
    );
    expect(() => xdr.recursive((self) => xdr.struct({ a: xdr.fixedArray(self, 2) }))).toThrow('recursive: the schema contains itself');
    expect(() => xdr.recursive((self) => self)).toThrow('recursive: the schema contains itself');
  });

  test('minSize is a lower bound of the encoded size', () => {
    const S = xdr.struct({ a: xdr.hyper(), b: xdr.fixedOpaque(5), c: xdr.string(), d: xdr.fixedArray(xdr.int(), 3) });
    expect(S.minSize).toBe(8 + 8 + 4 + 12);
    const U = xdr.union(xdr.int(), [xdr.arm(1, xdr.hyper()), xdr.arm(2, xdr.void())]);
    expect(U.minSize).toBe(4);
  });
});
