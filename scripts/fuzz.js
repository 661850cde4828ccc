#!/usr/bin/env node
// The fuzz targets of test/fuzz/ (issue 25): the native libFuzzer targets,
// then the TypeScript ones (fast-check, test/fuzz/ts/, run by jest).
//
//   npm run fuzz [-- target ...]            build, then fuzz each target for
//                                           FUZZ_SECONDS (default 30) over its
//                                           corpus test/fuzz/corpus/<target>/
//   npm run fuzz -- --replay [target ...]   deterministic, for CI: every corpus
//                                           input once, then a fixed-seed run
//                                           (-seed=1, FUZZ_RUNS executions,
//                                           default 20000)
//   npm run fuzz -- --merge [target ...]    minimise each corpus (-merge=1)
//                                           with what fuzzing found
//
// Native targets: framing, xdr, decode_plan. TypeScript targets (after the
// native ones): ts-decode_plan (decode_plan's corpus, and in fuzz mode what
// fuzz_decode_plan found, through the native plan and both TS codecs),
// ts-xdr, ts-client, ts-gen. Fuzzing gives each FUZZ_SECONDS from a fresh
// seed (printed; FUZZ_SEED repeats it); --replay runs their regression
// corpora (test/fuzz/corpus/ts-*/) and a fixed-seed, fixed-count run, as
// npm test does; --merge does not apply to them.
//
// New inputs found while fuzzing go to
// build-native/fuzz/found/<target>/, not into the repository: the kept
// corpus only changes through --merge, on purpose. A crash, leak, sanitizer
// report or timeout exits non-zero with the reproducer's path and the one
// command that replays it. Without clang, fuzzing fails saying what to
// install (a fuzz run that silently did nothing looks like a clean one);
// --replay, a step of test:ci, follows the CI suites' rule instead: skipped
// with what to install, failed under XDRD_CI=1.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { have, missingTool } = require('./steps');

const root = path.join(__dirname, '..');
const buildDir = path.join('build-native', 'fuzz');
const targets = ['framing', 'xdr', 'decode_plan'];
// The TypeScript targets and their jest files.
const tsTargets = {
  'ts-decode_plan': 'test/fuzz/ts/decode-plan.test.ts',
  'ts-xdr': 'test/fuzz/ts/xdr-decode.test.ts',
  'ts-client': 'test/fuzz/ts/client-frames.test.ts',
  'ts-gen': 'test/fuzz/ts/gen-parser.test.ts',
};
const packages = 'clang-14 libclang-rt-14-dev cmake';
const compiler = 'clang++-14';

function die(msg) {
  console.error(`fuzz: ${msg}`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) die(`${cmd}: ${r.error.message}`);
  return r.status === null ? 128 : r.status;
}

function build(mode) {
  if (!have(compiler) || !have('cmake')) {
    // The replay is a step of test:ci and follows its rule: skipped with
    // what to install, failed under XDRD_CI=1. Fuzzing itself always fails.
    if (mode === 'replay') missingTool('fuzz', have('cmake') ? compiler : 'cmake', packages);
    die(`${have('cmake') ? compiler : 'cmake'} not found: install ${packages} (apt-get install -y ${packages})`);
  }
  if (!fs.existsSync(path.join(root, buildDir, 'CMakeCache.txt'))) {
    const gen = have('ninja') ? ['-G', 'Ninja'] : [];
    if (run('cmake', ['-S', 'test/fuzz', '-B', buildDir, ...gen, `-DCMAKE_CXX_COMPILER=${compiler}`,
      '-DCMAKE_BUILD_TYPE=RelWithDebInfo']) !== 0) die('cmake configure failed');
  }
  const jobs = String(Math.max(2, os.cpus().length));
  // A missing libclang-rt-14-dev shows as a link error for -fsanitize=fuzzer.
  if (run('cmake', ['--build', buildDir, '-j', jobs]) !== 0) {
    die(`build failed (libFuzzer comes with libclang-rt-14-dev: apt-get install -y ${packages})`);
  }
}

const binary = (t) => path.join(root, buildDir, `fuzz_${t}`);
const corpus = (t) => path.join(root, 'test', 'fuzz', 'corpus', t);
const rel = (p) => path.relative(process.cwd(), p) || '.';

// The runs' common flags. -timeout: one input taking this long is a hang.
// -rss_limit_mb: the splitter may legitimately hold up to ~2x its input, so
// an input of libFuzzer's default max_len never comes near it.
const common = ['-timeout=10', '-rss_limit_mb=2048', '-print_final_stats=1'];

