/**
 * `npm start`: a libvirt-compatible daemon serving the test driver's
 * default node on a UNIX socket, for libvirt's own clients (virsh,
 * python3-libvirt). Ctrl-C (SIGINT) or SIGTERM closes it gracefully.
 */
import * as os from 'os';
import * as path from 'path';

import { createLibvirtServer } from './server';

function defaultSocketPath(): string {
  const dir = process.env.XDG_RUNTIME_DIR || os.tmpdir();
  const user = typeof process.getuid === 'function' ? `-${process.getuid()}` : '';
  return path.join(dir, `xdrd-libvirt${user}.sock`);
}

const socketPath = process.env.XDRD_SOCKET || defaultSocketPath();
const { server } = createLibvirtServer();
server.on('error', (err) => console.error('handler error:', err.message));

async function main(): Promise<void> {
  await server.listen({ path: socketPath, mode: 0o600 });
  console.log(`xdrd libvirt example: the test driver's default node on ${socketPath}`);
  console.log('try it with libvirt\'s own client (Debian: apt-get install libvirt-clients):');
  console.log(`  virsh -c 'test+unix:///default?socket=${socketPath}' list --all`);
  console.log('Ctrl-C to stop');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: closing`);
    void server.close({ graceMs: 5000 }).then((r) => {
      console.log(`closed: ${r.clientsClosed} connections closed`);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: Error) => {
  console.error(`xdrd libvirt example: ${err.message}`);
  process.exitCode = 1;
});
