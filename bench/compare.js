#!/usr/bin/env node
'use strict';
/**
 * bench/compare.js — before/after: the servers of an older checkout against
 * this one's, in one session, with interleaved rounds and medians (the
 * machine is shared: only ratios from one run mean anything).
 *
 * Usage: node bench/compare.js --base DIR [--rounds N] [--duration S]
 *          [--only latency,throughput,echo64k,echo1m,getinfo,getinfo1,list]
 *          [--max-requests N]   (xdrd's and the core's maxRequestsPerClient;
 *                                default 16, the headline; 5 is xdrd's default)
 *
 * The typed workloads (getinfo, getinfo1, list: bench/typed-program.js) run
 * xdrd with typed handlers (xdrd-server.js --typed) before and after, and
 * the plain server with xdrd's TypeScript codec (--codec xdr); the core
 * servers have no typed procedures and sit those out.
 *
 * DIR is a checkout of the older commit, built the way this one is:
 *   git worktree add /tmp/base <commit> && cd /tmp/base && ln -s "$PWD_OF_THIS/node_modules" .
 *   npm run build && npx tsc -p tsconfig.build.json
 *   node bench/run.js --quick --no-write --only latency   # builds its build-native/bench
 * Its own JS (dist/lib) and addon (build/Release/xdrd.node, named by
 * XDRD_ADDON) serve "xdrd before"; its core-server serves "core before".
 * This checkout must be built too (npm run build, tsc, and bench/run.js once
 * for build-native/bench).
 */
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

const ROOT = path.resolve(__dirname, '..');
const BENCH_PROGRAM = '0x62656e63';
const typed = require('./typed-program');

const WORKLOADS = {
  latency: { title: 'empty call, 1 × 1', c: 1, d: 1, proc: 1, body: null },
  throughput: { title: 'empty call, 16 × 8', c: 16, d: 8, proc: 1, body: null },
  echo64k: { title: 'echo 64 KiB, 4 × 4', c: 4, d: 4, proc: 2, body: 65536 },
  echo1m: { title: 'echo 1 MiB, 4 × 4', c: 4, d: 4, proc: 2, body: 1048576 },
  getinfo: { title: 'typed GET_INFO-shaped call, 16 × 8', c: 16, d: 8, proc: typed.PROC_GET_INFO, body: null, typed: true, hex: typed.GET_INFO_ARGS_HEX, reply: typed.GET_INFO_REPLY_HEX },
  getinfo1: { title: 'typed GET_INFO-shaped call, 1 × 1', c: 1, d: 1, proc: typed.PROC_GET_INFO, body: null, typed: true, hex: typed.GET_INFO_ARGS_HEX, reply: typed.GET_INFO_REPLY_HEX },
  list: { title: 'typed LIST-shaped call, 16 × 8', c: 16, d: 8, proc: typed.PROC_LIST, body: null, typed: true, hex: '', reply: typed.LIST_REPLY_HEX },
};

function parseArgs(argv) {
  const o = { base: null, rounds: 3, duration: 1.5, only: Object.keys(WORKLOADS), maxRequests: 16 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[++i];
    if (a === '--base') o.base = path.resolve(v);
    else if (a === '--rounds') o.rounds = Number(v);
    else if (a === '--duration') o.duration = Number(v);
    else if (a === '--only') o.only = v.split(',');
    else if (a === '--max-requests') o.maxRequests = Number(v);
    else {
      console.error(`compare: unknown option ${a}\nusage: node bench/compare.js --base DIR [--rounds N] [--duration S] [--only ${Object.keys(WORKLOADS).join(',')}] [--max-requests N]`);
      process.exit(2);
    }
  }
  if (!o.base) {
    console.error('compare: --base DIR is required (a built checkout of the older commit)');
    process.exit(2);
  }
  for (const w of o.only) if (!WORKLOADS[w]) (console.error(`compare: unknown workload ${w}`), process.exit(2));
  if (!(o.rounds >= 1) || !(o.duration > 0)) (console.error('compare: bad --rounds or --duration'), process.exit(2));
  if (!Number.isInteger(o.maxRequests) || o.maxRequests < 1) (console.error('compare: bad --max-requests'), process.exit(2));
  return o;
}

function servers(base, typedWorkload, maxRequests) {
  const node = process.execPath;
  const max = String(maxRequests);
  if (typedWorkload) {
    return {
      'xdrd before': { cmd: node, args: [path.join(base, 'bench', 'xdrd-server.js'), '--max-requests', max, '--typed'], env: { XDRD_ADDON: path.join(base, 'build', 'Release', 'xdrd.node') } },
      'xdrd after': { cmd: node, args: [path.join(ROOT, 'bench', 'xdrd-server.js'), '--max-requests', max, '--typed'], env: {} },
      plain: { cmd: node, args: [path.join(ROOT, 'bench', 'plain-server.js'), '--codec', 'xdr'], env: {} },
    };
  }
  const list = {
    'xdrd before': { cmd: node, args: [path.join(base, 'bench', 'xdrd-server.js'), '--max-requests', max], env: { XDRD_ADDON: path.join(base, 'build', 'Release', 'xdrd.node') } },
    'xdrd after': { cmd: node, args: [path.join(ROOT, 'bench', 'xdrd-server.js'), '--max-requests', max], env: {} },
    'core before': { cmd: path.join(base, 'build-native', 'bench', 'core-server'), args: ['--max-requests', max], env: {} },
    'core after': { cmd: path.join(ROOT, 'build-native', 'bench', 'core-server'), args: ['--max-requests', max], env: {} },
    plain: { cmd: node, args: [path.join(ROOT, 'bench', 'plain-server.js')], env: {} },
  };
  const missing = Object.values(list).flatMap((s) => [s.cmd, ...s.args.slice(0, 1), ...Object.values(s.env)]).filter((f) => f.startsWith('/') && !fs.existsSync(f));
  if (missing.length) {
    console.error(`compare: not built yet:\n  ${missing.join('\n  ')}`);
    process.exit(2);
  }
  return list;
}

