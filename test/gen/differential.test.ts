/**
 * Differential test against Debian's rpcgen, for all.x (every construct
 * rpcgen accepts). rpcgen writes the C XDR routines; test/gen/all_diff.c,
 * built with them and libtirpc, draws seeded random values and encodes
 * them, and decodes and re-encodes bytes it is given. Both directions:
 *
 *  - C to TS: the C encoding of value i decodes in TS to value i as drawn
 *    by random-values.ts from the same seed, and TS encodes that value to
 *    the same bytes;
 *  - TS to C: TS encodings of values from another seed decode in C
 *    (every byte used) and encode back to the same bytes.
 *
 * XDRD_GEN_SEED sets the seed (printed on every run), XDRD_GEN_COUNT the
 * number of values per direction (default 3000).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { xdr } from '../../lib';
import { all_types } from '../fixtures/gen/all';
import { FIXTURES } from './helpers';
import { Rng, randomValue } from './random-values';

const seed = process.env.XDRD_GEN_SEED !== undefined ? Number(process.env.XDRD_GEN_SEED) >>> 0 : (Math.random() * 0x100000000) >>> 0;
const count = Number(process.env.XDRD_GEN_COUNT ?? 3000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xdrd-gen-diff-'));
const exe = path.join(dir, 'all_diff');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { cwd: dir, input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 120_000 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message} (apt-get install -y rpcsvc-proto libtirpc-dev gcc)`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

beforeAll(() => {
  process.stdout.write(`gen differential: seed ${seed} (XDRD_GEN_SEED=${seed} repeats it), ${count} values each way\n`);
  fs.copyFileSync(path.join(FIXTURES, 'all.x'), path.join(dir, 'all.x'));
  run('rpcgen', ['-h', '-o', 'all.h', 'all.x']);
  run('rpcgen', ['-c', '-o', 'all_xdr.c', 'all.x']);
  run('cc', ['-O1', '-w', '-o', exe, path.join(__dirname, 'all_diff.c'), 'all_xdr.c', `-I${dir}`, '-I/usr/include/tirpc', '-ltirpc']);
});

test('values rpcgen encodes decode in TS to the same values, which TS encodes to the same bytes', () => {
  const lines = run(exe, ['gen', String(seed), String(count)]).trim().split('\n');
  expect(lines).toHaveLength(count);
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const expected = randomValue(all_types, new Rng(seed, i)) as all_types;
    const wire = Buffer.from(lines[i], 'hex');
    bytes += wire.length;
    const decoded = xdr.decode(all_types, wire);
    if (!isDeepEqual(decoded, expected)) expect({ i, decoded }).toEqual({ i, decoded: expected });
    const encoded = xdr.encode(all_types, expected).toString('hex');
    if (encoded !== lines[i]) expect({ i, encoded }).toEqual({ i, encoded: lines[i] });
  }
  process.stdout.write(`gen differential: C -> TS: ${count} values, ${bytes} bytes, all equal\n`);
});

test('values TS encodes decode in rpcgen and encode back to the same bytes', () => {
  const other = (seed + 1) >>> 0;
  const sent = Array.from({ length: count }, (_, i) => xdr.encode(all_types, randomValue(all_types, new Rng(other, i)) as all_types).toString('hex'));
  const back = run(exe, ['echo'], `${sent.join('\n')}\n`).trim().split('\n');
  expect(back).toHaveLength(count);
  for (let i = 0; i < count; i++) if (back[i] !== sent[i]) expect({ i, back: back[i] }).toEqual({ i, back: sent[i] });
  process.stdout.write(`gen differential: TS -> C: ${count} values, ${sent.reduce((n, s) => n + s.length / 2, 0)} bytes, all equal\n`);
});

test('the C side rejects bytes rpcgen cannot decode (the check can fail)', () => {
  const good = xdr.encode(all_types, randomValue(all_types, new Rng(seed, 0)) as all_types).toString('hex');
  expect(run(exe, ['echo'], `${good.slice(0, 16)}\n${good}00000000\n`).trim().split('\n')).toEqual(['ERROR', 'ERROR']);
});

function isDeepEqual(a: unknown, b: unknown): boolean {
  return require('util').isDeepStrictEqual(normalize(a), normalize(b));
}

/** Buffers as plain byte arrays, and union arms without a `value` key when it is undefined. */
function normalize(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return [...v];
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, normalize(x)]));
  }
  return v;
}