// Runs one libFuzzer process, echoing its output, and returns its status,
// the artifact it wrote (if any) and its final stats.
function fuzzer(t, args, artifactDir) {
  fs.mkdirSync(artifactDir, { recursive: true });
  const started = Date.now();
  const r = spawnSync(binary(t), [...common, `-artifact_prefix=${artifactDir}${path.sep}`, ...args], {
    cwd: root, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) die(`fuzz_${t}: ${r.error.message}`);
  const out = `${r.stdout}${r.stderr}`;
  const m = /Test unit written to (\S+)/.exec(out);
  const stat = (name) => {
    const s = new RegExp(`stat::${name}:\\s+(\\d+)`).exec(out);
    return s ? Number(s[1]) : null;
  };
  const execs = stat('number_of_executed_units');
  const secs = (Date.now() - started) / 1000;
  return {
    status: r.status === null ? 128 : r.status,
    out,
    artifact: m ? path.resolve(root, m[1]) : null,
    execs,
    // libFuzzer prints 0 for a run under a second; then use the wall clock.
    perSec: stat('average_exec_per_sec') || (execs && secs > 0 ? Math.round(execs / secs) : 0),
    cov: (/cov: (\d+) ft: (\d+)/g.exec(out.split('\n').filter((l) => / cov: /.test(l)).pop() || '') || [])
      .slice(1).join('/'),
  };
}

function report(t, r, what) {
  if (r.status === 0) return true;
  // libFuzzer's own report first: it holds the stack.
  process.stderr.write(r.out.split('\n').slice(-80).join('\n'));
  console.error(`\nfuzz: ${t}: ${what} FAILED (exit ${r.status})`);
  if (r.artifact) {
    console.error(`fuzz: reproducer: ${rel(r.artifact)}`);
    console.error(`fuzz: replay it:  ${rel(binary(t))} ${rel(r.artifact)}`);
  } else {
    console.error(`fuzz: no reproducer was written; rerun: ${rel(binary(t))} ${rel(corpus(t))}`);
  }
  return false;
}

function corpusFiles(t) {
  const dir = corpus(t);
  return fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => path.join(dir, f)) : [];
}

