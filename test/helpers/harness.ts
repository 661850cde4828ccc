/**
 * Shared pieces of the jest suites: temporary socket paths, servers and
 * clients that are closed after each test, and forked children.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { Client, Server } from '../../lib';
import type { AddressInfo, RawHandlers, ServerOptions } from '../../lib';

export const TEST_PROGRAM = 0x20000001;
export const TEST_VERSION = 1;
export const REPO = path.join(__dirname, '..', '..');
export const DIST = path.join(REPO, 'dist', 'lib', 'index.js');

const servers: Server[] = [];
const clients: Client[] = [];
const dirs: string[] = [];

/** A fresh private directory, removed after the test. */
export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xdrd-test-'));
  dirs.push(dir);
  return dir;
}

export function socketPath(name = 'sock'): string {
  return path.join(tempDir(), name);
}

/** Closes `server` after the test, whatever happens to it. */
export function track(server: Server): Server {
  servers.push(server);
  return server;
}

/** A server serving `handlers` for the test program on a UNIX socket. */
export async function startServer(
  handlers: RawHandlers,
  options: ServerOptions = {},
): Promise<{ server: Server; address: AddressInfo }> {
  const server = new Server(options);
  servers.push(server);
  server.handle(TEST_PROGRAM, TEST_VERSION, handlers);
  const address = await server.listen({ path: socketPath() });
  return { server, address };
}

export async function connect(address: AddressInfo): Promise<Client> {
  const client = await Client.connect(address);
  clients.push(client);
  return client;
}

/**
 * Resolves once `condition()` holds, checking after each turn of the event
 * loop: for state another thread settles (the native loop frees a client a
 * moment after JS let go of it). Not a sleep: it returns as soon as the
 * condition holds, and jest's timeout bounds it.
 */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 1));
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** Closes every server and client the test made; removes its directories. */
export async function cleanUp(): Promise<void> {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close({ graceMs: 0 })));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningChild {
  /** Resolves with the first stdout line matching `re`. */
  waitFor(re: RegExp): Promise<string>;
  kill(signal: NodeJS.Signals): void;
  done: Promise<ChildResult>;
}

/** Runs `node [nodeArgs] script [args]` and collects its output. */
export function startChild(script: string, args: string[] = [], options: { env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {}): RunningChild {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  const check = (): void => {
    for (const w of waiters.slice()) {
      const line = stdout.split('\n').find((l) => w.re.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    check();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const done = new Promise<ChildResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    waitFor: (re) =>
      new Promise<string>((resolve, reject) => {
        waiters.push({ re, resolve });
        check();
        void done.then((r) => reject(new Error(`the child ended (${r.code ?? r.signal}) before printing ${re}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)));
      }),
    kill: (signal) => child.kill(signal),
    done,
  };
}

export function runChild(script: string, args: string[] = [], options: { env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {}): Promise<ChildResult> {
  return startChild(script, args, options).done;
}
