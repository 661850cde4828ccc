import * as api from '../../lib';

describe('public API', () => {
  test('xdr holds the builders, the codec and the reader and writer', () => {
    const names = [
      'int', 'uint', 'char', 'uchar', 'short', 'ushort', 'hyper', 'uhyper', 'float', 'double', 'bool', 'void', 'quadruple',
      'enum', 'string', 'opaque', 'fixedOpaque', 'array', 'fixedArray', 'optional', 'struct', 'arm', 'union', 'recursive',
      'isSchema', 'encode', 'decode', 'read', 'write', 'XdrReader', 'XdrWriter', 'XdrError',
    ];
    for (const name of names) expect(typeof (api.xdr as Record<string, unknown>)[name]).toBe('function');
    expect(api.xdr.MAX_LENGTH).toBe(0xffffffff);
  });

  test('defineProgram and the error class are top-level exports too', () => {
    expect(typeof api.defineProgram).toBe('function');
    expect(api.XdrError).toBe(api.xdr.XdrError);
  });
});
