#!/usr/bin/env node
/**
 * The `xdrd` command (package.json `bin` → dist/lib/cli/cli.js).
 *
 * It answers `--version` and `--help` and runs the subcommands in
 * `commands` below (`help`, `gen`, `stress`); `--help` lists
 * whatever is there. Exit codes: 0 done, 1 a command failed, 2 a usage error
 * (unknown command or option), reported on stderr with a pointer to --help.
 *
 * Nothing here loads the native addon, so the CLI answers even where the
 * addon cannot be loaded; `stress` loads it only when it runs. Like all of
 * lib/cli/, it uses the package only through its public index (and
 * lib/libvirt/), as an application would.
 */
import * as os from 'os';
import { parseArgs } from 'util';

import { GenUsageError } from './gen/errors';
import { GEN_HELP, runGen } from './gen/gen';
import type { StressOptions } from './stress/run';  // a type only: the module itself loads on demand

/** What a subcommand returns: its exit code. */
type ExitCode = number;

interface Command {
  /** Arguments shown after the command name in --help. */
  args: string;
  /** One line for the command list. */
  summary: string;
  /** The full text of `xdrd help <command>`, when there is more to say than the summary. */
  help?: string;
  run(argv: string[]): ExitCode | Promise<ExitCode>;
}

class UsageError extends Error {}

function version(): string {
  // The package by its own name ("exports" lists ./package.json): the same
  // file from dist/ in the repo and from an installed package.
  return (require('xdrd/package.json') as { version: string }).version;
}

const commands: Record<string, Command> = {
  help: {
    args: '[command]',
    summary: 'Show this help, or the help of one command',
    run(argv) {
      if (argv.length > 1) throw new UsageError(`help takes at most one command, got: ${argv.join(' ')}`);
      const [name] = argv;
      if (name === undefined) {
        process.stdout.write(help());
        return 0;
      }
      const cmd = lookup(name);
      process.stdout.write(cmd.help ?? `Usage: xdrd ${name} ${cmd.args}\n\n${cmd.summary}.\n`);
      return 0;
    },
  },
};

commands.gen = {
  args: 'IN.x [options]',
  summary: 'Generate a typed TypeScript module from an XDR/RPC .x file',
  help: GEN_HELP,
  run(argv) {
    try {
      return runGen(argv);
    } catch (e) {
      if (e instanceof GenUsageError) throw new UsageError(e.message);
      throw e;
    }
  },
};

const STRESS_HELP = `Usage: xdrd stress [module] [options]

Stresses a daemon in this process: pipelined calls of every handler kind,
malformed frames of every kind, half frames that stall, disconnects
mid-frame and mid-call, a burst of connects past maxClients, a client that
never reads, events to a slow reader, calls past their deadline, close()
under load and listen() again, round after round, over a UNIX socket and
loopback TCP. Then it checks that every call on a connection that stayed
open was answered exactly once, that native clients, jobs, messages and
threads return to 0, that buffered bytes return to their round-2 value and
that RSS stays flat, and that each kind of abuse happened. It stops by
itself.

  module            a CommonJS module exporting setup(server) and optionally
                    calls: [{ program, version, procedure, body }] (see
                    lib/cli/stress/run.ts); its handlers are served and its
                    calls sent alongside the built-in stress program

Options:
  --clients N       pipelined clients per round (default 8)
  --seconds S       upper bound of the run's time (default 120)
  --scale X         multiplies every count; 0.05 under valgrind (default 1)
  --seed N          repeat a run's random choices (default: a fresh seed,
                    printed on the first line)
  --rounds N        rounds, each ending with close() and a new listen()
                    (default 6; the RSS check needs at least 5)
  -h, --help        show this help

Exit codes: 0 every check passed, 1 a check failed, 2 a usage error.
RSS is compared after a full GC, with V8's young generation pinned: unless
node already runs with --max-semi-space-size, the command runs itself again
under node --max-semi-space-size=1 --expose-gc (XDRD_STRESS_NO_REEXEC=1
prevents that; under valgrind, give node both flags so no child is spawned).
XDRD_UNDER_VALGRIND=1 makes every time limit ten times longer.
`;

/** Parses a number option of `xdrd stress`. */
function numberOption(name: string, text: string, min: number, max: number, integer: boolean): number {
  const v = /^0x[0-9a-f]+$/i.test(text) ? parseInt(text, 16) : Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
    throw new UsageError(`${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got '${text}'`);
  return v;
}

/** What the command line can set: the options of runStress but its report sink. */
type StressArgs = Omit<StressOptions, 'write'>;

/** The value options of `xdrd stress`: their bounds, and whether they take integers only. */
const STRESS_NUMBERS = {
  clients: { min: 1, max: 1000, integer: true },
  seconds: { min: 1, max: 86400, integer: false },
  scale: { min: 0.001, max: 100, integer: false },
  seed: { min: 0, max: 0xffffffff, integer: true },
  rounds: { min: 1, max: 1000, integer: true },
} as const;
type StressNumber = keyof typeof STRESS_NUMBERS;

function isStressNumber(name: string): name is StressNumber {
  return Object.prototype.hasOwnProperty.call(STRESS_NUMBERS, name);
}

/**
 * util.parseArgs splits the arguments into tokens; they are then read in
 * order, so that the first problem is the one reported and `--help` wins
 * over what follows it but not over an error before it. Only `-h` and the
 * long option names as written are options (a group like `-hx`, a `--`, or
 * `--help=x` is an unknown option); a value option takes the next argument
 * whatever it looks like.
 */
