import { xdr, XdrError } from '../../lib';

describe('XdrReader', () => {
  test('input must be a Uint8Array', () => {
    expect(() => new xdr.XdrReader('00000001' as never)).toThrow(new TypeError('XdrReader: expected a Uint8Array, got "00000001"'));
    expect(() => xdr.decode(xdr.int(), null as never)).toThrow('XdrReader: expected a Uint8Array, got null');
  });

  test('rejects a range outside its input', () => {
    expect(() => new xdr.XdrReader(Buffer.alloc(4), 0, 5)).toThrow(new RangeError('XdrReader: bad range [0, 5) for 4 bytes'));
    expect(() => new xdr.XdrReader(Buffer.alloc(4), 3, 2)).toThrow('XdrReader: bad range [3, 2) for 4 bytes');
  });

  test('never reads past its end, even if the buffer goes on', () => {
    const r = new xdr.XdrReader(Buffer.from('0000000100000002', 'hex'), 0, 4);
    expect(r.int32()).toBe(1);
    expect(() => r.int32()).toThrow(new XdrError('unexpected end of input: need 4 bytes, 0 left', '', 4));
  });

  test('bytes() returns a view and skips the padding', () => {
    const input = Buffer.from('0102030000000009', 'hex');
    const r = new xdr.XdrReader(input);
    const view = r.bytes(3, 'opaque');
    expect(view.buffer).toBe(input.buffer);
    expect(r.pos).toBe(4);
    expect(r.uint32()).toBe(9);
  });
});

describe('XdrWriter', () => {
  test('pads bytes with zeros even over reused memory', () => {
    const w = new xdr.XdrWriter(16);
    w.uint32(0xffffffff);
    w.uint32(0xffffffff);
    w.reset();
    w.bytes(new Uint8Array([0xaa]));
    expect(w.view().toString('hex')).toBe('aa000000');
  });

  test('truncate drops bytes and refuses to grow', () => {
    const w = new xdr.XdrWriter();
    w.int32(1);
    w.int32(2);
    w.truncate(4);
    expect(w.length).toBe(4);
    expect(() => w.truncate(8)).toThrow(new RangeError('XdrWriter: cannot truncate 4 bytes to 8'));
  });

  test('writes 64-bit integers and floats big-endian', () => {
    const w = new xdr.XdrWriter();
    w.int64(-2n);
    w.uint64(1n);
    w.float32(1.5);
    w.float64(1.5);
    expect(w.view().toString('hex')).toBe('fffffffffffffffe' + '0000000000000001' + '3fc00000' + '3ff8000000000000');
  });
});
