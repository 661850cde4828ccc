/**
 * The one error class of the XDR layer.
 *
 * `reason` says what is wrong ("string longer than 256 (300 bytes)"), `path`
 * says where ("args.disks[3].name"), and the message joins them:
 * "args.disks[3].name: string longer than 256 (300 bytes)".
 * `offset` is the byte offset in the input where the offending item starts
 * (decoding only).
 */
export class XdrError extends Error {
  readonly path: string;
  readonly reason: string;
  readonly offset: number | undefined;

  constructor(reason: string, path = '', offset?: number) {
    super(path === '' ? reason : `${path}: ${reason}`);
    this.name = 'XdrError';
    this.path = path;
    this.reason = reason;
    this.offset = offset;
  }
}

/** A short, bounded rendering of a JS value for error reasons. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'undefined':
      return 'undefined';
    case 'bigint':
      return `${v}n`;
    case 'number':
    case 'boolean':
      return String(v);
    case 'string':
      return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    case 'object':
      if (Array.isArray(v)) return 'an array';
      if (v instanceof Uint8Array) return `a ${v.constructor.name}`;
      return 'an object';
    default:
      return `a ${typeof v}`;
  }
}
