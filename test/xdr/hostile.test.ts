import { xdr, XdrError } from '../../lib';
import { hostileVectors } from '../vectors/hostile';

function decodeError(run: () => unknown): XdrError {
  try {
    run();
  } catch (err) {
    if (err instanceof XdrError) return err;
    throw err;
  }
  throw new Error('expected an XdrError, but decoding succeeded');
}

describe('hostile input', () => {
  test.each(hostileVectors.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const err = decodeError(() => xdr.decode(v.schema, v.bytes, v.options));
    expect({ message: err.message, path: err.path, reason: err.reason, offset: err.offset }).toEqual({
      message: `${v.path}: ${v.reason}`,
      path: v.path,
      reason: v.reason,
      offset: v.offset,
    });
  });

  test('a huge declared opaque length allocates nothing', () => {
    const bytes = Buffer.from('fffffff000000000', 'hex');
    const before = process.memoryUsage().arrayBuffers;
    expect(() => xdr.decode(xdr.opaque(), bytes)).toThrow('value: opaque of 4294967280 bytes exceeds the 4 bytes left');
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
  });

  test('a huge declared array count allocates nothing', () => {
    const bytes = Buffer.from('ffffffff', 'hex');
    const before = process.memoryUsage().heapUsed;
    expect(() => xdr.decode(xdr.array(xdr.hyper()), bytes)).toThrow('value: array count 4294967295 needs at least 34359738360 bytes, 0 left');
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 << 20);
  });

  test('the default recursion limit is 200 nested values', () => {
    const List = xdr.recursive((self) => xdr.struct({ next: xdr.optional(self) }));
    const list = (n: number): Buffer => Buffer.concat([...Array(n - 1).fill(Buffer.from('00000001', 'hex')), Buffer.from('00000000', 'hex')]);
    expect(xdr.DEFAULT_MAX_DEPTH).toBe(200);
    expect(() => xdr.decode(List, list(200))).not.toThrow();
    const err = decodeError(() => xdr.decode(List, list(201)));
    expect(err.reason).toBe('recursion deeper than 200');
    expect(err.path).toBe(`value${'.next'.repeat(200)}`);
  });
});
