/**
 * No input crashes xdrd gen or makes it run long: mutated fixtures either
 * generate a module that loads (its schemas are accepted by the builders)
 * or fail with a GenError (FILE:LINE:COLUMN), never another exception; long
 * chains and big cycles hit a bound. XDRD_GEN_SEED sets the seed,
 * XDRD_GEN_MUTATIONS the number of mutated inputs (default 400).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';

import * as lib from '../../lib';
import { GenError } from '../../lib/cli/gen/errors';
import { generate } from '../../lib/cli/gen/generate';
import { FIXTURES } from './helpers';
import { Rng } from './random-values';

const seed = process.env.XDRD_GEN_SEED !== undefined ? Number(process.env.XDRD_GEN_SEED) >>> 0 : (Math.random() * 0x100000000) >>> 0;
const mutations = Number(process.env.XDRD_GEN_MUTATIONS ?? 400);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xdrd-gen-hostile-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function gen(text: string, defines: [string, string][] = []): string {
  const file = path.join(dir, 'in.x');
  fs.writeFileSync(file, text);
  return generate({ input: file, defines: new Map(defines), includeDirs: [path.join(FIXTURES, 'include')], includes: [], programs: [], command: 'xdrd gen in.x' }).text;
}

/** Runs a generated module with 'xdrd' as this repository's lib. */
function load(text: string): Record<string, unknown> {
  const js = ts.transpileModule(text, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
  const module = { exports: {} as Record<string, unknown> };
  const req = (id: string): unknown => {
    if (id === 'xdrd') return lib;
    throw new Error(`unexpected import ${id}`);
  };
  new Function('require', 'module', 'exports', js)(req, module, module.exports);
  return module.exports;
}

const TOKENS = ['{', '}', ';', '<', '>', '[', ']', '*', '=', '-', ',', ':', 'struct', 'union', 'switch', 'case', 'default',
  'enum', 'typedef', 'void', 'opaque', 'string', 'int', 'hyper', 'unsigned', 'bool', 'quadruple', 'program', 'version',
  '0', '-1', '0x7fffffff', '4294967296', 'SMALL', 'list', 'color', '#if 1\n', '#endif\n', '#include "in.x"\n', '/*', '%x\n', '"s"'];

function mutate(text: string, r: Rng): string {
  let t = text;
  const n = 1 + (r.next() % 4);
  for (let k = 0; k < n; k++) {
    const at = r.next() % (t.length + 1);
    switch (r.next() % 3) {
      case 0:
        t = t.slice(0, at) + t.slice(at + 1 + (r.next() % 12));
        break;
      case 1:
        t = `${t.slice(0, at)} ${TOKENS[r.next() % TOKENS.length]} ${t.slice(at)}`;
        break;
      default: {
        const from = r.next() % (t.length + 1);
        t = t.slice(0, at) + t.slice(from, from + (r.next() % 40)) + t.slice(at);
      }
    }
  }
  return t;
}

test('mutated fixtures generate a module that loads, or fail with a GenError', () => {
  process.stdout.write(`gen hostile: seed ${seed}\n`);
  const sources = ['all.x', 'extras.x'].map((f) => fs.readFileSync(path.join(FIXTURES, f), 'latin1'));
  const defines: [string, string][] = [['FROM_COMMAND_LINE', '7'], ['FEATURE', '']];
  let generated = 0;
  let refused = 0;
  for (let i = 0; i < mutations; i++) {
    const text = mutate(sources[i % 2], new Rng(seed, i));
    let out: string | undefined;
    try {
      out = gen(text, defines);
    } catch (e) {
      if (!(e instanceof GenError)) throw new Error(`mutation ${i} (seed ${seed}) threw ${String(e)}:\n${text}`);
      refused++;
      continue;
    }
    try {
      load(out);
    } catch (e) {
      throw new Error(`mutation ${i} (seed ${seed}) generated a module that does not load (${String(e)}):\n${text}`);
    }
    generated++;
  }
  process.stdout.write(`gen hostile: ${generated} generated and loaded, ${refused} refused\n`);
  expect(generated + refused).toBe(mutations);
});

test('long chains and big cycles hit a bound, not the stack', () => {
  const consts = Array.from({ length: 5000 }, (_, i) => `const C${i} = C${i + 1};`).join('\n');
  expect(() => gen(`${consts}\nconst C5000 = 1;\n`)).toThrow(/defined through more than 1000 other names/);

  const typedefs = Array.from({ length: 20000 }, (_, i) => `typedef t${i + 1} t${i};`).join('\n');
  expect(gen(`${typedefs}\ntypedef int t20000;\n`)).toContain('export const t0 = t1;');

  const cycle = Array.from({ length: 2000 }, (_, i) => `struct s${i} { s${(i + 1) % 2000} *next; };`).join('\n');
  expect(() => gen(cycle)).toThrow(/recursive types nested more than 64 deep|more than 20000 schema nodes/);

  const wide = Array.from({ length: 30 }, (_, i) => `struct w${i} { ${Array.from({ length: 30 }, (_, j) => `w${j} *f${j};`).join(' ')} };`).join('\n');
  expect(() => gen(wide)).toThrow(/more than 20000 schema nodes|nested more than 64/);
});
