import { xdr, XdrError } from '../../lib';

describe('codec behaviour', () => {
  test('decoded opaque data are views that alias the input', () => {
    const bytes = Buffer.from('00000003aabbcc00', 'hex');
    const data = xdr.decode(xdr.opaque(), bytes);
    expect(Buffer.isBuffer(data)).toBe(true);
    expect(data.buffer).toBe(bytes.buffer);
    bytes[4] = 0x11;
    expect(data.toString('hex')).toBe('11bbcc');
  });

  test('decode accepts a plain Uint8Array and still returns Buffers', () => {
    const u8 = new Uint8Array([0, 0, 0, 1, 0xff, 0, 0, 0]);
    const data = xdr.decode(xdr.opaque(), u8.subarray(0, 8));
    expect(Buffer.isBuffer(data)).toBe(true);
    expect([...data]).toEqual([0xff]);
  });

  test('encode accepts any Uint8Array for opaque data', () => {
    expect(xdr.encode(xdr.fixedOpaque(2), new Uint8Array([1, 2]) as Buffer).toString('hex')).toBe('01020000');
  });

  test('read decodes from a reader at an offset and leaves the rest', () => {
    const reader = new xdr.XdrReader(Buffer.from('ffff00000007000000080000', 'hex'), 2, 12);
    expect(xdr.read(xdr.int(), reader)).toBe(7);
    expect(reader.pos).toBe(6);
    expect(reader.remaining).toBe(6);
  });

  test('read errors carry the path and the absolute offset', () => {
    const reader = new xdr.XdrReader(Buffer.from('ffff00000002', 'hex'), 2);
    expect(() => xdr.read(xdr.struct({ b: xdr.bool() }), reader, { name: 'args' })).toThrow(
      new XdrError('bad bool 2 (must be 0 or 1)', 'args.b', 2),
    );
  });

  test('write appends to a writer that grows from a small buffer', () => {
    const w = new xdr.XdrWriter(16);
    w.uint32(0xdeadbeef);
    const big = Buffer.alloc(10000, 7);
    xdr.write(xdr.opaque(), big, w);
    const out = w.view();
    expect(out.length).toBe(4 + 4 + 10000);
    expect(out.readUInt32BE(0)).toBe(0xdeadbeef);
    expect(out.readUInt32BE(4)).toBe(10000);
    expect(out.subarray(8).equals(big)).toBe(true);
  });

  test('a failed write leaves the writer as it was', () => {
    const w = new xdr.XdrWriter();
    w.uint32(1);
    const S = xdr.struct({ a: xdr.int(), b: xdr.string(2) });
    expect(() => xdr.write(S, { a: 5, b: 'abc' }, w)).toThrow('value.b: string longer than 2 (3 bytes)');
    expect(w.view().toString('hex')).toBe('00000001');
  });

  test('a recursive value exactly at the depth limit is fine', () => {
    const List = xdr.recursive((self) => xdr.struct({ value: xdr.int(), next: xdr.optional(self) }));
    const three = { value: 1, next: { value: 2, next: { value: 3, next: null } } };
    const bytes = xdr.encode(List, three, { maxDepth: 3 });
    expect(xdr.decode(List, bytes, { maxDepth: 3 })).toEqual(three);
    expect(() => xdr.encode(List, three, { maxDepth: 2 })).toThrow('value.next.next: recursion deeper than 2');
  });

  test('maxDepth must be a positive integer', () => {
    expect(() => xdr.decode(xdr.int(), Buffer.alloc(4), { maxDepth: 0 })).toThrow(new RangeError('maxDepth must be a positive integer, got 0'));
  });

  test('a void union arm decodes without a value key', () => {
    const U = xdr.union(xdr.bool(), [xdr.arm(true, xdr.int()), xdr.arm(false, xdr.void())]);
    const v = xdr.decode(U, Buffer.from('00000000', 'hex'));
    expect(Object.keys(v)).toEqual(['tag']);
  });

  test('float encoding rounds to the nearest single', () => {
    expect(xdr.decode(xdr.float(), xdr.encode(xdr.float(), 0.1))).toBe(Math.fround(0.1));
  });

  test('non-finite floats and doubles round-trip', () => {
    for (const v of [Infinity, -Infinity, NaN]) {
      expect(xdr.decode(xdr.double(), xdr.encode(xdr.double(), v))).toBe(v);
      expect(xdr.decode(xdr.float(), xdr.encode(xdr.float(), v))).toBe(v);
    }
  });

  test('string maxima count bytes, not characters', () => {
    expect(xdr.encode(xdr.string(6), '日本')).toHaveLength(12);
    expect(() => xdr.encode(xdr.string(5), '日本')).toThrow('value: string longer than 5 (6 bytes)');
  });

  test('a string of exactly the maximum decodes', () => {
    const max = 1000;
    const s = 'x'.repeat(max);
    expect(xdr.decode(xdr.string(max), xdr.encode(xdr.string(max), s))).toBe(s);
  });

  test('errors are XdrErrors and Errors, named XdrError', () => {
    let caught: unknown;
    try {
      xdr.decode(xdr.int(), Buffer.alloc(2));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(XdrError);
    expect(caught).toBeInstanceOf(Error);
    expect((caught as XdrError).name).toBe('XdrError');
    expect(String(caught)).toBe('XdrError: value: unexpected end of input: need 4 bytes, 2 left');
  });

  test('the root name defaults to "value" and can be changed', () => {
    expect(() => xdr.decode(xdr.int(), Buffer.alloc(0), { name: 'ret' })).toThrow('ret: unexpected end of input: need 4 bytes, 0 left');
  });

  test('one schema value can appear in several places', () => {
    const Name = xdr.string(8);
    const S = xdr.struct({ first: Name, last: Name });
    expect(xdr.decode(S, xdr.encode(S, { first: 'a', last: 'b' }))).toEqual({ first: 'a', last: 'b' });
  });

  test('a recursive schema can be used inside another schema', () => {
    const Tree = xdr.recursive((self) => xdr.struct({ v: xdr.int(), kids: xdr.array(self) }));
    const Forest = xdr.struct({ trees: xdr.array(Tree, 4) });
    const value = { trees: [{ v: 1, kids: [{ v: 2, kids: [] }] }, { v: 3, kids: [] }] };
    expect(xdr.decode(Forest, xdr.encode(Forest, value))).toEqual(value);
  });
});