function parseStressArgs(argv: string[]): StressArgs | 'help' {
  const options = Object.fromEntries(Object.keys(STRESS_NUMBERS).map((name) => [name, { type: 'string' as const }]));
  const { tokens } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: false, allowPositionals: true, tokens: true });
  const known = Object.keys(STRESS_NUMBERS).map((name) => `--${name}`);
  const out: StressArgs = {};
  for (const token of tokens) {
    if (token.kind === 'positional') {
      if (out.module !== undefined) throw new UsageError(`stress takes at most one module, got '${out.module}' and '${token.value}'`);
      out.module = token.value;
      continue;
    }
    const raw = argv[token.index]!;
    if (token.kind === 'option' && token.name === 'help' && (raw === '-h' || raw === '--help')) return 'help';
    const name = token.kind === 'option' && isStressNumber(token.name) && raw.startsWith(`--${token.name}`) ? token.name : undefined;
    if (name === undefined) {
      const eq = raw.indexOf('=');
      throw new UsageError(`unknown option '${eq >= 0 ? raw.slice(0, eq) : raw}' for stress (options: ${known.join(', ')})`);
    }
    const value = (token as { value?: string }).value;
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    const { min, max, integer } = STRESS_NUMBERS[name];
    out[name] = numberOption(`--${name}`, value, min, max, integer);
  }
  return out;
}

/**
 * The node flags a stress run needs that this process lacks. RSS is compared
 * between rounds, and V8 grows its young generation (up to 16 MiB per
 * semi-space) whenever allocation pressure says so, a step larger than the
 * whole RSS allowance; pinned at 1 MiB it stays put, so RSS shows what the
 * daemon keeps. The flag only works at startup, hence a re-exec.
 */
function missingStressFlags(): string[] {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].map((a) => a.replace(/_/g, '-'));
  const has = (flag: string): boolean => given.some((a) => a === flag || a.startsWith(`${flag}=`));
  if (has('--max-semi-space-size')) return [];  // gc, if missing, is enabled at run time
  return ['--max-semi-space-size=1', ...(has('--expose-gc') ? [] : ['--expose-gc'])];
}

/** Runs this same command in a child node with `flags`; resolves with its exit code. */
async function reexec(flags: string[]): Promise<ExitCode> {
  const { spawn } = await import('child_process');
  const child = spawn(process.execPath, [...process.execArgv, ...flags, process.argv[1]!, ...process.argv.slice(2)], { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  process.on('SIGINT', forward).on('SIGTERM', forward);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward).off('SIGTERM', forward);
      resolve(code ?? (signal !== null ? 128 + (os.constants.signals[signal] ?? 0) : 1));
    });
  });
}

commands.stress = {
  args: '[module] [options]',
  summary: 'Stress a daemon (ours, or a module\'s handlers) and check its invariants',
  help: STRESS_HELP,
  async run(argv) {
    const args = parseStressArgs(argv);
    if (args === 'help') {
      process.stdout.write(STRESS_HELP);
      return 0;
    }
    const flags = missingStressFlags();
    if (flags.length > 0 && process.env.XDRD_STRESS_NO_REEXEC !== '1') return reexec(flags);
    // Loaded only now: the rest of the CLI works without the native addon.
    const { runStress, STRESS_DEFAULTS } = await import('./stress/run');
    // A last resort, so the command always stops by itself: its waits are
    // bounded by --seconds, and this fires only if something hangs anyway.
    const limitMs = ((args.seconds ?? STRESS_DEFAULTS.seconds) + 300) * 1000;
    const watchdog = setTimeout(() => {
      process.stderr.write(`xdrd stress: still running ${limitMs / 1000} s after it started; giving up\n`);
      process.exit(1);
    }, limitMs).unref();
    try {
      return await runStress(args);
    } catch (e) {
      if (e instanceof Error && e.name === 'StressUsageError') throw new UsageError(e.message);
      throw e;
    } finally {
      clearTimeout(watchdog);
      // Everything the run opened is closed; if something still holds the
      // process (a leaked handle), say so and exit instead of hanging.
      setTimeout(() => {
        const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
        process.stderr.write(`xdrd stress: the process did not exit 10 s after the run (${handles.length} handles open)\n`);
        process.exit(1);
      }, 10000).unref();
    }
  },
};

function lookup(name: string): Command {
  const cmd = Object.prototype.hasOwnProperty.call(commands, name) ? commands[name] : undefined;
  if (!cmd) throw new UsageError(`unknown command '${name}' (commands: ${Object.keys(commands).join(', ')})`);
  return cmd;
}

function help(): string {
  const width = Math.max(...Object.entries(commands).map(([n, c]) => `${n} ${c.args}`.length), '-v, --version'.length);
  const row = (left: string, right: string) => `  ${left.padEnd(width)}  ${right}\n`;
  return (
    'Usage: xdrd <command> [arguments]\n' +
    '       xdrd --help | --version\n\n' +
    "xdrd is a threaded XDR-RPC daemon core for Node.js; use it as a library\n" +
    "(require('xdrd') or import { Server, Client } from 'xdrd').\n\n" +
    'Commands:\n' +
    Object.entries(commands)
      .map(([name, c]) => row(`${name} ${c.args}`, c.summary))
      .join('') +
    '\nOptions:\n' +
    row('-h, --help', 'Show this help') +
    row('-v, --version', "Print xdrd's version")
  );
}

async function main(argv: string[]): Promise<ExitCode> {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('missing command');
  if (first === '-h' || first === '--help' || first === '-v' || first === '--version') {
    if (rest.length > 0) throw new UsageError(`${first} takes no arguments, got: ${rest.join(' ')}`);
    process.stdout.write(first === '-h' || first === '--help' ? help() : `${version()}\n`);
    return 0;
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option '${first}'`);
  return lookup(first).run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`xdrd: ${e.message}\nRun 'xdrd --help' for usage.\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`xdrd: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    }
  },
);
