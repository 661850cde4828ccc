/**
 * The errors this daemon sends, worded and numbered as libvirtd 9.0 sends
 * them (recorded from the real daemon; NOTES.md). libvirt's clients show
 * `message` verbatim, and python shows the domain's name ("Test Driver"),
 * so both matter for identical output.
 */
import { ErrorCode, ErrorDomain, RpcError } from 'xdrd';

import { uuidToString } from './uuid';

/** libvirt's own wording: "<prefix><detail>", str1 the format, str2 the detail. */
function worded(code: number, domain: number, prefix: string, detail: string): RpcError {
  return new RpcError(prefix + detail, { code, domain, str1: `${prefix}%s`, str2: detail });
}

/** A call that needs an open connection, before CONNECT_OPEN. */
export function notOpen(): RpcError {
  return worded(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC, 'internal error: ', 'hypervisor connection not open');
}

export function alreadyOpen(): RpcError {
  return worded(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC, 'internal error: ', 'connection already open');
}

/**
 * CONNECT_OPEN with a NULL name: libvirtd would probe its hypervisor
 * drivers for a default; with only the test driver built in, none answers.
 */
export function noDefaultDriver(): RpcError {
  return worded(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC, 'internal error: ', 'connection not open');
}

/** CONNECT_OPEN with a URI no driver takes (libvirtd: code 5, domain NONE). */
export function noDriver(uri: string): RpcError {
  return worded(ErrorCode.NO_CONNECT, ErrorDomain.NONE, 'no connection driver available for ', uri);
}

/**
 * CONNECT_OPEN with `test:///<path>`: the real test driver loads <path> as
 * a node description; this daemon has only the default node, so it
 * answers as the real one does for a file that does not parse.
 */
export function noTestFile(path: string): RpcError {
  return worded(27 /* VIR_ERR_XML_ERROR */, ErrorDomain.TEST, 'XML error: ', `failed to parse xml document '${path}'`);
}

/** A lookup that found nothing: the test driver gives no detail. */
export function lookupFailed(): RpcError {
  return new RpcError('Domain not found', { code: ErrorCode.NO_DOMAIN, domain: ErrorDomain.TEST, str1: 'Domain not found' });
}

/** A per-domain call whose (name, uuid, id) names no domain: found by UUID, as the test driver does. */
export function noSuchDomain(uuid: Buffer, name: string): RpcError {
  return worded(ErrorCode.NO_DOMAIN, ErrorDomain.TEST, 'Domain not found: ', `no domain with matching uuid '${uuidToString(uuid)}' (${name})`);
}

/** A domain operation that needs another state: the test driver's wording (code 1, domain TEST). */
export function domainNotIn(state: 'running' | 'paused', name: string): RpcError {
  return worded(ErrorCode.INTERNAL_ERROR, ErrorDomain.TEST, 'internal error: ', `domain '${name}' not ${state}`);
}

/** CREATE of an active domain (virsh checks the id first and words its own "Domain is already active"). */
export function alreadyRunning(name: string): RpcError {
  return worded(ErrorCode.INTERNAL_ERROR, ErrorDomain.TEST, 'internal error: ', `Domain '${name}' is already running`);
}

/** DESTROY or REBOOT of an inactive domain: libvirt's common check (code 55, domain DOMAIN). */
export function notRunning(): RpcError {
  return worded(ErrorCode.OPERATION_INVALID, ErrorDomain.DOMAIN, 'Requested operation is not valid: ', 'domain is not running');
}

/** A write procedure on a connection opened read-only (libvirt's public API refuses it in the daemon too). */
export function readOnlyDenied(api: string): RpcError {
  return worded(ErrorCode.OPERATION_DENIED, ErrorDomain.DOMAIN, 'operation forbidden: ', `read only access prevents ${api}`);
}

/** A flag the driver function does not know: checked before anything else, as libvirt's drivers do. */
export function unsupportedFlags(flags: number, fn: string): RpcError {
  return new RpcError(`unsupported flags (0x${(flags >>> 0).toString(16)}) in function ${fn}`, {
    code: ErrorCode.INVALID_ARG,
    domain: ErrorDomain.TEST,
    str1: fn,
    str2: 'flags',
    int1: 0,
    int2: 0,
  });
}

/** DEREGISTER_ANY of a callback id this connection does not hold. */
export function callbackNotRegistered(id: number): RpcError {
  return worded(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC, 'internal error: ', `domain event callback ${id} not registered`);
}

/** REGISTER_ANY of an event id libvirt 9.0 does not have. */
export function unsupportedEventId(eventID: number): RpcError {
  return worded(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC, 'internal error: ', `unsupported event ID ${eventID}`);
}
