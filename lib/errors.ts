/**
 * RpcError: libvirt's error struct (virNetMessageError / remote_error) as a
 * JS error, and its XDR form. A handler throws one to send an error reply;
 * the client rejects with one when the server replies with status ERROR.
 *
 * Field names are libvirt's: `domain` is the error domain (the subsystem
 * number, VIR_FROM_*), `code` the error number (VIR_ERR_*), `str1`..`str3`
 * and `int1`/`int2` the extra fields libvirt fills for some errors.
 */
import * as xdr from './xdr';

/** VIR_ERR_INTERNAL_ERROR */
export const ERR_INTERNAL_ERROR = 1;
/** VIR_ERR_RPC */
export const ERR_RPC = 39;
/** VIR_FROM_RPC */
export const FROM_RPC = 7;
/** VIR_ERR_ERROR (virErrorLevel) */
export const ERR_LEVEL_ERROR = 2;

const REMOTE_STRING_MAX = 4194304;
const remoteString = xdr.optional(xdr.string(REMOTE_STRING_MAX));

/** The wire layout of the error struct, in field order. */
export const remoteError = xdr.struct({
  code: xdr.int(),
  domain: xdr.int(),
  message: remoteString,
  level: xdr.int(),
  dom: xdr.optional(xdr.struct({ name: xdr.string(REMOTE_STRING_MAX), uuid: xdr.fixedOpaque(16), id: xdr.int() })),
  str1: remoteString,
  str2: remoteString,
  str3: remoteString,
  int1: xdr.int(),
  int2: xdr.int(),
  net: xdr.optional(xdr.struct({ name: xdr.string(REMOTE_STRING_MAX), uuid: xdr.fixedOpaque(16) })),
});
export type RemoteError = xdr.Infer<typeof remoteError>;

export interface RpcErrorFields {
  /** VIR_ERR_* number; default VIR_ERR_INTERNAL_ERROR (1). */
  code?: number;
  /** VIR_FROM_* number; default VIR_FROM_RPC (7). */
  domain?: number;
  /** virErrorLevel; default VIR_ERR_ERROR (2). */
  level?: number;
  str1?: string | null;
  str2?: string | null;
  str3?: string | null;
  int1?: number;
  int2?: number;
  /** The virtual machine the error is about, if any. */
  dom?: { name: string; uuid: Buffer; id: number } | null;
  /** The network the error is about, if any. */
  net?: { name: string; uuid: Buffer } | null;
}

/**
 * An error that crosses the wire. `message` is what the peer's user reads.
 * Compare on `.name === 'RpcError'` and `.code`, not `instanceof` (tests and
 * bundlers may load two copies of this module).
 */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  readonly code: number;
  readonly domain: number;
  readonly level: number;
  readonly str1: string | null;
  readonly str2: string | null;
  readonly str3: string | null;
  readonly int1: number;
  readonly int2: number;
  readonly dom: { name: string; uuid: Buffer; id: number } | null;
  readonly net: { name: string; uuid: Buffer } | null;

  constructor(message: string, fields: RpcErrorFields = {}) {
    super(message);
    this.code = fields.code ?? ERR_INTERNAL_ERROR;
    this.domain = fields.domain ?? FROM_RPC;
    this.level = fields.level ?? ERR_LEVEL_ERROR;
    this.str1 = fields.str1 ?? null;
    this.str2 = fields.str2 ?? null;
    this.str3 = fields.str3 ?? null;
    this.int1 = fields.int1 ?? -1;
    this.int2 = fields.int2 ?? -1;
    this.dom = fields.dom ?? null;
    this.net = fields.net ?? null;
  }

  /**
   * An internal error worded the way libvirt words them: the message reads
   * "internal error: <detail>", str1 holds the format and str2 the detail.
   */
  static internal(detail: string): RpcError {
    return new RpcError(`internal error: ${detail}`, {
      code: ERR_INTERNAL_ERROR,
      domain: FROM_RPC,
      str1: 'internal error: %s',
      str2: detail,
    });
  }

  /**
   * A protocol-level error (VIR_ERR_RPC, from VIR_FROM_RPC), worded as
   * libvirt words them: the message is shown as is.
   */
  static rpc(message: string): RpcError {
    return new RpcError(message, { code: ERR_RPC, domain: FROM_RPC, str1: '%s', str2: message });
  }

  /** The struct as it goes on the wire. */
  toRemote(): RemoteError {
    return {
      code: this.code,
      domain: this.domain,
      message: this.message,
      level: this.level,
      dom: this.dom,
      str1: this.str1,
      str2: this.str2,
      str3: this.str3,
      int1: this.int1,
      int2: this.int2,
      net: this.net,
    };
  }

  /** The XDR bytes of the struct: the body of an error reply. */
  encode(): Buffer {
    return xdr.encode(remoteError, this.toRemote());
  }

  /** Reads the body of an error reply. Throws XdrError on malformed bytes. */
  static decode(body: Uint8Array): RpcError {
    const e = xdr.decode(remoteError, body, { name: 'remote_error' });
    return new RpcError(e.message ?? '(no message)', e);
  }
}

/** Is `e` an RpcError, from this copy of the module or another? */
export function isRpcError(e: unknown): e is RpcError {
  return e instanceof RpcError || (e instanceof Error && e.name === 'RpcError' && typeof (e as RpcError).encode === 'function');
}
