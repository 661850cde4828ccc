/**
 * Calls the example daemon (daemon.ts):
 *
 *   node dist/examples/call.js greet Ada
 *   node dist/examples/call.js add 2 3
 *
 * XDRD_SOCKET names the socket (default: the daemon's default).
 */
import { Client } from 'xdrd';

import { Hello, defaultSocketPath } from './hello-protocol';

async function main(argv: string[]): Promise<string> {
  const [what, ...rest] = argv;
  const client = await Client.connect({ path: process.env.XDRD_SOCKET || defaultSocketPath() });
  try {
    if (what === 'greet' && rest.length === 1) {
      return await client.call(Hello.procedures.greet, { name: rest[0]! });
    }
    if (what === 'add' && rest.length === 2) {
      const [a, b] = rest.map(Number);
      return (await client.call(Hello.procedures.add, { a: a!, b: b! })).toString();
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
