/**
 * Fuzz target 6: the `.x` front end of `xdrd gen` (preprocess, tokenize,
 * parse, resolve, write: lib/cli/gen/generate.ts) on arbitrary text, on
 * streams of `.x` tokens, and on mutations of the repository's real `.x`
 * files (examples/libvirt/remote.x, test/fixtures/gen/**.x).
 *
 * For every input, written to a file and run as `xdrd gen FILE` runs it:
 *  - it returns, or throws GenError; nothing else (a TypeError, a
 *    RangeError from a blown stack, ... fail);
 *  - every GenError carries a position: a file that was read, a line
 *    within that file (or one past its end, for "unexpected end") and a
 *    column >= 1;
 *  - no input takes longer than PER_INPUT_MS: the front end is linear, so
 *    anything near that is a blow-up (a true endless loop would hold the
 *    test until jest's timeout fails it);
 *  - its bounds hold: nesting past LIMITS.typeDepth / conditionalDepth is
 *    an error, never a stack overflow (the "deep" property).
 *
 * Counterexamples become test/fuzz/corpus/ts-gen/regress-<what>.x files,
 * each run through the same checks first, every run.
 */
import fc from 'fast-check';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { GenError, LIMITS } from '../../../lib/cli/gen/errors';
import { generate } from '../../../lib/cli/gen/generate';
import { budget, corpus, runProperty, timeoutMs } from './common';

const REPO = path.join(__dirname, '..', '..', '..');
const FIXTURES = path.join(REPO, 'test', 'fixtures', 'gen');

/** The real .x files, as seeds for mutation. */
function seeds(): Array<[string, string]> {
  const files = [path.join(REPO, 'examples', 'libvirt', 'remote.x')];
  for (const dir of [FIXTURES, path.join(FIXTURES, 'errors'), path.join(FIXTURES, 'include')]) {
    for (const f of fs.readdirSync(dir).sort()) if (f.endsWith('.x')) files.push(path.join(dir, f));
  }
  return files.map((f) => [path.relative(REPO, f), fs.readFileSync(f, 'utf8')]);
}
const SEEDS = seeds();

/** Generous: the biggest seed takes a few ms; CI machines are slow and shared. */
const PER_INPUT_MS = 2000;

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xdrd-fuzz-gen-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let slowest = 0;

/** Runs `text` through gen and checks every property; returns whether it generated. */
function check(text: string): boolean {
  const file = path.join(dir, 'input.x');
  fs.writeFileSync(file, text);
  const started = performance.now();
  let ok: boolean;
  try {
    generate({
      input: file,
      defines: new Map(),
      // Seeds from test/fixtures/gen include files from there.
      includeDirs: [FIXTURES, path.join(FIXTURES, 'include')],
      includes: [],
      programs: [],
      command: 'xdrd gen input.x',
    });
    ok = true;
  } catch (e) {
    if (!(e instanceof GenError)) {
      throw new Error(`gen threw ${(e as Error)?.constructor?.name ?? typeof e}, not GenError: ${String((e as Error)?.stack ?? e)}`);
    }
    const pos = e.pos;
    if (pos === undefined) throw new Error(`a GenError without a position: ${e.message}`);
    if (!(Number.isInteger(pos.line) && pos.line >= 1 && Number.isInteger(pos.col) && pos.col >= 1)) {
      throw new Error(`a GenError with a bad position ${JSON.stringify(pos)}: ${e.message}`);
    }
    // The position is in a file that exists, on one of its lines (or just past the last).
    let lines: number;
    try {
      lines = fs.readFileSync(pos.file, 'utf8').split('\n').length;
    } catch {
      throw new Error(`a GenError names a file that was not read: ${e.message}`);
    }
    if (pos.line > lines + 1) throw new Error(`a GenError past the end of ${pos.file} (${lines} lines): ${e.message}`);
    if (!e.message.startsWith(`${pos.file}:${pos.line}:${pos.col}: `)) throw new Error(`a GenError message without its position: ${e.message}`);
    ok = false;
  }
  const ms = performance.now() - started;
  slowest = Math.max(slowest, ms);
  if (ms > PER_INPUT_MS) throw new Error(`gen took ${Math.round(ms)} ms on one input of ${text.length} characters`);
  return ok;
}

