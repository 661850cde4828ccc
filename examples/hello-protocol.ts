/**
 * The example daemon's protocol: one program, two procedures. Shared by the
 * daemon (daemon.ts) and the command-line caller (call.ts).
 */
import * as os from 'os';
import * as path from 'path';

import { xdr } from 'xdrd';

export const HELLO_PROGRAM = 0x20001234;
export const HELLO_VERSION = 1;

/** greet(name) → "Hello, <name>!" */
export const PROC_GREET = 1;
export const greetArgs = xdr.string(256);
export const greetResult = xdr.string(512);

/** add(a, b) → a + b, as a 64-bit integer so it cannot overflow */
export const PROC_ADD = 2;
export const addArgs = xdr.struct({ a: xdr.int(), b: xdr.int() });
export const addResult = xdr.hyper();

/** Where the daemon listens unless XDRD_SOCKET says otherwise. */
export function defaultSocketPath(): string {
  const dir = process.env.XDG_RUNTIME_DIR || os.tmpdir();
  const user = typeof process.getuid === 'function' ? `-${process.getuid()}` : '';
  return path.join(dir, `xdrd-hello${user}.sock`);
}
