import { inspect } from 'util';

/** The integer ranges of the wire: program, version and serial numbers are
 * unsigned 32-bit, procedure numbers signed 32-bit. */
export function isUint32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

export function isInt32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff;
}

/** `v` if it is an unsigned 32-bit integer; a RangeError naming `what` otherwise. */
export function checkUint32(v: unknown, what: string): number {
  if (!isUint32(v)) throw new RangeError(`${what} must be an unsigned 32-bit integer, got ${inspect(v)}`);
  return v;
}

/** `v` if it is a signed 32-bit integer; a RangeError naming `what` otherwise. */
export function checkInt32(v: unknown, what: string): number {
  if (!isInt32(v)) throw new RangeError(`${what} must be a signed 32-bit integer, got ${inspect(v)}`);
  return v;
}