async function runOne(server, w, opts) {
  const sock = path.join(os.tmpdir(), `xdrd-compare-${process.pid}.sock`);
  fs.rmSync(sock, { force: true });
  const proc = spawn(server.cmd, [...server.args, '--socket', sock], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...server.env } });
  const lines = readline.createInterface({ input: proc.stdout });
  const ready = await new Promise((resolve, reject) => {
    lines.once('line', (l) => resolve(JSON.parse(l)));
    proc.once('exit', (code) => reject(new Error(`${server.cmd} exited (${code}) before it was ready`)));
  });
  const args = ['--socket', sock, '--prog', BENCH_PROGRAM, '--proc', String(w.proc), '--connections', String(w.c), '--depth', String(w.d),
    '--warmup', '0.3', '--duration', String(opts.duration), '--server-pid', String(ready.pid)];
  if (w.typed) args.push('--body-hex', w.hex, '--check', `hex:${w.reply}`);
  else args.push(...(w.body ? ['--body-bytes', String(w.body), '--check', 'echo'] : ['--check', 'hex:0123456789abcdef']));
  const lg = spawnSync(path.join(ROOT, 'build-native', 'bench', 'loadgen'), args, { encoding: 'utf8' });
  proc.stdin.end();
  await new Promise((resolve) => proc.once('exit', resolve));
  if (lg.status !== 0) throw new Error(`loadgen failed: ${lg.stderr}`);
  return JSON.parse(lg.stdout);
}

const BUCKETS = ['loop', 'workers', 'main', 'rest'];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  servers(opts.base, false, opts.maxRequests);  // checks both checkouts are built
  console.log(`compare: before = ${opts.base}, after = ${ROOT}; ${opts.rounds} interleaved rounds × ${opts.duration} s, medians; maxRequestsPerClient ${opts.maxRequests}`);
  for (const id of opts.only) {
    const w = WORKLOADS[id];
    const list = servers(opts.base, w.typed === true, opts.maxRequests);
    const names = Object.keys(list);
    const got = Object.fromEntries(names.map((n) => [n, []]));
    for (let r = 0; r < opts.rounds; r++) {
      const order = names.slice(r % names.length).concat(names.slice(0, r % names.length));
      for (const n of order) got[n].push(await runOne(list[n], w, opts));
    }
    const key = w.body ? 'mb_per_s' : 'calls_per_s';
    const row = Object.fromEntries(names.map((n) => [n, { rate: median(got[n].map((x) => x[key])), p50: median(got[n].map((x) => x.p50_us)), cpu: median(got[n].map((x) => x.server_cpu_us_per_call)) }]));
    console.log(`\n${w.title} (${w.body ? 'MB/s' : 'calls/s'}, p50 µs, server CPU µs/call)`);
    for (const n of names) console.log(`  ${n.padEnd(12)} ${row[n].rate.toFixed(1).padStart(12)} ${row[n].p50.toFixed(1).padStart(10)} ${row[n].cpu.toFixed(2).padStart(10)}`);
    // Per-thread CPU µs per call (DESIGN.md §8), medians per bucket; "main"
    // is the JS thread of a Node server.
    console.log(`  per thread, µs/call: ${BUCKETS.map((b) => b.padStart(8)).join('')}`);
    for (const n of names) {
      const t = BUCKETS.map((b) => median(got[n].map((x) => x.server_threads_us_per_call[b])));
      console.log(`    ${n.padEnd(18)}${t.map((v) => v.toFixed(2).padStart(8)).join('')}`);
    }
    for (const [a, b] of [['xdrd after', 'xdrd before'], ['core after', 'core before'], ['xdrd before', 'plain'], ['xdrd after', 'plain'], ['core after', 'plain']]) {
      if (!(a in row) || !(b in row)) continue;
      const x = row[a], y = row[b];
      // Paired: the median of the per-round ratios. The two servers of a
      // round ran seconds apart, so a slow spell of the machine
      // that spans rounds cancels out of each pair.
      const paired = median(got[a].map((r, i) => r[key] / got[b][i][key]));
      console.log(`  ${`${a} / ${b}`.padEnd(26)} rate ${(x.rate / y.rate).toFixed(2)}  p50 ${(x.p50 / y.p50).toFixed(2)}  cpu/call ${(x.cpu / y.cpu).toFixed(2)}  paired rate ${paired.toFixed(2)}`);
    }
  }
}

main().catch((e) => {
  console.error(`compare: ${e.message}`);
  process.exit(1);
});
