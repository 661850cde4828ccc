/**
 * The example daemon's protocol: one program, two procedures. Shared by the
 * daemon (daemon.ts) and the command-line caller (call.ts).
 */
import * as os from 'os';
import * as path from 'path';

import { defineProgram, xdr } from 'xdrd';

export const Hello = defineProgram({
  number: 0x20001234,
  version: 1,
  procedures: {
    /** greet(name) → "Hello, <name>!" */
    greet: { id: 1, args: xdr.struct({ name: xdr.string(256) }), result: xdr.string(512) },
    /** add(a, b) → a + b, as a 64-bit integer so it cannot overflow */
    add: { id: 2, args: xdr.struct({ a: xdr.int(), b: xdr.int() }), result: xdr.hyper() },
  },
});

/** Where the daemon listens unless XDRD_SOCKET says otherwise. */
export function defaultSocketPath(): string {
  const dir = process.env.XDG_RUNTIME_DIR || os.tmpdir();
  const user = typeof process.getuid === 'function' ? `-${process.getuid()}` : '';
  return path.join(dir, `xdrd-hello${user}.sock`);
}
