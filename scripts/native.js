#!/usr/bin/env node
// Builds native/core and its tests in build-native/<variant>/ and runs them.
//
//   node scripts/native.js test debug|tsan|asan      ctest on that variant (the
//                                                    debug variant runs the
//                                                    server tests again on poll())
//   node scripts/native.js valgrind helgrind|drd|memcheck [test ...]
//                                                    each ctest binary of the
//                                                    debug variant under valgrind
//
// Under XDRD_CI=1 a missing tool is a failure; otherwise the suite is skipped
// with a message saying what to install.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { have, missingTool } = require('./steps');

const root = path.join(__dirname, '..');

const variants = {
  debug: ['-DCMAKE_BUILD_TYPE=Debug'],
  tsan: ['-DCMAKE_BUILD_TYPE=RelWithDebInfo', '-DXDRD_SANITIZE=thread'],
  asan: ['-DCMAKE_BUILD_TYPE=RelWithDebInfo', '-DXDRD_SANITIZE=address'],
};

// Children forked by a test (the lock-checker tests abort in them on purpose)
// are not reported: only the test process itself is judged.
const valgrindCommon = ['--child-silent-after-fork=yes'];
const valgrindFlags = {
  memcheck: ['--tool=memcheck', '--leak-check=full', '--show-leak-kinds=definite',
    '--errors-for-leak-kinds=definite', '--error-exitcode=99'],
  helgrind: ['--tool=helgrind', '--error-exitcode=98'],
  // Without --check-stack-var drd misses races on stack variables (TOOLCHAIN §4.2).
  drd: ['--tool=drd', '--check-stack-var=yes', '--error-exitcode=98'],
};

function die(msg) {
  console.error(`native: ${msg}`);
  process.exit(1);
}

const missing = (tool, pkg) => missingTool('native', tool, pkg);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) die(`${cmd}: ${r.error.message}`);
  return r.status === null ? 128 : r.status;
}

function build(variant) {
  if (!variants[variant]) die(`unknown variant ${variant} (debug, tsan, asan)`);
  if (!have('cmake')) missing('cmake', 'cmake');
  if (!have('g++') && !have('c++')) missing('a C++ compiler', 'g++');
  const dir = path.join('build-native', variant);
  if (!fs.existsSync(path.join(root, dir, 'CMakeCache.txt'))) {
    const gen = have('ninja') ? ['-G', 'Ninja'] : [];
    if (run('cmake', ['-S', '.', '-B', dir, ...gen, ...variants[variant]]) !== 0) die('cmake configure failed');
  }
  const jobs = String(Math.max(2, require('os').cpus().length));
  if (run('cmake', ['--build', dir, '-j', jobs]) !== 0) die(`build of ${variant} failed`);
  return dir;
}

// The environment of a run on the default event backend: an
// XDRD_EVENT_BACKEND in the caller's environment would override it.
function defaultBackendEnv() {
  const env = { ...process.env };
  delete env.XDRD_EVENT_BACKEND;
  return env;
}

function sanitizerEnv() {
  return {
    ...defaultBackendEnv(),
    TSAN_OPTIONS: `halt_on_error=1 second_deadlock_stack=1 ${process.env.TSAN_OPTIONS || ''}`.trim(),
    ASAN_OPTIONS: `detect_leaks=1 strict_string_checks=1 ${process.env.ASAN_OPTIONS || ''}`.trim(),
    UBSAN_OPTIONS: `print_stacktrace=1 halt_on_error=1 ${process.env.UBSAN_OPTIONS || ''}`.trim(),
  };
}

function ctestCommands(dir) {
  const r = spawnSync('ctest', ['--test-dir', dir, '--show-only=json-v1'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) die(`ctest --show-only failed: ${r.stderr}`);
  return JSON.parse(r.stdout).tests.map((t) => {
    const labels = (t.properties || []).find((p) => p.name === 'LABELS');
    return { name: t.name, command: t.command, labels: labels ? labels.value : [] };
  });
}

function testMode(variant) {
  const dir = build(variant);
  const status = run('ctest', ['--test-dir', dir, '--output-on-failure', '-j', '2'], { env: sanitizerEnv() });
  if (status !== 0) die(`ctest (${variant}) failed`);
  if (variant === 'debug') {
    // The servers again, on the reference backend (a few seconds; the
    // sanitizer and valgrind runs use the default backend only).
    console.log('\nnative: the server tests again with XDRD_EVENT_BACKEND=poll');
    const again = run('ctest', ['--test-dir', dir, '--output-on-failure', '-j', '2', '-L', 'server'],
      { env: { ...sanitizerEnv(), XDRD_EVENT_BACKEND: 'poll' } });
    if (again !== 0) die(`ctest (${variant}, XDRD_EVENT_BACKEND=poll) failed`);
  }
}

function valgrindMode(tool, only) {
  if (!valgrindFlags[tool]) die(`unknown valgrind tool ${tool} (memcheck, helgrind, drd)`);
  if (!have('valgrind')) missing('valgrind', 'valgrind');
  const dir = build('debug');
  let tests = ctestCommands(dir);
  // The race detectors only have something to find where there are threads.
  if (tool !== 'memcheck') tests = tests.filter((t) => t.labels.includes('concurrent'));
  if (only.length) {
    // Names are ctest's (`clients`, not `test_clients`); a name that matches
    // nothing would otherwise pass with nothing run.
    const known = new Set(tests.map((t) => t.name));
    const unknown = only.filter((n) => !known.has(n));
    if (unknown.length)
      die(`no ${tool} test named ${unknown.join(', ')}; the names are: ${[...known].join(', ')}`);
    tests = tests.filter((t) => only.includes(t.name));
  }
  const results = [];
  for (const t of tests) {
    const started = Date.now();
    const r = spawnSync('valgrind', [...valgrindCommon, ...valgrindFlags[tool], ...t.command], {
      cwd: root, encoding: 'utf8', env: { ...defaultBackendEnv(), XDRD_UNDER_VALGRIND: '1', XDRD_VALGRIND_TOOL: tool },
      maxBuffer: 256 * 1024 * 1024,
    });
    const out = `${r.stdout || ''}${r.stderr || ''}`;
    const summary = (out.match(/ERROR SUMMARY: .*/g) || ['(no summary)']).pop();
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    results.push({ name: t.name, status: r.status, summary, secs });
    if (r.status !== 0) process.stderr.write(out);
  }
  console.log(`\nvalgrind --tool=${tool}:`);
  for (const r of results) console.log(`  ${r.name.padEnd(18)} exit ${String(r.status).padEnd(4)} ${r.secs.padStart(6)} s  ${r.summary}`);
  if (results.some((r) => r.status !== 0)) die(`${tool} reported errors`);
}

const [mode, what, ...rest] = process.argv.slice(2);
if (mode === 'test') testMode(what || 'debug');
else if (mode === 'valgrind') valgrindMode(what, rest);
else die('usage: native.js test <debug|tsan|asan> | valgrind <memcheck|helgrind|drd> [test...]');