// --- inputs ----------------------------------------------------------------------

const KEYWORDS = ['struct', 'union', 'enum', 'typedef', 'const', 'switch', 'case', 'default', 'program', 'version', 'void',
  'int', 'unsigned', 'hyper', 'float', 'double', 'quadruple', 'bool', 'string', 'opaque', 'char', 'short', 'long', 'u_int',
  'int32_t', 'uint64_t', 'bool_t', 'TRUE', 'FALSE'];
const PUNCT = ['{', '}', '(', ')', '[', ']', '<', '>', ';', ',', '=', '*', ':', '-', '%', '#'];
const DIRECTIVES = ['#define X 3', '#define', '#undef X', '#ifdef X', '#ifndef X', '#if X', '#if defined(X)', '#if !X', '#if 0',
  '#if 1', '#else', '#endif', '#include "input.x"', '#include "all.x"', '#include "nope.x"', '#pragma once', '%#include <x.h>'];

const token = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...KEYWORDS) },
  { weight: 5, arbitrary: fc.constantFrom(...PUNCT) },
  { weight: 3, arbitrary: fc.constantFrom('a', 'b', 'X', 'T', 'list', 'next', 'x_1', '_u', 'P', 'V') },
  { weight: 2, arbitrary: fc.oneof(fc.nat().map(String), fc.constantFrom('0x7fffffff', '0xffffffff', '0x100000000', '-2147483648', '4294967296', '0777', '08', '1e3', '99999999999999999999', '-0x')) },
  { weight: 1, arbitrary: fc.constantFrom('/*', '*/', '//', '"', '"str"', '\\', '\t', '\r', '\u00e9', '\u0000') },
);
const separator = fc.constantFrom(' ', ' ', ' ', '\n', '');
const tokenText = fc.array(fc.tuple(token, separator), { maxLength: 80 }).map((ts) => ts.map(([t, s]) => t + s).join(''));
const lineText = fc.array(fc.oneof(fc.constantFrom(...DIRECTIVES), tokenText), { maxLength: 12 }).map((ls) => ls.join('\n'));

