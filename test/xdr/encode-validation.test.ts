import { xdr, XdrError } from '../../lib';
import type { Schema } from '../../lib';

function encodeError(schema: Schema, value: unknown, options?: xdr.CodecOptions): XdrError {
  try {
    xdr.encode(schema, value as never, options);
  } catch (err) {
    if (err instanceof XdrError) return err;
    throw err;
  }
  throw new Error('expected an XdrError, but encoding succeeded');
}

const Color = xdr.enum({ RED: 0, GREEN: 1, BLUE: 2 });
const Shape = xdr.union(xdr.int(), [xdr.arm(1, xdr.double()), xdr.arm(2, xdr.void())]);
const FileType = xdr.union(xdr.enum({ TEXT: 0, DATA: 1 }), [xdr.arm('TEXT', xdr.void()), xdr.arm('DATA', xdr.string(4))]);
const Args = xdr.struct({
  flags: xdr.uint(),
  disks: xdr.array(xdr.struct({ name: xdr.string(256) }), 16),
});

// [what, schema, value, path, reason]
const cases: [string, Schema, unknown, string, string][] = [
  ['int above range', xdr.int(), 2 ** 31, 'value', 'int out of range: 2147483648'],
  ['int below range', xdr.int(), -(2 ** 31) - 1, 'value', 'int out of range: -2147483649'],
  ['int not an integer', xdr.int(), 1.5, 'value', 'expected an integer, got 1.5'],
  ['int NaN', xdr.int(), NaN, 'value', 'expected an integer, got NaN'],
  ['int given a string', xdr.int(), '1', 'value', 'expected an integer, got "1"'],
  ['int given a bigint', xdr.int(), 1n, 'value', 'expected an integer, got 1n'],
  ['unsigned int negative', xdr.uint(), -1, 'value', 'unsigned int out of range: -1'],
  ['unsigned int above range', xdr.uint(), 2 ** 32, 'value', 'unsigned int out of range: 4294967296'],
  ['char above range', xdr.char(), 128, 'value', 'char out of range: 128'],
  ['unsigned char above range', xdr.uchar(), 256, 'value', 'unsigned char out of range: 256'],
  ['short below range', xdr.short(), -32769, 'value', 'short out of range: -32769'],
  ['unsigned short negative', xdr.ushort(), -1, 'value', 'unsigned short out of range: -1'],
  ['hyper given a number', xdr.hyper(), 1, 'value', 'expected a bigint, got 1'],
  ['hyper above range', xdr.hyper(), 2n ** 63n, 'value', 'hyper out of range: 9223372036854775808'],
  ['hyper below range', xdr.hyper(), -(2n ** 63n) - 1n, 'value', 'hyper out of range: -9223372036854775809'],
  ['unsigned hyper negative', xdr.uhyper(), -1n, 'value', 'unsigned hyper out of range: -1'],
  ['unsigned hyper above range', xdr.uhyper(), 2n ** 64n, 'value', 'unsigned hyper out of range: 18446744073709551616'],
  ['float beyond single precision', xdr.float(), 1e39, 'value', 'float out of range: 1e+39'],
  ['float given a string', xdr.float(), '1', 'value', 'expected a number, got "1"'],
  ['double given null', xdr.double(), null, 'value', 'expected a number, got null'],
  ['bool given a number', xdr.bool(), 1, 'value', 'expected a boolean, got 1'],
  ['enum unknown name', Color, 'PINK', 'value', 'bad enum value "PINK"'],
  ['enum given the number', Color, 0, 'value', 'bad enum value 0'],
  ['enum inherited property name', Color, 'toString', 'value', 'bad enum value "toString"'],
  ['string over its maximum, counted in bytes', xdr.string(4), 'héllo', 'value', 'string longer than 4 (6 bytes)'],
  ['string with a lone surrogate', xdr.string(), 'a\ud800b', 'value', 'string has a lone surrogate, which has no UTF-8 form'],
  ['string given a number', xdr.string(), 5, 'value', 'expected a string, got 5'],
  ['opaque given a string', xdr.opaque(), 'abc', 'value', 'expected a Uint8Array, got "abc"'],
  ['opaque over its maximum', xdr.opaque(2), Buffer.alloc(3), 'value', 'opaque longer than 2 (3 bytes)'],
  ['fixed-length opaque of the wrong length', xdr.fixedOpaque(16), Buffer.alloc(15), 'value', 'fixed-length opaque must be 16 bytes, got 15'],
  ['array over its maximum', xdr.array(xdr.int(), 2), [1, 2, 3], 'value', 'array longer than 2 (3 elements)'],
  ['array given an object', xdr.array(xdr.int()), { length: 0 }, 'value', 'expected an array, got an object'],
  ['array element of the wrong type', xdr.array(xdr.int()), [1, 'x'], 'value[1]', 'expected an integer, got "x"'],
  ['fixed-length array of the wrong length', xdr.fixedArray(xdr.int(), 3), [1, 2], 'value', 'fixed-length array must have 3 elements, got 2'],
  ['optional given undefined', xdr.optional(xdr.int()), undefined, 'value', 'expected a value or null, got undefined'],
  ['struct given null', Args, null, 'value', 'expected an object, got null'],
  ['struct given an array', Args, [], 'value', 'expected an object, got an array'],
  ['struct field missing', Args, { disks: [] }, 'value.flags', 'expected an integer, got undefined'],
  ['union given a number', Shape, 1, 'value', 'expected a union value { tag, value }, got 1'],
  ['union tag of the wrong type', Shape, { tag: '1', value: 1 }, 'value.tag', 'expected an integer, got "1"'],
  ['union tag with no arm', Shape, { tag: 9, value: 1 }, 'value', 'bad union discriminant 9'],
  ['union arm value of the wrong type', Shape, { tag: 1, value: 'x' }, 'value.value', 'expected a number, got "x"'],
  ['union enum tag not a member', FileType, { tag: 'LINK' }, 'value.tag', 'bad enum value "LINK"'],
  ['union enum arm over its maximum', FileType, { tag: 'DATA', value: 'abcde' }, 'value.value', 'string longer than 4 (5 bytes)'],
];

