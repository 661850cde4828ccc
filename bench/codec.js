#!/usr/bin/env node
'use strict';
/**
 * bench/codec.js — micro-benchmark of the XDR codecs: the reference
 * (interpreted) codec against the compiled one, encode and decode, on the
 * shapes a libvirt daemon handles most:
 *
 *   args  GET_INFO-shaped arguments { name: string<64>, uuid: opaque[16], id: int }
 *   info  GET_INFO-shaped result { state: unsigned char, maxMem, memory: unsigned hyper,
 *         nrVirtCpu: unsigned short, cpuTime: unsigned hyper }
 *   list  a list-shaped result: array<100> of the args struct, 100 elements,
 *         names of 8-16 ASCII characters
 *
 * Usage: node bench/codec.js [--rounds N] [--ms M] [--only args,info,list]
 *
 * Uses ../dist/lib (npx tsc -p tsconfig.build.json). Each (shape, op, codec)
 * runs M ms per round (after a warm-up round); rounds interleave the two
 * codecs, alternating which goes first. It prints ops/s (median of rounds)
 * and the ratio compiled / interpreted (median of the per-round ratios),
 * measured in this run: the machine is shared, absolute figures from
 * different runs do not compare (DESIGN.md §8). It asserts no times. It
 * runs itself under --expose-gc and collects the heap before each case.
 */
const { xdr } = require('../dist/lib');
const codec = require('../dist/lib/xdr/codec');

function parseArgs(argv) {
  const o = { rounds: 7, ms: 300, only: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[++i];
    if (a === '--rounds') o.rounds = Number(v);
    else if (a === '--ms') o.ms = Number(v);
    else if (a === '--only') o.only = String(v).split(',');
    else {
      console.error(`codec: unknown option ${a}\nusage: node bench/codec.js [--rounds N] [--ms M] [--only args,info,list]`);
      process.exit(2);
    }
  }
  if (!(o.rounds >= 1) || !(o.ms > 0)) (console.error('codec: bad --rounds or --ms'), process.exit(2));
  for (const name of o.only ?? []) if (!SHAPES.some((s) => s.name === name)) (console.error(`codec: unknown shape ${name}`), process.exit(2));
  return o;
}

// --- shapes and values --------------------------------------------------------

const Args = xdr.struct({ name: xdr.string(64), uuid: xdr.fixedOpaque(16), id: xdr.int() });
const Info = xdr.struct({ state: xdr.uchar(), maxMem: xdr.uhyper(), memory: xdr.uhyper(), nrVirtCpu: xdr.ushort(), cpuTime: xdr.uhyper() });
const List = xdr.array(Args, 100);

// A fixed pseudo-random sequence: the same values every run.
let seed = 0x2545f491;
const rand = (n) => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
};
const name = () => Array.from({ length: 8 + rand(9) }, () => 'abcdefghijklmnopqrstuvwxyz0123456789-_'[rand(38)]).join('');
const uuid = () => Buffer.from(Array.from({ length: 16 }, () => rand(256)));
const args = () => ({ name: name(), uuid: uuid(), id: rand(1000) });
const info = () => ({
  state: 1 + rand(7),
  maxMem: BigInt(1 << 20) * BigInt(1 + rand(64)),
  memory: BigInt(1 << 20) * BigInt(1 + rand(64)),
  nrVirtCpu: 1 + rand(16),
  cpuTime: BigInt(rand(1e9)) * 1000n + BigInt(rand(1000)),
});

/** A few values per shape, cycled, so no codec sees one value only. */
const SHAPES = [
  { name: 'args', schema: Args, values: Array.from({ length: 16 }, args) },
  { name: 'info', schema: Info, values: Array.from({ length: 16 }, info) },
  { name: 'list', schema: List, values: Array.from({ length: 4 }, () => Array.from({ length: 100 }, args)) },
];

const CODECS = {
  interpreted: { encode: codec.encodeInterpreted, decode: codec.decodeInterpreted },
  compiled: { encode: xdr.encode, decode: xdr.decode },
};

