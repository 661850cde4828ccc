/**
 * A real libvirtd 9.0 (libvirt's test driver) on a private socket, for the
 * conformance suites that compare the libvirt example with it, and the
 * clients they run (virsh, /usr/bin/python3 with the libvirt module).
 * Facts: ../shared/libvirt-wire.md §10.
 */
import { execFile, spawn } from 'child_process';
import type { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const LIBVIRTD = '/usr/sbin/libvirtd';
export const VIRSH = '/usr/bin/virsh';
/** The python the Debian module is built for (not another python3 on PATH). */
export const PYTHON = '/usr/bin/python3';

/** Why the real daemon and its clients cannot run here, or null when they can. */
export function libvirtMissing(): string | null {
  for (const f of [LIBVIRTD, VIRSH, PYTHON]) if (!fs.existsSync(f)) return `${f} is missing (apt-get install libvirt-daemon libvirt-clients python3-libvirt)`;
  if (!fs.existsSync('/usr/lib/python3/dist-packages/libvirt.py')) return 'python3-libvirt is missing (apt-get install python3-libvirt)';
  // libvirtd's private-socket setup (unix_sock_group = root) is the one checked as root.
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'the real libvirtd is run as root only';
  return null;
}

export interface RealLibvirtd {
  /** The read-write socket. */
  socket: string;
  stop(): Promise<void>;
}

/**
 * Starts libvirtd in `dir`: its sockets, pid file and log stay there. An
 * empty LIBVIRT_DRIVER_DIR keeps it to the built-in test driver (the QEMU
 * module would make it exit for want of the libvirt-qemu user). `-t` makes
 * it exit by itself if the test dies before stop().
 */
export async function startLibvirtd(dir: string): Promise<RealLibvirtd> {
  const run = path.join(dir, 'run');
  const noDrivers = path.join(dir, 'nodrivers');
  fs.mkdirSync(run, { recursive: true });
  fs.mkdirSync(noDrivers, { recursive: true });
  const conf = path.join(dir, 'libvirtd.conf');
  fs.writeFileSync(
    conf,
    [
      `unix_sock_dir = "${run}"`,
      'unix_sock_group = "root"',
      'unix_sock_ro_perms = "0777"',
      'unix_sock_rw_perms = "0770"',
      'auth_unix_ro = "none"',
      'auth_unix_rw = "none"',
      'listen_tls = 0',
      'listen_tcp = 0',
      `log_outputs = "3:file:${path.join(dir, 'libvirtd.log')}"`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(LIBVIRTD, ['-f', conf, '-p', path.join(dir, 'libvirtd.pid'), '-t', '120'], {
    env: { ...process.env, LIBVIRT_DRIVER_DIR: noDrivers },
    stdio: ['ignore', 'ignore', fs.openSync(path.join(dir, 'libvirtd.stderr'), 'w')],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const socket = path.join(run, 'libvirt-sock');
  const deadline = Date.now() + 10000;
  while (!fs.existsSync(socket)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`libvirtd did not start: ${fs.readFileSync(path.join(dir, 'libvirtd.stderr'), 'utf8')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    socket,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface ClientRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a client to its end with a bound on its time; never rejects. */
export function runClient(file: string, args: string[], timeoutMs = 20000): Promise<ClientRun> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1;
      resolve({ code, stdout, stderr });
    });
  });
}
