/**
 * `xdrd gen`'s errors through the built CLI: bad input is
 * `FILE:LINE:COLUMN: message`, exit code 1 and no output file; a bad
 * command line is a usage error, exit code 2. Also the bounds that keep
 * hostile input from running long, and the default output path.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { runCli } from './helpers';

const ERRORS = 'test/fixtures/gen/errors';
let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xdrd-gen-cli-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function genFails(args: string[], code: number, stderr: string | RegExp): void {
  const out = path.join(dir, 'out.ts');
  const r = runCli(['gen', ...args, '-o', out]);
  if (typeof stderr === 'string') expect(r.stderr).toBe(stderr);
  else expect(r.stderr).toMatch(stderr);
  expect(r.code).toBe(code);
  expect(fs.existsSync(out)).toBe(false);
}

describe('input errors: FILE:LINE:COLUMN, exit 1, nothing written', () => {
  test('an unknown type', () => genFails([`${ERRORS}/unknown.x`], 1, `${ERRORS}/unknown.x:3:3: unknown type 'missing_t'\n`));

  test('a constant the file uses but does not define', () =>
    genFails([`${ERRORS}/define.x`], 1, `${ERRORS}/define.x:1:21: constant 'VIR_UUID_BUFLEN' is not defined; give it with -D VIR_UUID_BUFLEN=VALUE\n`));

  test('...which -D then gives', () => {
    const out = path.join(dir, 'define.ts');
    const r = runCli(['gen', `${ERRORS}/define.x`, '-D', 'VIR_UUID_BUFLEN=16', '-o', out]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(fs.readFileSync(out, 'utf8')).toContain('export const uuid = xdr.fixedOpaque(16);');
  });

  test('a syntax error names what was expected', () => genFails([`${ERRORS}/syntax.x`], 1, `${ERRORS}/syntax.x:3:1: expected ';', got '}'\n`));

  test('an include cycle', () =>
    genFails([`${ERRORS}/cycle_a.x`], 1, `${ERRORS}/cycle_b.x:2:1: include cycle: cycle_a.x -> cycle_b.x -> cycle_a.x\n`));

  test('an unsupported directive', () => genFails([`${ERRORS}/directive.x`], 1, `${ERRORS}/directive.x:2:1: unsupported preprocessor directive '#pragma'\n`));

  test('quadruple, where it is used', () =>
    genFails([`${ERRORS}/quad.x`], 1, `${ERRORS}/quad.x:2:3: quadruple (128-bit float) is not supported: JavaScript has no value for it\n`));

  test('a type that contains itself with nothing in between', () =>
    genFails([`${ERRORS}/unguarded.x`], 1, `${ERRORS}/unguarded.x:1:1: type 'self' contains itself without an optional, a variable-length array or a union in between\n`));

  test('an unreadable file', () => {
    genFails([`${ERRORS}/no-such-file.x`], 1, `${ERRORS}/no-such-file.x: cannot read (ENOENT)\n`);
    genFails([ERRORS], 1, `${ERRORS}: cannot read (EISDIR)\n`);
  });

  test('an include that is not there', () => {
    fs.writeFileSync(path.join(dir, 'inc.x'), 'const A = 1;\n#include "gone.x"\n');
    genFails([path.join(dir, 'inc.x')], 1, /inc\.x:2:1: cannot find included file "gone.x"/);
  });
});

describe('bounds', () => {
  test('type definitions nested too deep', () => {
    const f = path.join(dir, 'deep.x');
    fs.writeFileSync(f, `${'struct d {\n'}${'struct {\n'.repeat(100)}`);
    genFails([f], 1, /deep\.x:\d+:1: type definitions nested deeper than 32\n/);
  });

  test('includes nested too deep', () => {
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(dir, `i${i}.x`), `#include "i${i + 1}.x"\n`);
    fs.writeFileSync(path.join(dir, 'i20.x'), 'const A = 1;\n');
    genFails([path.join(dir, 'i0.x')], 1, /i15\.x:1:1: includes nested deeper than 16\n/);
  });

  test('an input larger than 4 MiB', () => {
    const f = path.join(dir, 'big.x');
    fs.writeFileSync(f, ' '.repeat(4 * 1024 * 1024 + 1));
    genFails([f], 1, /big\.x: .* is larger than 4194304 bytes\n/);
  });

  test('conditionals nested too deep', () => {
    const f = path.join(dir, 'ifs.x');
    fs.writeFileSync(f, '#ifdef A\n'.repeat(100));
    genFails([f], 1, /ifs\.x:65:1: conditionals nested deeper than 64\n/);
  });
});

describe('usage errors: exit 2', () => {
  const usage = (message: string): string => `xdrd: ${message}\nRun 'xdrd --help' for usage.\n`;

  test('an unknown option', () => {
    const r = runCli(['gen', `${ERRORS}/unknown.x`, '--frobnicate']);
    expect(r.stderr).toMatch(/^xdrd: gen: Unknown option '--frobnicate'/);
    expect(r.code).toBe(2);
  });

  test('no input, or two', () => {
    expect(runCli(['gen'])).toMatchObject({ code: 2, stderr: usage('gen takes one input file, got none') });
    expect(runCli(['gen', 'a.x', 'b.x'])).toMatchObject({ code: 2, stderr: usage('gen takes one input file, got a.x b.x') });
  });

  test('a malformed --program or -D', () => {
    expect(runCli(['gen', 'a.x', '--program', 'remote=A,B'])).toMatchObject({
      code: 2,
      stderr: usage("gen: --program needs NAME=PROGCONST,VERSCONST,ENUM,PREFIX, got 'remote=A,B'"),
    });
    expect(runCli(['gen', 'a.x', '-D', '1X=2'])).toMatchObject({ code: 2, stderr: usage("gen: -D needs NAME or NAME=VALUE, got '1X=2'") });
  });

  test('--program naming an enum the file does not have is an input error', () => {
    genFails(['test/fixtures/gen/all.x', '--program', 'p=ALL_PROG,SMALL,nope,P_'], 1, "(command line): --program p: 'nope' is not an enum of the input\n");
  });
});

test('help, and the default output beside the input', () => {
  const help = runCli(['gen', '--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/^Usage: xdrd gen IN\.x/);
  expect(runCli(['help', 'gen']).stdout).toBe(help.stdout);
  expect(runCli(['--help']).stdout).toMatch(/\n  gen IN\.x \[options\] +Generate a typed TypeScript module/);

  fs.copyFileSync('test/fixtures/gen/all.x', path.join(dir, 'copy.x'));
  const r = runCli(['gen', 'copy.x'], dir);
  expect([r.code, r.stderr]).toEqual([0, '']);
  const text = fs.readFileSync(path.join(dir, 'copy.ts'), 'utf8');
  expect(text.split('\n').slice(0, 2)).toEqual(['// Generated by xdrd gen from copy.x; do not edit.', '// Command: xdrd gen copy.x']);
});
