/**
 * The `xdr` namespace: schema builders, the codec and the types.
 *
 *   import { xdr } from 'xdrd';
 *   const Domain = xdr.struct({ name: xdr.string(4194304), uuid: xdr.fixedOpaque(16), id: xdr.int() });
 *   type Domain = xdr.Infer<typeof Domain>;   // { name: string; uuid: Buffer; id: number }
 *   const bytes = xdr.encode(Domain, { name: 'test', uuid, id: 1 });
 *   const back = xdr.decode(Domain, bytes);
 *
 * See README.md beside this file for the value representations and rules.
 */
export {
  int,
  uint,
  char,
  uchar,
  short,
  ushort,
  hyper,
  uhyper,
  float,
  double,
  bool,
  voidType as void,
  quadruple,
  enumType as enum,
  string,
  opaque,
  fixedOpaque,
  array,
  fixedArray,
  optional,
  struct,
  arm,
  union,
  recursive,
  isSchema,
  MAX_LENGTH,
} from './schema';
export type { UnionOptions } from './schema';
export { encode, decode, write, read, DEFAULT_MAX_DEPTH } from './codec';
export type { CodecOptions } from './codec';
export { XdrReader } from './reader';
export { XdrWriter } from './writer';
export { XdrError } from './errors';
export type * from './types';
