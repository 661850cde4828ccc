/**
 * The example daemon `npm start` runs: two TypeScript handlers served by
 * xdrd's native threads on a UNIX socket. Ctrl-C (SIGINT) or SIGTERM closes
 * it gracefully: calls already read are answered, then it exits.
 *
 *   npm start
 *   node dist/examples/call.js greet Ada      # in another terminal
 */
import * as fs from 'fs';
import * as net from 'net';

import { RpcError, Server } from 'xdrd';

import { Hello, defaultSocketPath } from './hello-protocol';

const socketPath = process.env.XDRD_SOCKET || defaultSocketPath();

const server = new Server();
server.handle(Hello, {
  greet: ({ name }) => {
    if (name.trim() === '') throw new RpcError('greet: the name is empty', { code: 8 /* VIR_ERR_INVALID_ARG */ });
    return `Hello, ${name}!`;
  },
  add: async ({ a, b }) => BigInt(a) + BigInt(b),
});
server.on('error', (err) => console.error('handler error:', err.message));

/** True if something answers on the socket (a live daemon, not a leftover file). */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

async function listen(): Promise<void> {
  try {
    await server.listen({ path: socketPath, mode: 0o600 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // A socket file left by a daemon that was killed: nobody answers on it.
    if (e.code === 'EADDRINUSE' && fs.statSync(socketPath).isSocket() && !(await isLive(socketPath))) {
      fs.unlinkSync(socketPath);
      await server.listen({ path: socketPath, mode: 0o600 });
      return;
    }
    throw err;
  }
}

async function main(): Promise<void> {
  await listen();
  console.log(`xdrd example daemon listening on ${socketPath}`);
  console.log(`program 0x${Hello.number.toString(16)} version ${Hello.version}: greet (1), add (2)`);
  console.log('call it from another terminal:');
  console.log(`  XDRD_SOCKET=${socketPath} node dist/examples/call.js greet Ada`);
  console.log(`  XDRD_SOCKET=${socketPath} node dist/examples/call.js add 2 3`);
  console.log('Ctrl-C to stop');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: closing`);
    server.close({ graceMs: 5000 }).then((r) => {
      console.log(`closed: ${r.drained ? 'every call answered' : `${r.callsCancelled} calls cancelled`}, ${r.clientsClosed} connections closed`);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: Error) => {
  console.error(`xdrd example daemon: ${err.message}`);
  process.exitCode = 1;
});