describe('encoding validates', () => {
  test.each(cases)('%s', (_what, schema, value, path, reason) => {
    const err = encodeError(schema, value);
    expect({ message: err.message, path: err.path, reason: err.reason, offset: err.offset }).toEqual({
      message: `${path}: ${reason}`,
      path,
      reason,
      offset: undefined,
    });
  });

  test('the error path names the field, with the root name given', () => {
    const disks = [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'x'.repeat(257) }];
    expect(encodeError(Args, { flags: 0, disks }, { name: 'args' }).message).toBe('args.disks[3].name: string longer than 256 (257 bytes)');
  });

  test('a cyclic value stops at the recursion limit', () => {
    const List = xdr.recursive((self) => xdr.struct({ value: xdr.int(), next: xdr.optional(self) }));
    const node: { value: number; next: unknown } = { value: 1, next: null };
    node.next = node;
    const err = encodeError(List, node, { maxDepth: 5 });
    expect(err.reason).toBe('recursion deeper than 5');
    expect(err.path).toBe('value.next.next.next.next.next');
  });

  test('a void value is ignored, as a function typed to return void may return anything', () => {
    expect(xdr.encode(xdr.void(), 42 as never)).toHaveLength(0);
    expect(xdr.encode(Shape, { tag: 2, value: 'ignored' } as never).toString('hex')).toBe('00000002');
  });

  test('extra struct properties are not encoded', () => {
    const S = xdr.struct({ a: xdr.int() });
    expect(xdr.encode(S, { a: 1, b: 2 } as never).toString('hex')).toBe('00000001');
  });
});
