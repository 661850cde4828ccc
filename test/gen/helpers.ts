/**
 * Shared by the xdrd gen suites: the fixtures, the golden cases, running the
 * built CLI (global-setup.js compiles dist/ first), and type-checking
 * generated modules that sit outside the repository.
 *
 * Generated modules import 'xdrd'. Inside the repository (the goldens in
 * test/fixtures/gen/) the root tsconfig.json maps it to lib/index.ts, and
 * jest's moduleNameMapper does the same at run time. For modules written
 * to a temporary folder, checkDir() writes a tsconfig.json there with the
 * same mapping and runs tsc --strict on the folder.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { REPO } from '../helpers/harness';

export const FIXTURES = path.join(REPO, 'test', 'fixtures', 'gen');
const CLI = path.join(REPO, 'dist', 'lib', 'cli', 'cli.js');

/** One golden: the arguments after `xdrd gen`, relative to the repository. */
export interface GoldenCase {
  readonly input: string;
  readonly args: readonly string[];
}

export const GOLDEN: readonly GoldenCase[] = [
  { input: 'all.x', args: [] },
  { input: 'extras.x', args: ['-D', 'FROM_COMMAND_LINE=7', '-D', 'FEATURE', '-I', 'test/fixtures/gen/include'] },
  {
    input: 'procs.x',
    args: ['--include', 'test/fixtures/gen/all.x', '--program', 'demo=DEMO_PROGRAM,DEMO_PROTOCOL_VERSION,demo_procedure,DEMO_PROC_'],
  },
];

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runCli(args: readonly string[], cwd = REPO): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Type-checks every .ts file of `dir` under --strict against this repository's lib; returns tsc's output. */
export function checkDir(dir: string): CliResult {
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      module: 'commonjs',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [path.join(REPO, 'node_modules', '@types')],
      paths: { xdrd: [path.join(REPO, 'lib', 'index.ts')] },
    },
    include: ['*.ts'],
  };
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  const tsc = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