// --- measuring ----------------------------------------------------------------

/** ops/s of `op` over `inputs` (cycled; their number is a power of 2) for about `ms` milliseconds. */
function measure(op, schema, inputs, ms) {
  // Each case starts from a collected heap, so that none pays for the
  // garbage of the case before it.
  gc();
  const mask = inputs.length - 1;
  let ops = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  const stop = start + BigInt(Math.round(ms * 1e6));
  let now = start;
  while (now < stop) {
    // Batches of 64 keep the clock out of the measurement.
    for (let i = 0; i < 64; i++) {
      const out = op(schema, inputs[(ops + i) & mask]);
      sink += out.length === undefined ? 1 : out.length;
    }
    ops += 64;
    now = process.hrtime.bigint();
  }
  if (sink < 0) console.log(sink); // keeps the results alive
  return ops / (Number(now - start) / 1e9);
}

/**
 * A separate copy of `measure` per case: one shared copy would see every
 * codec at its call site, and V8 would inline none of them.
 */
const copies = new Map();
function measureCase(key) {
  let m = copies.get(key);
  if (m === undefined) {
    m = new Function(`return ${measure.toString()}`)();
    copies.set(key, m);
  }
  return m;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function main() {
  if (typeof globalThis.gc !== 'function') {
    // Run again with gc() exposed (see measure).
    const r = require('child_process').spawnSync(process.execPath, ['--expose-gc', __filename, ...process.argv.slice(2)], { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
  const o = parseArgs(process.argv.slice(2));
  const shapes = SHAPES.filter((s) => o.only === null || o.only.includes(s.name));
  // Inputs: the values to encode and their encodings to decode. Both codecs
  // must agree on them before anything is timed.
  for (const shape of shapes) {
    shape.bytes = shape.values.map((v) => codec.encodeInterpreted(shape.schema, v));
    shape.bytes.forEach((b, i) => {
      if (!xdr.encode(shape.schema, shape.values[i]).equals(b)) throw new Error(`${shape.name}: the codecs encode differently`);
    });
  }
  const results = new Map(); // "shape op codec" -> ops/s per round
  const ratios = new Map(); // "shape op" -> compiled/interpreted per round
  for (let round = -1; round < o.rounds; round++) {
    const warm = round < 0;
    for (const shape of shapes) {
      for (const op of ['encode', 'decode']) {
        const inputs = op === 'encode' ? shape.values : shape.bytes;
        const order = round % 2 === 0 ? ['interpreted', 'compiled'] : ['compiled', 'interpreted'];
        const got = {};
        for (const c of order) got[c] = measureCase(`${shape.name} ${op} ${c}`)(CODECS[c][op], shape.schema, inputs, warm ? o.ms / 2 : o.ms);
        if (warm) continue;
        for (const c of order) {
          const k = `${shape.name} ${op} ${c}`;
          results.set(k, [...(results.get(k) ?? []), got[c]]);
        }
        const k = `${shape.name} ${op}`;
        ratios.set(k, [...(ratios.get(k) ?? []), got.compiled / got.interpreted]);
      }
    }
  }
  const fmt = (x) => Math.round(x).toLocaleString('en-US');
  console.log(`XDR codec micro-benchmark: ${o.rounds} rounds of ${o.ms} ms per case, medians; Node ${process.version}`);
  console.log('');
  console.log('| shape | op | interpreted ops/s | compiled ops/s | compiled / interpreted | ratio range |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const shape of shapes) {
    for (const op of ['encode', 'decode']) {
      const r = ratios.get(`${shape.name} ${op}`);
      console.log(
        `| ${shape.name} | ${op} | ${fmt(median(results.get(`${shape.name} ${op} interpreted`)))} | ${fmt(median(results.get(`${shape.name} ${op} compiled`)))} ` +
          `| ${median(r).toFixed(2)} | ${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)} |`,
      );
    }
  }
}

main();
