#!/usr/bin/env node
'use strict';
/**
 * bench/flat-results.js — issue 20's result-encoding decision, measured:
 * what the JS thread pays per GET_INFO-shaped result (bench/typed-program.js)
 *
 *   encode  the compiled encoder writing the result into an answer arena
 *           (what the server does: bridge.ts answerValue);
 *   flat    the same result checked and written as flat doubles, the JS half
 *           of encoding natively "from flat data written by JS" (DESIGN.md
 *           §3 step 4), before any native work.
 *
 * If `flat` alone costs as much as `encode`, native result encoding cannot
 * take work off the JS thread. Prints ns per result (median of interleaved
 * rounds) and flat / encode. Uses ../dist/lib. `node bench/flat-results.js`
 */
const path = require('path');

const dist = path.join(__dirname, '..', 'dist', 'lib');
const { xdr } = require(dist);
const { compiledEncoder } = require(path.join(dist, 'xdr', 'codec'));
const { XdrWriter } = require(path.join(dist, 'xdr', 'writer'));
const typed = require('./typed-program');

const { info } = typed.schemas(xdr);
const encoder = compiledEncoder(info);
const value = typed.infoOf(typed.GET_INFO_ID);
const OPTIONS = { name: 'result' };
const N = 1_000_000;
const ROUNDS = 7;

const arena = new XdrWriter(64 * 1024);
function encode() {
  arena.reset();
  for (let i = 0; i < N; i++) {
    if (arena.length > 60000) arena.reset();
    encoder.writeTo(value, arena, OPTIONS);
  }
}

// The same checks the encoder makes (types and ranges), then the fields as
// doubles: an unsigned hyper as its two 32-bit halves.
const flatArea = new Float64Array(64 * 1024);
let at = 0;
const U64_MAX = 0xffffffffffffffffn;
function hyperHalves(b) {
  if (typeof b !== 'bigint' || b < 0n || b > U64_MAX) throw new TypeError('not an unsigned hyper');
  flatArea[at++] = Number(b >> 32n);
  flatArea[at++] = Number(b & 0xffffffffn);
}
function small(n, max) {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > max) throw new TypeError('out of range');
  flatArea[at++] = n;
}
function flat() {
  at = 0;
  for (let i = 0; i < N; i++) {
    if (at > 60000) at = 0;
    small(value.state, 255);
    hyperHalves(value.maxMem);
    hyperHalves(value.memory);
    small(value.nrVirtCpu, 65535);
    hyperHalves(value.cpuTime);
  }
}

const runs = { encode, flat };
const ns = { encode: [], flat: [] };
for (const f of Object.values(runs)) f(); // warm-up: both optimized
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 ? ['flat', 'encode'] : ['encode', 'flat'];
  for (const name of order) {
    const t0 = process.hrtime.bigint();
    runs[name]();
    ns[name].push(Number(process.hrtime.bigint() - t0) / N);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const e = median(ns.encode);
const f = median(ns.flat);
console.log(`GET_INFO-shaped result, ns per result (median of ${ROUNDS} interleaved rounds of ${N}):`);
console.log(`  compiled encode into the answer arena  ${e.toFixed(1)}`);
console.log(`  checked and written as flat doubles     ${f.toFixed(1)}`);
console.log(`  flat / encode                           ${(f / e).toFixed(2)}`);
