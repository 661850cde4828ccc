#!/usr/bin/env node
// The Node bridge under the tools: the addon built for the tool (cmake-js,
// into build-native/addon-<variant>/), loaded through XDRD_ADDON by node
// running the scenarios in test/fixtures/.
//
//   node scripts/node-tools.js memcheck|helgrind|drd|asan [scenario ...]
//
// memcheck runs every scenario; helgrind and DRD the load and a teardown
// (main JS thread only: worker_threads bring V8 noise and minutes, and each
// run costs about a minute, TOOLCHAIN §4.2);
// ASan+UBSan every scenario, with the runtime preloaded into node.
// Under XDRD_CI=1 a missing tool is a failure.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { have, missingTool } = require('./steps');

const root = path.join(__dirname, '..');
const fixtures = path.join(root, 'test', 'fixtures');
const supp = path.join(root, 'valgrind', 'node.supp');

// Each scenario: node flags, the fixture, whether it takes a temp dir or a
// socket path, its expected exit code, whether helgrind and DRD run it, and
// whether it ends through process.exit() — which leaves V8's heap
// allocated by design, so LSan's leak report there is about V8, not us
// (memory errors are still checked).
const scenarios = {
  'bridge-load': { args: [], script: 'bridge-load.js', arg: 'dir', threadTools: true },
  'api-load': { args: [], script: 'api-load.js', arg: 'dir', threadTools: true },
  // The stress driver (`xdrd stress`, lib/cli/stress/) at a small scale: every
  // scenario in one process, 3 rounds. Run only when named (npm run
  // stress:valgrind / stress:helgrind / stress:asan), not with the fixtures.
  // The RSS rule needs 5 rounds and means little under valgrind; the other
  // invariants all hold there.
  stress: {
    args: ['--expose-gc', '--max-semi-space-size=1'],
    command: ['dist/lib/cli/cli.js', 'stress', '--scale', '0.05', '--rounds', '3', '--seconds', '1500'],
    env: { XDRD_STRESS_NO_REEXEC: '1' },
    explicitOnly: true,
    threadTools: true,
  },
  // The libvirt example as the stress driver's user module (issue 24), the
  // same scale: its model, sessions and events under the same abuse.
  'stress-libvirt': {
    args: ['--expose-gc', '--max-semi-space-size=1'],
    command: ['dist/lib/cli/cli.js', 'stress', 'dist/examples/libvirt/stress.js', '--scale', '0.05', '--rounds', '3', '--seconds', '1500'],
    env: { XDRD_STRESS_NO_REEXEC: '1' },
    explicitOnly: true,
  },
  'exit-held': { args: [], script: 'exit-in-flight.js', arg: 'sock', extra: ['held'], exitCode: 3, viaExit: true },
  'exit-queued': { args: [], script: 'exit-in-flight.js', arg: 'sock', extra: ['queued'], exitCode: 3, viaExit: true, threadTools: true },
  'gc-listening': { args: ['--expose-gc'], script: 'gc-listening.js', arg: 'sock', viaExit: true },
  'worker-serve': { args: [], script: 'worker-serve.js', arg: 'dir' },
  // 5,000 idle clients while the JS thread uses every API path that once
  // took a lock; the addon's lock checker (on in every build here: Debug)
  // aborts if the JS thread takes the server or a client lock while the
  // loop runs. ASan only: under valgrind 5,000 clients take minutes, and
  // the checker does not need valgrind.
  'many-clients': { args: [], script: 'many-clients.js', arg: 'dir', onlyUnder: ['asan'] },
};

const tools = {
  memcheck: {
    variant: 'debug',
    prefix: ['valgrind', '--tool=memcheck', '--leak-check=full', '--show-leak-kinds=definite',
      '--errors-for-leak-kinds=definite', '--keep-debuginfo=yes', `--suppressions=${supp}`,
      '--error-exitcode=99'],
    all: true,
  },
  // node --single-threaded: V8 runs without its platform worker threads, so
  // the race detectors watch our threads and the JS thread, not V8's GC
  // helpers (minutes faster, and their noise gone).
  helgrind: {
    variant: 'debug',
    prefix: ['valgrind', '--tool=helgrind', '--keep-debuginfo=yes', `--suppressions=${supp}`, '--error-exitcode=98'],
    nodeArgs: ['--single-threaded'],
    all: false,
  },
  drd: {
    variant: 'debug',
    prefix: ['valgrind', '--tool=drd', '--check-stack-var=yes', '--keep-debuginfo=yes', `--suppressions=${supp}`,
      '--error-exitcode=98'],
    nodeArgs: ['--single-threaded'],
    all: false,
  },
  asan: { variant: 'asan', prefix: [], all: true },
};

