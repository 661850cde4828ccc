#!/usr/bin/env node
/**
 * The `xdrd` command (package.json `bin` → dist/lib/cli.js).
 *
 * Today it only answers `--version` and `--help`; subcommands go into
 * `commands` below (`xdrd gen` is planned), and `--help` lists whatever is
 * there. Exit codes: 0 done, 1 a command failed, 2 a usage error (unknown
 * command or option), reported on stderr with a pointer to --help.
 *
 * Nothing here loads the native addon, so the CLI answers even where the
 * addon cannot be loaded.
 */
import * as fs from 'fs';
import * as path from 'path';

import { packageRoot } from './native';

/** What a subcommand returns: its exit code. */
type ExitCode = number;

interface Command {
  /** Arguments shown after the command name in --help. */
  args: string;
  /** One line for the command list. */
  summary: string;
  run(argv: string[]): ExitCode | Promise<ExitCode>;
}

class UsageError extends Error {}

function version(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
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
      process.stdout.write(`Usage: xdrd ${name} ${cmd.args}\n\n${cmd.summary}.\n`);
      return 0;
    },
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
