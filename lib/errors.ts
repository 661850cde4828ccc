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

/**
 * libvirt's virErrorNumber values (VIR_ERR_*): the `code` of an error. Only
 * the ones a daemon is likely to send are listed; any other number may still
 * be passed as a plain number.
 */
export const ErrorCode = {
  OK: 0,
  INTERNAL_ERROR: 1,
  NO_MEMORY: 2,
  NO_SUPPORT: 3,
  NO_CONNECT: 5,
  INVALID_CONN: 6,
  INVALID_DOMAIN: 7,
  INVALID_ARG: 8,
  OPERATION_FAILED: 9,
  XML_ERROR: 27,
  DOM_EXIST: 28,
  OPERATION_DENIED: 29,
  SYSTEM_ERROR: 38,
  RPC: 39,
  NO_DOMAIN: 42,
  AUTH_FAILED: 45,
  OPERATION_INVALID: 55,
  CONFIG_UNSUPPORTED: 67,
  OPERATION_TIMEOUT: 68,
  OPERATION_UNSUPPORTED: 84,
  ACCESS_DENIED: 88,
  AUTH_UNAVAILABLE: 94,
  NO_HOSTNAME: 108,
} as const;

/**
 * libvirt's virErrorDomain values (VIR_FROM_*): the `domain` of an error,
 * naming the subsystem that raised it. Python prints the name of the domain
 * in front of the message ("Remote Driver", "Test Driver", ...).
 */
export const ErrorDomain = {
  NONE: 0,
  XEN: 1,
  DOM: 6,
  RPC: 7,
  CONF: 9,
  QEMU: 10,
  TEST: 12,
  REMOTE: 13,
  LXC: 17,
  STORAGE: 18,
  NETWORK: 19,
  DOMAIN: 20,
  SECURITY: 24,
  STREAMS: 38,
  AUTH: 46,
  ACCESS: 55,
  POLKIT: 60,
  ADMIN: 62,
} as const;

/** libvirt's virErrorLevel values: the `level` of an error. */
export const ErrorLevel = {
  NONE: 0,
  WARNING: 1,
  ERROR: 2,
} as const;

/** VIR_ERR_INTERNAL_ERROR (same as ErrorCode.INTERNAL_ERROR). */
export const ERR_INTERNAL_ERROR = ErrorCode.INTERNAL_ERROR;
/** VIR_ERR_RPC (same as ErrorCode.RPC). */
export const ERR_RPC = ErrorCode.RPC;
/** VIR_FROM_RPC (same as ErrorDomain.RPC). */
export const FROM_RPC = ErrorDomain.RPC;
/** VIR_ERR_ERROR, the virErrorLevel (same as ErrorLevel.ERROR). */
export const ERR_LEVEL_ERROR = ErrorLevel.ERROR;

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
 * The optional second argument of the RpcError helpers: any field except
 * the ones the helper itself sets (code, str1, str2). Most callers pass
 * nothing or `{ domain }`.
 */
type HelperFields = Omit<RpcErrorFields, 'code' | 'str1' | 'str2'>;

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
  static internal(detail: string, fields?: HelperFields): RpcError {
    return libvirtStyle(ErrorCode.INTERNAL_ERROR, 'internal error: ', detail, fields);
  }

  /**
   * A protocol-level error (VIR_ERR_RPC, from VIR_FROM_RPC), worded as
   * libvirt words them: the message is shown as is.
   */
  static rpc(message: string, fields?: HelperFields): RpcError {
    return libvirtStyle(ErrorCode.RPC, '', message, fields);
  }

  /** INVALID_ARG (8): "invalid argument: <detail>". */
  static invalidArg(detail: string, fields?: HelperFields): RpcError {
    return libvirtStyle(ErrorCode.INVALID_ARG, 'invalid argument: ', detail, fields);
  }

  /** NO_SUPPORT (3): "this function is not supported by the connection driver: <detail>". */
  static noSupport(detail: string, fields?: HelperFields): RpcError {
    return libvirtStyle(ErrorCode.NO_SUPPORT, 'this function is not supported by the connection driver: ', detail, fields);
  }

  /** OPERATION_FAILED (9): "operation failed: <detail>". */
  static operationFailed(detail: string, fields?: HelperFields): RpcError {
    return libvirtStyle(ErrorCode.OPERATION_FAILED, 'operation failed: ', detail, fields);
  }

  /** OPERATION_INVALID (55): "Requested operation is not valid: <detail>" (wrong state for the request). */
  static operationInvalid(detail: string, fields?: HelperFields): RpcError {
    return libvirtStyle(ErrorCode.OPERATION_INVALID, 'Requested operation is not valid: ', detail, fields);
  }

  /** OPERATION_UNSUPPORTED (84): "Operation not supported: <detail>". */
  static operationUnsupported(detail: string, fields?: HelperFields): RpcError {
    return libvirtStyle(ErrorCode.OPERATION_UNSUPPORTED, 'Operation not supported: ', detail, fields);
  }

  /** ACCESS_DENIED (88): "access denied: <detail>". */
  static accessDenied(detail: string, fields?: HelperFields): RpcError {
    return libvirtStyle(ErrorCode.ACCESS_DENIED, 'access denied: ', detail, fields);
  }

  /** AUTH_FAILED (45): "authentication failed: <detail>". */
  static authFailed(detail: string, fields?: HelperFields): RpcError {
    return libvirtStyle(ErrorCode.AUTH_FAILED, 'authentication failed: ', detail, fields);
  }

  /** OPERATION_TIMEOUT (68): "Timed out during operation: <detail>"; for calls that overran their deadline. */
  static timeout(detail: string, fields?: HelperFields): RpcError {
    return libvirtStyle(ErrorCode.OPERATION_TIMEOUT, 'Timed out during operation: ', detail, fields);
  }

  /**
   * What libvirtd answers for a procedure it does not have: code RPC (39),
   * domain RPC (7), "unknown procedure: <proc>". libvirt clients turn exactly
   * this into NO_SUPPORT and fall back to older calls.
   */
  static unknownProcedure(proc: number): RpcError {
    return RpcError.rpc(`unknown procedure: ${proc}`);
  }

  /**
   * The refusal the native core sends for calls it will not run because the
   * server is stopping: code INTERNAL_ERROR (1), domain RPC (7), the text
   * "server is shutting down" with no prefix, str1 "%s".
   */
  static shuttingDown(): RpcError {
    const text = 'server is shutting down';
    return new RpcError(text, { code: ErrorCode.INTERNAL_ERROR, domain: ErrorDomain.RPC, str1: '%s', str2: text });
  }

  /** The plain fields, with `name`: what JSON.stringify and loggers see. */
  toJSON(): RemoteError & { name: 'RpcError'; message: string } {
    return { name: this.name, ...this.toRemote(), message: this.message };
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

/**
 * Builds an error the way virReportError does: the message is the libvirt
 * prefix for `code` followed by the detail, str1 the format ("<prefix>%s")
 * and str2 the detail. The caller may set every other field; the domain
 * defaults to RPC.
 */
function libvirtStyle(code: number, prefix: string, detail: string, fields: HelperFields = {}): RpcError {
  return new RpcError(prefix + detail, {
    ...fields,
    code,
    domain: fields.domain ?? ErrorDomain.RPC,
    str1: `${prefix}%s`,
    str2: detail,
  });
}

/** Is `e` an RpcError, from this copy of the module or another? */
export function isRpcError(e: unknown): e is RpcError {
  return e instanceof RpcError || (e instanceof Error && e.name === 'RpcError' && typeof (e as RpcError).encode === 'function');
}
