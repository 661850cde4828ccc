/**
 * `xdrd gen`: the command line around generate.ts. Usage errors are thrown
 * as GenUsageError (cli.ts turns them into exit code 2); input errors are
 * printed as `FILE:LINE:COLUMN: message` and give exit code 1, with nothing
 * written.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';

import { GenError, GenUsageError } from './errors';
import { generate } from './generate';
import { parseEnumProgram, type EnumProgram } from './programs';

export const GEN_HELP = `Usage: xdrd gen IN.x [-o OUT.ts] [-D NAME[=VALUE]]... [-I DIR]...
                 [--include OTHER.x]... [--program NAME=PROGCONST,VERSCONST,ENUM,PREFIX]...

Turns an XDR (RFC 4506) / ONC RPC (RFC 5531) definition file into a
TypeScript module on xdrd's schema language: one export per constant, enum,
struct, union and typedef under its .x name, with a type of the same name,
and a defineProgram value per program version.

  -o OUT.ts         where to write (default: IN with .ts for .x, beside it)
  -D NAME[=VALUE]   define a preprocessor symbol; with a number, also a
                    constant the file uses but does not define
  -I DIR            look for #include "file" here too (after the
                    including file's folder)
  --include OTHER.x use OTHER.x's types and constants without inlining
                    them: the output imports them from './OTHER'
  --program NAME=PROGCONST,VERSCONST,ENUM,PREFIX
                    a program from a procedure enum (libvirt's style):
                    member PREFIX_X is procedure x, with arguments
                    NAME_x_args and result NAME_x_ret where those types
                    exist; a member with only a NAME_x_msg type is an event
  -h, --help        show this help

A name TypeScript cannot use (a reserved word, xdr, defineProgram, ...) is
exported with '_' appended, with a warning. Exit codes: 0 written, 1 bad
input (FILE:LINE:COLUMN: message; nothing written), 2 a usage error.
`;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface Args {
  input: string;
  output: string;
  defines: Map<string, string>;
  includeDirs: string[];
  includes: string[];
  programs: EnumProgram[];
}

function parse(argv: string[]): Args | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        output: { type: 'string', short: 'o' },
        define: { type: 'string', short: 'D', multiple: true },
        'include-dir': { type: 'string', short: 'I', multiple: true },
        include: { type: 'string', multiple: true },
        program: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new GenUsageError(`gen: ${(e as Error).message}`);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length !== 1) throw new GenUsageError(`gen takes one input file, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
  const input = positionals[0];
  const defines = new Map<string, string>();
  for (const d of values.define ?? []) {
    const eq = d.indexOf('=');
    const name = eq < 0 ? d : d.slice(0, eq);
    if (!NAME.test(name)) throw new GenUsageError(`gen: -D needs NAME or NAME=VALUE, got '${d}'`);
    defines.set(name, eq < 0 ? '' : d.slice(eq + 1));
  }
  const programs = (values.program ?? []).map((p) => {
    const spec = parseEnumProgram(p);
    if (!spec) throw new GenUsageError(`gen: --program needs NAME=PROGCONST,VERSCONST,ENUM,PREFIX, got '${p}'`);
    return spec;
  });
  const output = values.output ?? path.join(path.dirname(input), `${path.basename(input).replace(/\.x$/, '')}.ts`);
  if (output === '') throw new GenUsageError('gen: -o needs a file name');
  return { input, output, defines, includeDirs: values['include-dir'] ?? [], includes: values.include ?? [], programs };
}

/** An argument as a shell would need it quoted, for the header. */
function shellWord(a: string): string {
  return /^[A-Za-z0-9_./=,:+@%-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

export function runGen(argv: string[]): number {
  const args = parse(argv);
  if (args === 'help') {
    process.stdout.write(GEN_HELP);
    return 0;
  }
  let result;
  try {
    result = generate({ ...args, command: ['xdrd', 'gen', ...argv].map(shellWord).join(' ') });
  } catch (e) {
    if (e instanceof GenError) {
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
  for (const w of result.warnings) process.stderr.write(`${w}\n`);
  try {
    fs.writeFileSync(args.output, result.text);
  } catch (e) {
    process.stderr.write(`${args.output}: cannot write (${(e as NodeJS.ErrnoException).code ?? String(e)})\n`);
    return 1;
  }
  return 0;
}
