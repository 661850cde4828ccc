import { xdr } from '../../lib';
import type { Schema } from '../../lib';
import { goldenVectors } from '../vectors/golden';

describe('golden vectors', () => {
  describe.each(goldenVectors.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    test('encodes to exactly the golden bytes', () => {
      expect(xdr.encode(v.schema, v.value as never).toString('hex')).toBe(v.bytes.toString('hex'));
    });

    test('decodes the golden bytes to the value', () => {
      expect(xdr.decode(v.schema, v.bytes)).toStrictEqual(v.value);
    });
  });

  test('names are unique', () => {
    const names = goldenVectors.map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
  });

  test('together they use every kind of schema node', () => {
    const seen = new Set<string>();
    const visit = (s: Schema): void => {
      if (seen.has(s.kind) && (s.kind === 'self' || s.kind === 'recursive')) return;
      seen.add(s.kind);
      switch (s.kind) {
        case 'array':
        case 'fixedArray':
        case 'optional':
          visit(s.element);
          break;
        case 'struct':
          for (const k of s.keys) visit(s.fields[k]);
          break;
        case 'union':
          visit(s.discriminant);
          for (const a of s.arms) visit(a.schema);
          if (s.defaultArm !== undefined) visit(s.defaultArm);
          break;
        case 'recursive':
          visit(s.body);
          break;
        default:
          break;
      }
    };
    for (const v of goldenVectors) visit(v.schema);
    expect([...seen].sort()).toEqual(
      [
        'int', 'uint', 'char', 'uchar', 'short', 'ushort', 'hyper', 'uhyper', 'float', 'double', 'bool', 'void', 'enum',
        'string', 'opaque', 'fixedOpaque', 'array', 'fixedArray', 'optional', 'struct', 'union', 'self', 'recursive',
      ].sort(),
    );
  });
});
