/**
 * Calls the example daemon (daemon.ts):
 *
 *   node dist/examples/call.js greet Ada
 *   node dist/examples/call.js add 2 3
 *
 * XDRD_SOCKET names the socket (default: the daemon's default).
 */
import { Client, xdr } from 'xdrd';

import {
  HELLO_PROGRAM,
  HELLO_VERSION,
  PROC_ADD,
  PROC_GREET,
  addArgs,
  addResult,
  defaultSocketPath,
  greetArgs,
  greetResult,
} from './hello-protocol';

async function main(argv: string[]): Promise<string> {
  const [what, ...rest] = argv;
  const client = await Client.connect({ path: process.env.XDRD_SOCKET || defaultSocketPath() });
  try {
    if (what === 'greet' && rest.length === 1) {
      const reply = await client.call(HELLO_PROGRAM, HELLO_VERSION, PROC_GREET, xdr.encode(greetArgs, rest[0]!));
      return xdr.decode(greetResult, reply);
    }
    if (what === 'add' && rest.length === 2) {
      const [a, b] = rest.map(Number);
      const reply = await client.call(HELLO_PROGRAM, HELLO_VERSION, PROC_ADD, xdr.encode(addArgs, { a: a!, b: b! }));
      return xdr.decode(addResult, reply).toString();
    }
    throw new Error('usage: call.js greet <name> | call.js add <a> <b>');
  } finally {
    await client.close();
  }
}

main(process.argv.slice(2)).then(
  (out) => console.log(out),
  (err: Error) => {
    console.error(err.message);
    process.exitCode = 1;
  },
);
