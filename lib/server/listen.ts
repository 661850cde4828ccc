/**
 * listen()'s options checked and turned into a native listener, and the
 * native side's failures turned into errors shaped like net.Server's.
 */
import * as util from 'util';

import type { NativeServer } from '../native';
import type { AddressInfo, ListenOptions } from './types';

function listenError(errno: number, detail: string, address: string, port?: number): Error {
  const [code, text] = util.getSystemErrorMap().get(-errno) ?? [`E${errno}`, detail];
  const where = port === undefined ? address : `${address}:${port}`;
  // Node's wording first; then why, when the native side knows more than
  // the errno says (for a UNIX path: a file there, or a live socket).
  const why = /^listen on UNIX socket '.*': (path .*)$/s.exec(detail)?.[1];
  const err = new Error(`listen ${code}: ${text} ${where}${why ? ` (${why})` : ''}`) as NodeJS.ErrnoException & {
    address?: string;
    port?: number;
    detail?: string;
  };
  err.code = code;
  err.errno = -errno;
  err.syscall = 'listen';
  err.address = address;
  if (port !== undefined) err.port = port;
  err.detail = detail;
  return err;
}

/** Opens the listener `options` describe on `nat`; returns its address. Does not start serving. */
export function openListener(nat: NativeServer, options: ListenOptions): AddressInfo {
  if (typeof options !== 'object' || options === null) throw new TypeError('listen() takes an options object: { path }, { port, host } or { fd }');
  const readOnly = options.readOnly ?? false;
  if (typeof readOnly !== 'boolean') throw new TypeError('readOnly must be a boolean');
  if ('path' in options) {
    if (typeof options.path !== 'string' || options.path === '') throw new TypeError('path must be a non-empty string');
    const mode = options.mode ?? 0o600;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new RangeError('mode must be permission bits (0 to 0o7777)');
    const r = nat.listenUnix(options.path, mode, readOnly);
    if (!r.ok) throw listenError(r.errno ?? 0, r.message ?? '', options.path);
    return { path: r.path ?? options.path };
  }
  if ('fd' in options) {
    const fd = options.fd;
    if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw new RangeError('fd must be a descriptor number');
    const r = nat.listenFd(fd, readOnly);
    if (!r.ok) throw listenError(r.errno ?? 0, r.message ?? '', `fd ${fd}`);
    return r.family === 'unix' ? { path: r.path ?? '' } : { host: r.host ?? '', port: r.port ?? 0 };
  }
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  if (typeof host !== 'string') throw new TypeError('host must be a string');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('port must be from 0 to 65535');
  const r = nat.listenTcp(host, port, readOnly);
  if (!r.ok) throw listenError(r.errno ?? 0, r.message ?? '', host, port);
  return { host: r.host ?? host, port: r.port ?? port };
}