type Edit =
  | { kind: 'deleteLine'; at: number }
  | { kind: 'duplicateLine'; at: number }
  | { kind: 'swapLines'; a: number; b: number }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'deleteSpan'; at: number; length: number }
  | { kind: 'replaceChar'; at: number; char: string }
  | { kind: 'truncate'; at: number };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('deleteLine' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicateLine' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swapLines' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(token, fc.constantFrom(...DIRECTIVES).map((d) => `\n${d}\n`), fc.string({ maxLength: 4 })) }),
  fc.record({ kind: fc.constant('deleteSpan' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('replaceChar' as const), at: fc.nat(), char: fc.oneof(fc.constantFrom(...PUNCT, '0', '9', 'x', ' ', '\n', '"'), fc.string({ minLength: 1, maxLength: 1 })) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function applyEdit(text: string, e: Edit): string {
  const lines = text.split('\n');
  const n = lines.length;
  switch (e.kind) {
    case 'deleteLine': lines.splice(e.at % n, 1); return lines.join('\n');
    case 'duplicateLine': lines.splice(e.at % n, 0, lines[e.at % n]!); return lines.join('\n');
    case 'swapLines': {
      const a = e.a % n, b = e.b % n;
      [lines[a], lines[b]] = [lines[b]!, lines[a]!];
      return lines.join('\n');
    }
    case 'insert': { const at = e.at % (text.length + 1); return text.slice(0, at) + e.text + text.slice(at); }
    case 'deleteSpan': { const at = e.at % (text.length + 1); return text.slice(0, at) + text.slice(at + e.length); }
    case 'replaceChar': { const at = e.at % (text.length + 1); return text.slice(0, at) + e.char + text.slice(at + 1); }
    case 'truncate': return text.slice(0, e.at % (text.length + 1));
  }
}

const SHARES = 4;

describe('fuzz target gen: the .x parser on hostile text', () => {
  for (const [name, bytes] of corpus('ts-gen')) {
    test(`regression ${name}`, () => {
      check(bytes.toString('utf8'));
    });
  }

  // The xdr target's first defect seen from gen: `T *` where T is already
  // optional made a module whose xdr.optional() throws when loaded. Gen
  // now refuses it itself, at the `*` declaration.
  test('regress-optional-of-optional-typedef: refused by gen with a position', () => {
    const text = corpus('ts-gen').find(([n]) => n === 'regress-optional-of-optional-typedef.x')![1].toString('utf8');
    expect(check(text)).toBe(false);
    const file = path.join(dir, 'input.x');
    expect(() => generate({ input: file, defines: new Map(), includeDirs: [], includes: [], programs: [], command: 'x' }))
      .toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:3: 'alias \\*': 'alias' is already optional`));
  });

  test('the seeds themselves: each generates or fails with a position', () => {
    let generated = 0;
    for (const [, text] of SEEDS) if (check(text)) generated++;
    // remote.x and most fixtures generate; the errors/ fixtures do not.
    expect(generated).toBeGreaterThan(0);
    expect(generated).toBeLessThan(SEEDS.length);
  });

  test('mutations of the real .x files', () => {
    let generated = 0;
    const runs = runProperty('gen mutated .x files', fc.property(fc.nat({ max: SEEDS.length - 1 }), fc.array(edit, { minLength: 1, maxLength: 4 }), (i, edits) => {
      if (check(edits.reduce(applyEdit, SEEDS[i]![1]))) generated++;
    }), budget(1000, SHARES));
    console.log(`gen mutated .x files: ${generated} of ${runs} still generate; slowest input ${Math.round(slowest)} ms`);
    expect(generated).toBeGreaterThan(0);
  }, timeoutMs(SHARES));

  test('streams of .x tokens and directives', () => {
    let generated = 0;
    const runs = runProperty('gen token streams', fc.property(lineText, (text) => {
      if (check(text)) generated++;
    }), budget(1000, SHARES));
    console.log(`gen token streams: ${generated} of ${runs} generate`);
  }, timeoutMs(SHARES));

  test('arbitrary text', () => {
    runProperty('gen arbitrary text', fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 })), (text) => {
      check(text);
    }), budget(600, SHARES));
  }, timeoutMs(SHARES));

  test('deep nesting: past the limits is an error with a position, never a stack overflow', () => {
    const nested = (kind: 'struct' | 'union' | 'if' | 'paren', depth: number): string => {
      switch (kind) {
        case 'struct': return `struct s { ${'struct { '.repeat(depth)}int x; ${'} y; '.repeat(depth)}};`;
        case 'union': return `struct s { ${'union switch (int d) { case 0: '.repeat(depth)}int x; ${'} u; '.repeat(depth)}};`;
        case 'if': return `${'#ifdef X\n'.repeat(depth)}const A = 1;\n${'#endif\n'.repeat(depth)}`;
        case 'paren': return `const A = ${'('.repeat(depth)}1${')'.repeat(depth)};`;
      }
    };
    runProperty('gen deep nesting', fc.property(fc.constantFrom('struct', 'union', 'if', 'paren') as fc.Arbitrary<'struct' | 'union' | 'if' | 'paren'>,
      fc.oneof(fc.constantFrom(LIMITS.typeDepth - 1, LIMITS.typeDepth, LIMITS.conditionalDepth, LIMITS.conditionalDepth + 1),
        fc.integer({ min: 1, max: 80 }), fc.integer({ min: 1000, max: 20000 })), (kind, depth) => {
        const ok = check(nested(kind, depth));
        // The outer `struct s` body counts: `depth` inline bodies make depth + 1 levels.
        if (kind === 'struct' || kind === 'union') expect(ok).toBe(depth + 1 <= LIMITS.typeDepth);
        if (kind === 'if') expect(ok).toBe(depth <= LIMITS.conditionalDepth);
      }), budget(80, SHARES));
  }, timeoutMs(SHARES));
});
