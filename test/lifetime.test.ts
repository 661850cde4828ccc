/**
 * Teardown in forked children: the process, a worker thread or a signal
 * ends a serving daemon while calls are in flight. The same fixtures run
 * under memcheck, helgrind and ASan in `npm run test:ci`
 * (scripts/node-tools.js). Each child must end with
 * its own exit code and no signal (no abort, no crash in a finalizer).
 */
import * as fs from 'fs';
import * as path from 'path';

import { Client } from '../lib';
import { REPO, cleanUp, runChild, socketPath, startChild, tempDir } from './helpers/harness';

afterEach(cleanUp);

const fixture = (name: string): string => path.join(__dirname, 'fixtures', name);

test('the tools scenario (every handler kind, load, close under load, listen again) runs clean', async () => {
  const r = await runChild(fixture('bridge-load.js'), [tempDir()]);
  expect(r.stderr).toBe('');
  expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
  expect(r.stdout).toBe('ok\n');
});

test('the API scenario (authorize, events, deadlines, clients closed and leaving, two listeners) runs clean', async () => {
  const r = await runChild(fixture('api-load.js'), [tempDir()]);
  expect(r.stderr).toBe('');
  expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
  expect(r.stdout).toMatch(/^ok \{.*"denied":\d+.*\}\n$/);
});

test('process.exit() with calls held by JS handlers', async () => {
  const r = await runChild(fixture('exit-in-flight.js'), [socketPath(), 'held']);
  expect(r.stderr).toBe('');
  expect({ code: r.code, signal: r.signal }).toEqual({ code: 3, signal: null });
  expect(r.stdout).toMatch(/exiting with ([1-9]\d*) calls held by JS/);
});

test('process.exit() with calls still queued for the JS thread', async () => {
  const r = await runChild(fixture('exit-in-flight.js'), [socketPath(), 'queued']);
  expect(r.stderr).toBe('');
  expect({ code: r.code, signal: r.signal }).toEqual({ code: 3, signal: null });
  expect(r.stdout).toMatch(/and ([1-9]\d*) queued/);
});

test('a worker thread that serves calls is terminated, three times, and leaves no thread', async () => {
  const r = await runChild(fixture('worker-serve.js'), [tempDir()]);
  expect(r.stderr).toBe('');
  expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
  const rounds = r.stdout.split('\n').filter((l) => l.startsWith('round'));
  expect(rounds).toHaveLength(3);
  for (const line of rounds) expect(line).toMatch(/20 calls settled: /);
  expect(r.stdout).toContain('threads left: 0');
});

test('a listening server nothing references survives garbage collection and serves', async () => {
  const r = await runChild(fixture('gc-listening.js'), [socketPath()], { nodeArgs: ['--expose-gc'] });
  expect(r.stderr).toBe('');
  expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
  expect(r.stdout).toContain('reply after gc: abab');
});

test('unref() lets the process exit while listening; before listen() too', async () => {
  for (const mode of ['unref', 'unref-before-listen']) {
    const r = await runChild(fixture('ref-unref.js'), [socketPath(), mode]);
    expect(r.stderr).toBe('');
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
    expect(r.stdout).toBe('served: ping\nexit 0\n');
  }
});

test('ref() after unref() keeps the process alive again', async () => {
  const r = await runChild(fixture('ref-unref.js'), [socketPath(), 'unref-then-ref']);
  expect(r.stderr).toBe('');
  expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
  expect(r.stdout).toBe('served: ping\nstill alive\nclosed\nexit 0\n');
});

test('SIGTERM to the example daemon under load: it closes gracefully and every call settles', async () => {
  const sock = socketPath('daemon.sock');
  const daemon = startChild(path.join(REPO, 'dist', 'examples', 'daemon.js'), [], { env: { XDRD_SOCKET: sock } });
  await daemon.waitFor(/listening on/);

  const PROGRAM = 0x20001234;
  const clients = await Promise.all(Array.from({ length: 4 }, () => Client.connect({ path: sock })));
  let ok = 0;
  let wrong = 0;
  let ended = 0;
  let sent = 0;
  const loops = clients.map(async (client, c) => {
    for (let i = 0; ; i++) {
      const args = Buffer.alloc(8);
      args.writeInt32BE(c, 0);
      args.writeInt32BE(i, 4);
      sent++;
      try {
        const r = await client.call(PROGRAM, 1, 2, args);
        if (r.readBigInt64BE(0) === BigInt(c + i)) ok++;
        else wrong++;
      } catch {
        ended++; // refused while shutting down, or the connection closed
        client.destroy();
        return;
      }
    }
  });
  while (ok < 200) await new Promise((r) => setTimeout(r, 5));
  daemon.kill('SIGTERM');
  const result = await daemon.done;
  await Promise.all(loops);

  expect(result.stderr).toBe('');
  expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
  expect(result.stdout).toMatch(/SIGTERM: closing/);
  expect(result.stdout).toMatch(/closed: /);
  expect(wrong).toBe(0);
  expect(ok + ended).toBe(sent);
  expect(fs.existsSync(sock)).toBe(false);
});