function scratch(t, kind) {
  const dir = path.join(root, buildDir, kind, t);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function fuzz(t, seconds) {
  const found = scratch(t, 'found');
  fs.mkdirSync(corpus(t), { recursive: true });
  // The first corpus directory is where libFuzzer writes: keep the
  // repository's corpus second, read only.
  const r = fuzzer(t, [`-max_total_time=${seconds}`, found, corpus(t)], scratch(t, 'artifacts'));
  console.log(`fuzz: ${t}: ${r.execs} executions in ${seconds} s, ${r.perSec} exec/s, cov/ft ${r.cov}, ` +
    `${fs.readdirSync(found).length} new inputs in ${rel(found)}`);
  return report(t, r, 'fuzzing');
}

function replay(t, runs) {
  const files = corpusFiles(t);
  const artifacts = scratch(t, 'artifacts');
  // Every kept input, once each (a file list runs each input exactly once).
  if (files.length > 0) {
    const r = fuzzer(t, files, artifacts);
    if (r.status !== 0 && !r.artifact) {
      // Inputs given as files are not copied: the failing one is the last run.
      const last = /Running: (\S+)/g;
      let m, name = null;
      while ((m = last.exec(r.out))) name = m[1];
      if (name) r.artifact = path.resolve(root, name);
    }
    if (!report(t, r, `replay of ${files.length} corpus inputs`)) return false;
  }
  // Then a short run from a fixed seed: the same executions every time, so
  // a CI failure reproduces.
  const fresh = fs.mkdtempSync(path.join(os.tmpdir(), `xdrd-fuzz-${t}-`));
  try {
    const r = fuzzer(t, ['-seed=1', `-runs=${runs}`, fresh, corpus(t)], artifacts);
    console.log(`fuzz: ${t}: replayed ${files.length} corpus inputs, then ${r.execs} executions from seed 1 ` +
      `(${r.perSec} exec/s)`);
    return report(t, r, `fixed-seed run (-seed=1 -runs=${runs})`);
  } finally {
    fs.rmSync(fresh, { recursive: true, force: true });
  }
}

function merge(t) {
  const found = scratch(t, 'found');
  const into = fs.mkdtempSync(path.join(os.tmpdir(), `xdrd-merge-${t}-`));
  // -use_counters=0: keep an input for each code edge it alone reaches, not
  // for each hit-count bucket; that keeps every edge with a third of the
  // files, small enough for the repository.
  const r = fuzzer(t, ['-merge=1', '-use_counters=0', into, corpus(t), found], scratch(t, 'artifacts'));
  if (!report(t, r, 'merge')) return false;
  // Keep the named regression inputs (regress-*) whatever merge thinks of
  // their coverage: each is there for a defect once found.
  const keep = corpusFiles(t).filter((f) => path.basename(f).startsWith('regress-'))
    .map((f) => [path.basename(f), fs.readFileSync(f)]);
  fs.rmSync(corpus(t), { recursive: true, force: true });
  fs.mkdirSync(corpus(t), { recursive: true });
  for (const f of fs.readdirSync(into)) fs.copyFileSync(path.join(into, f), path.join(corpus(t), f));
  for (const [name, bytes] of keep) fs.writeFileSync(path.join(corpus(t), name), bytes);
  fs.rmSync(into, { recursive: true, force: true });
  console.log(`fuzz: ${t}: corpus minimised to ${corpusFiles(t).length} inputs`);
  return true;
}

// Runs the chosen TypeScript targets in one jest process (each file gets
// its own FUZZ_SECONDS). In replay mode FUZZ_SECONDS and FUZZ_SEED are
// removed, so the run is the fixed-seed one CI makes.
function runTs(list, mode, seconds) {
  const env = { ...process.env };
  if (mode === 'replay') {
    delete env.FUZZ_SECONDS;
    delete env.FUZZ_SEED;
  } else {
    env.FUZZ_SECONDS = String(seconds);
    // What fuzz_decode_plan found in this run, through the differential harness too.
    env.FUZZ_PLAN_FOUND = path.join(root, buildDir, 'found', 'decode_plan');
  }
  const files = list.map((t) => tsTargets[t]);
  console.log(`\n=== fuzz: ${list.join(', ')} (${mode}, jest${mode === 'replay' ? ', fixed seed' : `, ${seconds} s each`})`);
  const r = spawnSync(process.execPath, [require.resolve('jest/bin/jest'), '--ci', '--runInBand', ...files], {
    cwd: root, env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) die(`jest: ${r.error.message}`);
  const out = `${r.stdout}${r.stderr}`;
  // Per target: its runs, as each property logged them.
  for (const m of out.matchAll(/fuzz ([^:\n]+): (\d+) runs, seed (\d+)([^\n]*)/g)) {
    console.log(`fuzz: ${m[1]}: ${m[2]} runs, seed ${m[3]}${m[4]}`);
  }
  // And the differential harness's count of inputs, found ones included.
  for (const m of out.matchAll(/(decode_plan corpus: [^\n]*)/g)) console.log(`fuzz: ts-decode_plan: ${m[1]}`);
  for (const line of out.split('\n')) if (/^(PASS|FAIL|Tests:|Time:)/.test(line)) console.log(`fuzz: jest: ${line}`);
  if (r.status === 0) return true;
  process.stderr.write(out.split('\n').slice(-120).join('\n'));
  console.error(`\nfuzz: TypeScript targets ${mode === 'replay' ? 'replay' : 'fuzzing'} FAILED (exit ${r.status})`);
  const seed = /\{ seed: (-?\d+), path: "([^"]*)"/.exec(out);
  if (seed && mode !== 'replay') {
    // The cases come from the seed in a fixed order: the same seed and at
    // least the same time reach the failing one again.
    console.error(`fuzz: replay it:  FUZZ_SEED=${seed[1]} FUZZ_SECONDS=${seconds} npx jest --ci --runInBand ${files.join(' ')}`);
  } else {
    console.error(`fuzz: replay it:  npx jest --ci --runInBand ${files.join(' ')}`);
  }
  console.error('fuzz: keep the counterexample as test/fuzz/corpus/ts-<target>/regress-<what> (see the test file for its format)');
  return false;
}

function main() {
  const args = process.argv.slice(2);
  const mode = args.includes('--replay') ? 'replay' : args.includes('--merge') ? 'merge' : 'fuzz';
  const chosen = args.filter((a) => !a.startsWith('--'));
  const all = [...targets, ...Object.keys(tsTargets)];
  for (const t of chosen) if (!all.includes(t)) die(`unknown target ${t} (${all.join(', ')})`);
  const list = chosen.length > 0 ? chosen : all;
  const native = list.filter((t) => targets.includes(t));
  const ts = mode === 'merge' ? [] : list.filter((t) => t in tsTargets);
  if (mode === 'merge' && list.some((t) => t in tsTargets)) console.log('fuzz: --merge is for the native targets; the TypeScript ones keep only regress-* files');

  const seconds = Number(process.env.FUZZ_SECONDS || 30);
  const runs = Number(process.env.FUZZ_RUNS || 20000);
  if (!(seconds > 0)) die(`FUZZ_SECONDS must be a positive number, not ${process.env.FUZZ_SECONDS}`);
  if (!(runs > 0)) die(`FUZZ_RUNS must be a positive number, not ${process.env.FUZZ_RUNS}`);

  let ok = true;
  if (native.length > 0) {
    // A replay without clang skips the native targets (build() says so and
    // exits): run the TypeScript ones first then, as they need no clang.
    if (mode === 'replay' && (!have(compiler) || !have('cmake')) && process.env.XDRD_CI !== '1' && ts.length > 0) {
      if (!runTs(ts, mode, seconds)) die('failed');
    }
    build(mode);
    for (const t of native) {
      console.log(`\n=== fuzz: ${t} (${mode})`);
      if (mode === 'replay') ok = replay(t, runs) && ok;
      else if (mode === 'merge') ok = merge(t) && ok;
      else ok = fuzz(t, seconds) && ok;
    }
  }
  if (ts.length > 0) ok = runTs(ts, mode, seconds) && ok;
  if (!ok) die('failed');
}

main();