function die(msg) {
  console.error(`node-tools: ${msg}`);
  process.exit(1);
}

function buildAddon(variant) {
  const out = path.join('build-native', `addon-${variant}`);
  const cli = path.join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
  // Debug in every variant: the build type that turns on the lock checker
  // (XDRD_LOCK_CHECKS, CMakeLists.txt), for ASan as much as for valgrind.
  const args = [cli, 'compile', '-O', out, '--debug'];
  if (variant === 'asan') args.push('--CDXDRD_SANITIZE=address');
  // Test-only builds with a deliberate bug (scripts/tools-bite.js).
  if (variant.startsWith('plant-')) args.push(`--CDXDRD_PLANT=${variant.slice('plant-'.length)}`);
  else args.push('--CDXDRD_PLANT=');
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) die(`cmake-js build of the ${variant} addon failed`);
  const file = path.join(root, out, 'Debug', 'xdrd.node');
  if (!fs.existsSync(file)) die(`${file} was not built`);
  return file;
}

function buildTs() {
  const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) die('tsc failed');
}

function main() {
  const [toolName, ...only] = process.argv.slice(2);
  const tool = tools[toolName];
  if (!tool) die(`usage: node-tools.js ${Object.keys(tools).join('|')} [scenario ...]`);
  if (tool.prefix[0] === 'valgrind' && !have('valgrind')) missingTool('node-tools', 'valgrind', 'valgrind libc6-dbg');
  const addon = buildAddon(tool.variant);
  buildTs();

  const env = { ...process.env, XDRD_ADDON: addon };
  if (tool.prefix.length) {
    // Valgrind runs everything 20-100x slower: a smaller load still crosses
    // every path (sync, async, throwing handlers; close mid-wave).
    env.XDRD_LOAD_CLIENTS = '4';
    env.XDRD_LOAD_CALLS = '50';
  }
  if (toolName === 'asan') {
    const lib = spawnSync('g++', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim();
    env.LD_PRELOAD = lib;
    env.ASAN_OPTIONS = 'detect_leaks=1';
    env.UBSAN_OPTIONS = 'print_stacktrace=1 halt_on_error=1';
  }
  const names = only.length
    ? only
    : Object.keys(scenarios).filter((n) => {
      const s = scenarios[n];
      if (s.explicitOnly || (s.onlyUnder && !s.onlyUnder.includes(toolName))) return false;
      return tool.all || s.threadTools;
    });
  const failures = [];
  for (const name of names) {
    const s = scenarios[name];
    if (!s) die(`unknown scenario ${name} (${Object.keys(scenarios).join(', ')})`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `xdrd-${toolName}-`));
    const target = s.arg === 'dir' ? dir : path.join(dir, 'sock');
    const program = s.command ? [path.join(root, s.command[0]), ...s.command.slice(1)] : [path.join(fixtures, s.script), target, ...(s.extra || [])];
    const cmd = [...tool.prefix, process.execPath, ...(tool.nodeArgs || []), ...s.args, ...program];
    console.log(`\n--- ${toolName}: ${name}`);
    const started = Date.now();
    let runEnv = toolName === 'asan' && s.viaExit ? { ...env, ASAN_OPTIONS: 'detect_leaks=0' } : env;
    if (s.env) runEnv = { ...runEnv, ...s.env };
    if (tool.prefix[0] === 'valgrind') runEnv = { ...runEnv, XDRD_UNDER_VALGRIND: '1' };
    const r = spawnSync(cmd[0], cmd.slice(1), { cwd: root, env: runEnv, stdio: 'inherit' });
    fs.rmSync(dir, { recursive: true, force: true });
    const want = s.exitCode ?? 0;
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    if (r.status !== want) {
      failures.push(`${name}: exit ${r.status === null ? r.signal : r.status}, expected ${want}`);
      console.log(`--- ${toolName}: ${name} FAILED after ${secs} s`);
    } else {
      console.log(`--- ${toolName}: ${name} ok (${secs} s)`);
    }
  }
  if (failures.length) die(`failed under ${toolName}:\n  ${failures.join('\n  ')}`);
}

if (require.main === module) main();

module.exports = { tools, scenarios, fixtures, buildAddon, buildTs };
