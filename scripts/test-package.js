#!/usr/bin/env node
// `npm run test:package`: packs xdrd the way it is published and uses it the
// way users do, from outside the repo:
//
//   copy      the git files (tracked and new, not ignored) into a temp folder,
//             node_modules symlinked: `npm pack` runs prepack, which runs
//             node-gyp rebuild, and must not wipe the working build/
//   pack      `npm pack` (prepack: prebuildify + split debug info; prepare: tsc);
//             checks what the tarball holds and what it must not
//   install   the tarball into a fresh app with g++/cc/make/python3 not on PATH:
//             nothing compiled, node-gyp-build resolves into prebuilds/,
//             the prebuild is stripped and its .debug file matches
//   cjs       a plain-JS daemon (require) serves real calls over a UNIX socket
//             to a separate client process, then closes and exits on its own
//   esm       the same with `import { Server, Client } from 'xdrd'`
//   types     the shipped .d.ts type-check a consumer (.ts and .mts)
//   cli       node_modules/.bin/xdrd and `npx xdrd`: --version, --help, errors
//   gen       `xdrd gen` writes a module from a .x file; it and a user of it
//             compile against the shipped .d.ts and run
//   source    a tarball without prebuilds, installed with the compiler on
//             PATH, builds from source (node-addon-api is a dependency) and
//             serves the daemon
//   cmake     `npm run prebuildify:cmake` builds the prebuild with cmake-js;
//             loaded by path (XDRD_ADDON) it serves the daemon
//   valgrind  memcheck on the stripped prebuild + its .debug file shows
//             file:line frames inside xdrd (skipped without valgrind, except
//             under XDRD_CI=1)
//
// Each step prints its duration; the first failure stops the run with the
// reason and leaves the temp folder for a look (XDRD_KEEP_TMP=1 keeps it
// after a pass too).
'use strict';
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { elfSections, debuglink } = require('./strip-with-debuginfo');

const root = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const ci = process.env.XDRD_CI === '1';
const platformDir = `${process.platform}-${process.arch}`;
const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'xdrd-package-')));
const src = path.join(tmp, 'src');

class Failure extends Error {}
function check(ok, message) {
  if (!ok) throw new Failure(message);
}

// ---------------------------------------------------------------- processes

// The environment of a user's shell: nothing inherited from the `npm run`
// around us (npm_config_*, npm_lifecycle_*, INIT_CWD would steer the npm
// inside; the node_modules/.bin and node-gyp-bin folders it put on PATH would
// lend the app tools it did not install), and no XDRD_ADDON unless a step
// sets it.
function userEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'INIT_CWD' || k === 'XDRD_ADDON') continue;
    env[k] = v;
  }
  env.PATH = (env.PATH || '').split(path.delimiter)
    .filter((d) => d && !/node_modules[\\/]\.bin$|node-gyp-bin$/.test(d)).join(path.delimiter);
  return Object.assign(env, nodedirEnv, extra);
}

// node-gyp (prebuildify, and the fallback install) needs Node's headers. With
// no `nodedir` in npm's config it downloads them, which a machine that reaches
// only the npm registry cannot: there, use the headers of the running node
// when they are installed.
let nodedirEnv = {};

// Output goes to files, not pipes: spawnSync's pipes are sockets, and
// strip-with-debuginfo.js (run by prebuildify with its output discarded)
// reports through /proc/<prebuildify>/fd/2, which cannot be reopened when it
// is a socket.
let runs = 0;
function run(cmd, args, { cwd, env = userEnv(), timeoutSec = 300 } = {}) {
  const files = ['out', 'err'].map((k) => path.join(tmp, 'logs', `${++runs}-${path.basename(cmd)}.${k}`));
  fs.mkdirSync(path.join(tmp, 'logs'), { recursive: true });
  const fds = files.map((f) => fs.openSync(f, 'w'));
  let r;
  try {
    r = spawnSync(cmd, args, { cwd, env, stdio: ['ignore', ...fds], timeout: timeoutSec * 1000, killSignal: 'SIGKILL' });
  } finally {
    fds.forEach((fd) => fs.closeSync(fd));
  }
  const [stdout, stderr] = files.map((f) => fs.readFileSync(f, 'utf8'));
  return { status: r.status, signal: r.signal, error: r.error, stdout, stderr, text: `${stdout}${stderr}` };
}

function tail(text, lines = 60) {
  const all = text.trimEnd().split('\n');
  return (all.length > lines ? [`[... ${all.length - lines} lines before]`] : []).concat(all.slice(-lines)).join('\n');
}

/** Runs a command that must succeed; its output is shown only when it fails. */
function mustRun(what, cmd, args, opts = {}) {
  const r = run(cmd, args, opts);
  if (r.error && r.error.code === 'ETIMEDOUT') throw new Failure(`${what}: timed out after ${opts.timeoutSec || 300} s\n${tail(r.text)}`);
  if (r.error) throw new Failure(`${what}: cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Failure(`${what} failed (${cmd} ${args.join(' ')} → exit ${r.status ?? r.signal}, in ${opts.cwd || process.cwd()}):\n${tail(r.text)}`);
  }
  return r;
}

// ------------------------------------------------------------------- steps

const rows = [];
async function step(name, fn) {
  console.log(`\n=== test:package: ${name}`);
  const started = Date.now();
  try {
    await fn();
  } catch (e) {
    rows.push({ name, secs: (Date.now() - started) / 1000, status: 'FAIL' });
    table();
    const message = e instanceof Failure ? e.message : (e && e.stack) || String(e);
    console.error(`\ntest:package: FAILED in step "${name}":\n${message}`);
    console.error(`test:package: the temp folder is kept for a look: ${tmp}`);
    process.exit(1);
  }
  const secs = (Date.now() - started) / 1000;
  rows.push({ name, secs, status: 'ok' });
  console.log(`--- ${name}: ok (${secs.toFixed(1)} s)`);
}

function table() {
  console.log('\ntest:package: step durations');
  for (const r of rows) console.log(`  ${r.name.padEnd(12)} ${r.secs.toFixed(1).padStart(7)} s  ${r.status}`);
  console.log(`  ${'total'.padEnd(12)} ${rows.reduce((a, r) => a + r.secs, 0).toFixed(1).padStart(7)} s`);
}

// ------------------------------------------------------------ the fixtures

// The protocol the fixtures speak: procedure 1 upper-cases a string, 2 adds
// two XDR unsigned ints.
const PROGRAM = 0x20406080;
const fixtures = {
  'daemon.js': `'use strict';
// A small daemon on the installed package: serves until SIGTERM, then closes
// and lets the process end by itself (anything left running would hang it).
const { Server, liveCounts } = require('xdrd');

const server = new Server({ workers: 2 });
server.handle(${PROGRAM}, 1, {
  1: (body) => Buffer.from(body.toString('utf8').toUpperCase()),
  2: (body) => {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(body.readUInt32BE(0) + body.readUInt32BE(4));
    return out;
  },
});
server.listen({ path: process.argv[2] }).then(() => {
  const addon = Object.keys(require.cache).filter((f) => f.endsWith('.node'));
  console.log(JSON.stringify({ listening: true, addon }));
  process.once('SIGTERM', async () => {
    const closed = await server.close();
    console.log(JSON.stringify({ closed, live: liveCounts() }));
  });
}, (e) => {
  console.error(e);
  process.exitCode = 1;
});
`,
  'client.js': `'use strict';
const { Client } = require('xdrd');

(async () => {
  const client = await Client.connect({ path: process.argv[2] });
  const upper = await client.call(${PROGRAM}, 1, 1, Buffer.from('hello from a packed xdrd'));
  const args = Buffer.alloc(8);
  args.writeUInt32BE(40, 0);
  args.writeUInt32BE(2, 4);
  const sum = (await client.call(${PROGRAM}, 1, 2, args)).readUInt32BE(0);
  await client.close();
  console.log(JSON.stringify({ upper: upper.toString(), sum }));
})().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
`,
  'daemon.mjs': `// The daemon of daemon.js, as an ES module.
import { createRequire } from 'node:module';
import { Server, liveCounts } from 'xdrd';
import xdrd from 'xdrd';

if (xdrd.Server !== Server) throw new Error('the default import is not the CommonJS exports object');
const server = new Server({ workers: 2 });
server.handle(${PROGRAM}, 1, {
  1: (body) => Buffer.from(body.toString('utf8').toUpperCase()),
  2: (body) => {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(body.readUInt32BE(0) + body.readUInt32BE(4));
    return out;
  },
});
await server.listen({ path: process.argv[2] });
// ES modules load the addon through CommonJS: it is in require.cache.
const addon = Object.keys(createRequire(import.meta.url).cache).filter((f) => f.endsWith('.node'));
console.log(JSON.stringify({ listening: true, addon }));
process.once('SIGTERM', async () => {
  const closed = await server.close();
  console.log(JSON.stringify({ closed, live: liveCounts() }));
});
`,
  'client.mjs': `import { Client } from 'xdrd';

const client = await Client.connect({ path: process.argv[2] });
const upper = await client.call(${PROGRAM}, 1, 1, Buffer.from('hello from a packed xdrd'));
const args = Buffer.alloc(8);
args.writeUInt32BE(40, 0);
args.writeUInt32BE(2, 4);
const sum = (await client.call(${PROGRAM}, 1, 2, args)).readUInt32BE(0);
await client.close();
console.log(JSON.stringify({ upper: upper.toString(), sum }));
`,
  // For valgrind: leaves with a server still listening, so blocks xdrd
  // allocated are still reachable at exit and get stack traces.
  'exit-listening.js': `'use strict';
const { Server, Client } = require('xdrd');

(async () => {
  const server = new Server({ workers: 2 });
  server.handle(${PROGRAM}, 1, { 1: (body) => Buffer.concat([body, body]) });
  await server.listen({ path: process.argv[2] });
  const client = await Client.connect({ path: process.argv[2] });
  const reply = await client.call(${PROGRAM}, 1, 1, Buffer.from('ab'));
  console.log(reply.toString());
  process.exit(reply.toString() === 'abab' ? 0 : 1);
})();
`,
  // The shipped declarations, as a CommonJS and an ESM consumer see them.
  'consumer.ts': `import { Server, Client, RpcError, liveCounts, xdr } from 'xdrd';
import type { CloseResult, LiveCounts } from 'xdrd';

export async function demo(path: string): Promise<[Buffer, CloseResult, LiveCounts, boolean, unknown]> {
  const server = new Server({ workers: 1 }).handle(1, 1, { 1: (body: Buffer) => body });
  await server.listen({ path });
  const client = await Client.connect({ path });
  const reply: Buffer = await client.call(1, 1, 1, Buffer.from('x'));
  await client.close();
  return [reply, await server.close(), liveCounts(), new Error() instanceof RpcError, xdr];
}
`,
  'consumer.mts': `import { Server, Client } from 'xdrd';

const server: Server = new Server();
const connect: (o: { path: string }) => Promise<Client> = (o) => Client.connect(o);
export { server, connect };
`,
  // `xdrd gen` from the installed package: the module it writes imports
  // 'xdrd' and compiles against the shipped .d.ts.
  'list.x': `const MAXNAME = 32;
struct entry { string name<MAXNAME>; entry *next; };
program LIST_PROG { version LIST_V1 { entry LIST_GET(int) = 1; } = 1; } = 0x20000100;
`,
  'use-list.ts': `import { xdr } from 'xdrd';
import type { Handlers } from 'xdrd';
import { LIST_V1, entry } from './list';

const handlers: Handlers<typeof LIST_V1> = { LIST_GET: (n) => ({ name: String(n), next: null }) };
const value: entry = { name: 'a', next: { name: 'b', next: null } };
const back = xdr.decode(entry, xdr.encode(entry, value));
const ok = JSON.stringify(back) === JSON.stringify(value) && LIST_V1.procedures.LIST_GET.id === 1 && typeof handlers.LIST_GET === 'function';
console.log(ok ? 'ok' : 'wrong');
`,
};

function writeFixtures(dir) {
  for (const [name, text] of Object.entries(fixtures)) fs.writeFileSync(path.join(dir, name), text);
}

function newApp(name) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify({
    name: `xdrd-package-test-${name}`, version: '1.0.0', private: true, description: 'npm run test:package',
  }, null, 2)}\n`);
  writeFixtures(dir);
  return dir;
}

function waitForLine(child, stream, pred, timeoutSec, what) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Failure(`${what}: no answer within ${timeoutSec} s; output so far:\n${buf}`)), timeoutSec * 1000);
    const onData = (d) => {
      buf += d;
      for (const line of buf.split('\n').slice(0, -1)) {
        if (pred(line)) {
          clearTimeout(timer);
          stream.off('data', onData);
          resolve(line);
          return;
        }
      }
    };
    stream.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Failure(`${what}: exited early (${code ?? signal}); output:\n${buf}`));
    });
  });
}

let sockets = 0;

/**
 * Starts `daemon` in `cwd`, runs `client` against it, stops the daemon with
 * SIGTERM and checks the answers, the clean exit, and which addon it loaded.
 */
async function serveAndCall({ cwd, env, daemon, client, addon }) {
  const sock = path.join(tmp, `s${++sockets}.sock`);
  const d = spawn(process.execPath, [daemon, sock], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  d.stdout.setEncoding('utf8').on('data', (s) => { out += s; });
  d.stderr.setEncoding('utf8').on('data', (s) => { err += s; });
  const exited = new Promise((resolve) => d.once('exit', (code, signal) => resolve({ code, signal })));
  try {
    const ready = JSON.parse(await waitForLine(d, d.stdout, (l) => l.startsWith('{"listening"'), 30, `${daemon} (listen)`));
    check(JSON.stringify(ready.addon) === JSON.stringify([addon]),
      `${daemon} loaded ${JSON.stringify(ready.addon)}, expected [${addon}]`);

    const c = mustRun(`${client}`, process.execPath, [client, sock], { cwd, env, timeoutSec: 30 });
    check(c.stderr === '', `${client} wrote to stderr:\n${c.stderr}`);
    const got = JSON.parse(c.stdout.trim());
    check(got.upper === 'HELLO FROM A PACKED XDRD' && got.sum === 42, `${client}: wrong answers: ${c.stdout.trim()}`);
    console.log(`${path.basename(daemon)} + ${path.basename(client)}: ${c.stdout.trim()} (addon ${path.relative(tmp, addon)})`);
  } catch (e) {
    d.kill('SIGKILL');
    throw e;
  }

  d.kill('SIGTERM');
  const timer = setTimeout(() => d.kill('SIGKILL'), 30000);
  const { code, signal } = await exited;
  clearTimeout(timer);
  check(code === 0, `${daemon} did not end cleanly after SIGTERM + close() (exit ${code ?? signal}); stdout:\n${out}\nstderr:\n${err}`);
  check(err === '', `${daemon} wrote to stderr:\n${err}`);
  const closed = JSON.parse(out.trim().split('\n').pop());
  check(closed.closed && closed.closed.drained === true, `${daemon}: close() did not drain: ${JSON.stringify(closed)}`);
  check(closed.live && closed.live.threads === 0 && closed.live.clients === 0,
    `${daemon}: native objects left after close(): ${JSON.stringify(closed.live)}`);
  console.log(`${path.basename(daemon)}: closed, drained, 0 threads left, exited 0`);
}

// ------------------------------------------------------------------- checks

function packJson(stdout) {
  // Lifecycle scripts (prepack, prepare) print to the same stdout: the JSON
  // is the array at the end.
  const at = stdout.lastIndexOf('\n[\n');
  const text = at >= 0 ? stdout.slice(at + 1) : stdout;
  try {
    return JSON.parse(text)[0];
  } catch {
    throw new Failure(`cannot read npm pack --json output:\n${tail(stdout)}`);
  }
}

function kb(n) {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(2)} MB` : `${(n / 1024).toFixed(1)} KB`;
}

/** A prebuild: stripped, linked to a .debug file next to it whose CRC matches, which has line tables. */
function checkSplitDebugInfo(file) {
  const { sections } = elfSections(file);
  for (const s of ['.symtab', '.debug_info', '.debug_line']) check(!sections.has(s), `${file} is not stripped: it has ${s}`);
  const link = debuglink(file);
  check(link, `${file} has no .gnu_debuglink`);
  const debugFile = path.join(path.dirname(file), link.name);
  check(fs.existsSync(debugFile), `${file} links to ${link.name}, which is not next to it`);
  const crc = require('zlib').crc32(fs.readFileSync(debugFile));
  check(crc === link.crc, `${debugFile} does not match ${file} (CRC ${crc.toString(16)}, link wants ${link.crc.toString(16)})`);
  const dbg = elfSections(debugFile).sections;
  for (const s of ['.debug_info', '.debug_line', '.symtab']) {
    check(dbg.has(s) && dbg.get(s).size > 0, `${debugFile} has no ${s}`);
  }
  console.log(`${path.relative(tmp, file)}: stripped, ${kb(fs.statSync(file).size)}; ` +
    `${link.name}: ${kb(fs.statSync(debugFile).size)}, CRC matches`);
}

function checkTarball(info, { prebuilds }) {
  const files = info.files.map((f) => f.path);
  const has = (p) => files.includes(p);
  const required = [
    'package.json', 'README.md', 'THREADING.md', 'LICENSE', 'binding.gyp', 'CMakeLists.txt',
    'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/cli/cli.js', 'dist/lib/native.js',
    'native/core/server/server.cc', 'native/addon/addon.cc', 'valgrind/node.supp',
  ];
  if (prebuilds) required.push(`prebuilds/${platformDir}/xdrd.node`, `prebuilds/${platformDir}/xdrd.node.debug`);
  const missing = required.filter((p) => !has(p));
  check(missing.length === 0, `the tarball lacks ${missing.join(', ')}; it has:\n  ${files.join('\n  ')}`);
  // Every source binding.gyp compiles must ship, or the fallback build fails.
  const gyp = JSON.parse(fs.readFileSync(path.join(src, 'binding.gyp'), 'utf8'));
  const sources = gyp.targets.flatMap((t) => t.sources);
  check(sources.every(has), `binding.gyp sources missing from the tarball: ${sources.filter((s) => !has(s)).join(', ')}`);
  const allowed = /^(package\.json|README\.md|THREADING\.md|LICENSE|valgrind\/node\.supp|binding\.gyp|CMakeLists\.txt|dist\/lib\/.+\.(js|d\.ts)|native\/.+\.(cc|h|def)|prebuilds\/[^/]+\/xdrd\.node(\.debug)?)$/;
  const extra = files.filter((p) => !allowed.test(p));
  check(extra.length === 0, `the tarball holds files users do not need: ${extra.join(', ')}`);
  if (!prebuilds) check(!files.some((p) => p.startsWith('prebuilds/')), 'the source-only tarball has prebuilds');
}

// -------------------------------------------------------------------- main

(async () => {
  console.log(`test:package: working in ${tmp}`);
  const nodeModules = path.join(root, 'node_modules');
  const tarballs = path.join(tmp, 'tarballs');
  let prebuiltTgz;
  let sourceTgz;
  let appPrebuilt;
  let noCompilerEnv;

  await step('copy', () => {
    check(fs.existsSync(path.join(nodeModules, 'prebuildify')), 'node_modules is not installed: run `npm ci` first');
    const ls = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root });
    check(ls.status === 0, `git ls-files failed (test:package copies the repo's git files):\n${ls.text}`);
    let n = 0;
    for (const f of ls.stdout.split('\0')) {
      if (!f) continue;
      const from = path.join(root, f);
      if (!fs.existsSync(from) || !fs.statSync(from).isFile()) continue; // deleted in the work tree
      fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
      fs.copyFileSync(from, path.join(src, f)); // keeps the mode: the scripts prebuildify runs stay executable
      n++;
    }
    fs.symlinkSync(nodeModules, path.join(src, 'node_modules'), 'dir');
    fs.mkdirSync(tarballs);
    console.log(`${n} files copied to ${src}; node_modules linked`);

    const nodedir = run('npm', ['config', 'get', 'nodedir'], { cwd: src }).stdout.trim();
    const prefix = path.dirname(path.dirname(process.execPath));
    if ((!nodedir || nodedir === 'undefined' || nodedir === 'null') && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
      nodedirEnv = { npm_config_nodedir: prefix };
      console.log(`npm has no nodedir: node-gyp will use the headers in ${prefix}/include/node`);
    }
  });

  await step('pack', () => {
    const dest = path.join(tarballs, 'prebuilt');
    fs.mkdirSync(dest);
    const r = mustRun('npm pack', 'npm', ['pack', '--json', '--pack-destination', dest], { cwd: src, timeoutSec: 600 });
    for (const line of r.text.split('\n')) if (line.startsWith('strip-with-debuginfo:')) console.log(line);
    const info = packJson(r.stdout);
    prebuiltTgz = path.join(dest, info.filename);
    check(fs.existsSync(prebuiltTgz), `npm pack reported ${info.filename}, which is not in ${dest}`);
    checkTarball(info, { prebuilds: true });
    const debugSize = info.files.find((f) => f.path.endsWith('.node.debug')).size;
    console.log(`${info.filename}: ${kb(info.size)} packed, ${kb(info.unpackedSize)} unpacked, ${info.entryCount} files ` +
      `(${kb(debugSize)} of them the debug info)`);
    for (const f of info.files) console.log(`  ${String(f.size).padStart(8)}  ${f.path}`);
  });

  await step('install', () => {
    // A PATH with node and npm only: no g++, cc, make or python3, so any
    // attempt to compile fails the install.
    const bin = path.join(tmp, 'no-compiler-bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    for (const tool of ['npm', 'npx', 'sh']) {
      const where = run('sh', ['-c', `command -v ${tool}`]).stdout.trim();
      check(where, `${tool} is not on PATH`);
      fs.symlinkSync(fs.realpathSync(where), path.join(bin, tool));
    }
    noCompilerEnv = userEnv({ PATH: bin });
    for (const tool of ['g++', 'c++', 'gcc', 'cc', 'make', 'python3', 'python', 'cmake', 'ninja']) {
      const r = run('/bin/sh', ['-c', `command -v ${tool}`], { env: noCompilerEnv });
      check(r.status !== 0, `${tool} is still reachable on the test PATH (${r.stdout.trim()})`);
    }

    appPrebuilt = newApp('app-prebuilt');
    mustRun('npm install (no compiler)', 'npm',
      ['install', prebuiltTgz, '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts'],
      { cwd: appPrebuilt, env: noCompilerEnv, timeoutSec: 300 });
    const installed = path.join(appPrebuilt, 'node_modules', 'xdrd');
    check(!fs.existsSync(path.join(installed, 'build')), `${installed}/build exists: the install compiled something`);
    const r = mustRun('node-gyp-build path', 'node', ['-p',
      "require('node-gyp-build').path(require('path').dirname(require.resolve('xdrd/package.json')))"],
    { cwd: appPrebuilt, env: noCompilerEnv });
    const resolved = r.stdout.trim();
    check(resolved === path.join(installed, 'prebuilds', platformDir, 'xdrd.node'),
      `node-gyp-build resolves ${resolved}, not the prebuild`);
    console.log(`installed without a compiler; node-gyp-build → ${path.relative(tmp, resolved)}`);
    checkSplitDebugInfo(resolved);
  });

  const prebuild = () => path.join(appPrebuilt, 'node_modules', 'xdrd', 'prebuilds', platformDir, 'xdrd.node');

  await step('cjs', () => serveAndCall({
    cwd: appPrebuilt, env: noCompilerEnv, daemon: 'daemon.js', client: 'client.js', addon: prebuild(),
  }));

  await step('esm', () => serveAndCall({
    cwd: appPrebuilt, env: noCompilerEnv, daemon: 'daemon.mjs', client: 'client.mjs', addon: prebuild(),
  }));

  await step('types', () => {
    const tsc = path.join(nodeModules, 'typescript', 'bin', 'tsc');
    mustRun('tsc on a consumer of the shipped .d.ts', process.execPath, [tsc, '--noEmit', '--strict',
      '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022', '--skipLibCheck', 'false',
      '--typeRoots', path.join(nodeModules, '@types'), '--types', 'node', 'consumer.ts', 'consumer.mts'],
    { cwd: appPrebuilt, timeoutSec: 120 });
    console.log('consumer.ts (CommonJS) and consumer.mts (ESM) type-check against dist/lib/*.d.ts');
  });

  await step('cli', () => {
    const xdrdBin = path.join(appPrebuilt, 'node_modules', '.bin', 'xdrd');
    const cases = [
      { cmd: xdrdBin, args: ['--version'], code: 0, out: `${pkg.version}\n`, err: '' },
      { cmd: 'npx', args: ['xdrd', '--version'], code: 0, out: `${pkg.version}\n`, err: '' },
      { cmd: xdrdBin, args: ['--help'], code: 0, out: /^Usage: xdrd <command>[\s\S]*Commands:\n  help /, err: '' },
      { cmd: xdrdBin, args: ['frobnicate'], code: 2, out: '', err: /unknown command 'frobnicate'[\s\S]*xdrd --help/ },
      { cmd: xdrdBin, args: ['--frobnicate'], code: 2, out: '', err: /unknown option '--frobnicate'/ },
    ];
    for (const c of cases) {
      const r = run(c.cmd, c.args, { cwd: appPrebuilt, env: noCompilerEnv, timeoutSec: 60 });
      const show = `${path.basename(c.cmd)} ${c.args.join(' ')}`;
      const matches = (want, got) => (typeof want === 'string' ? got === want : want.test(got));
      check(r.status === c.code && matches(c.out, r.stdout) && matches(c.err, r.stderr),
        `${show}: exit ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ''}, stdout ${JSON.stringify(r.stdout)}, ` +
        `stderr ${JSON.stringify(r.stderr)}; wanted exit ${c.code}, stdout ${c.out}, stderr ${c.err}`);
      console.log(`${show} → exit ${r.status}: ${(r.stdout || r.stderr).split('\n')[0]}`);
    }
  });

  await step('gen', () => {
    const xdrdBin = path.join(appPrebuilt, 'node_modules', '.bin', 'xdrd');
    mustRun('xdrd gen list.x', xdrdBin, ['gen', 'list.x'], { cwd: appPrebuilt, env: noCompilerEnv, timeoutSec: 60 });
    const tsc = path.join(nodeModules, 'typescript', 'bin', 'tsc');
    mustRun('tsc on the generated module and its user', process.execPath, [tsc, '--strict',
      '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022', '--outDir', 'gen-out',
      '--typeRoots', path.join(nodeModules, '@types'), '--types', 'node', 'list.ts', 'use-list.ts'],
    { cwd: appPrebuilt, timeoutSec: 120 });
    const r = mustRun('node gen-out/use-list.js', process.execPath, ['gen-out/use-list.js'], { cwd: appPrebuilt, env: noCompilerEnv, timeoutSec: 60 });
    check(r.stdout === 'ok\n', `gen-out/use-list.js printed ${JSON.stringify(r.stdout)}, wanted "ok"`);
    console.log('xdrd gen list.x → list.ts compiles against the shipped .d.ts and round-trips a value');
  });

  await step('source', async () => {
    fs.rmSync(path.join(src, 'prebuilds'), { recursive: true, force: true });
    const dest = path.join(tarballs, 'source');
    fs.mkdirSync(dest);
    // --ignore-scripts: no prepack, so no prebuilds (dist/ is there from the first pack).
    const r = mustRun('npm pack --ignore-scripts', 'npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], { cwd: src });
    const info = packJson(r.stdout);
    checkTarball(info, { prebuilds: false });
    sourceTgz = path.join(dest, info.filename);
    console.log(`${info.filename} without prebuilds: ${kb(info.size)} packed, ${info.entryCount} files`);

    const app = newApp('app-source');
    const started = Date.now();
    const inst = mustRun('npm install (source build)', 'npm',
      ['install', sourceTgz, '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts'],
      { cwd: app, timeoutSec: 600 });
    const built = path.join(app, 'node_modules', 'xdrd', 'build', 'Release', 'xdrd.node');
    check(fs.existsSync(built), `the install did not build ${built}:\n${tail(inst.text)}`);
    console.log(`built from source during npm install (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    await serveAndCall({ cwd: app, env: userEnv(), daemon: 'daemon.js', client: 'client.js', addon: built });
  });

  await step('cmake', async () => {
    const r = mustRun('npm run prebuildify:cmake', 'npm', ['run', 'prebuildify:cmake'], { cwd: src, timeoutSec: 600 });
    for (const line of r.text.split('\n')) if (line.startsWith('strip-with-debuginfo:')) console.log(line);
    check(fs.existsSync(path.join(src, 'build', 'CMakeCache.txt')), 'prebuildify:cmake did not build with CMake (no build/CMakeCache.txt)');
    const addon = path.join(src, 'prebuilds', platformDir, 'xdrd.node');
    checkSplitDebugInfo(addon);
    await serveAndCall({
      cwd: appPrebuilt, env: { ...noCompilerEnv, XDRD_ADDON: addon }, daemon: 'daemon.js', client: 'client.js', addon,
    });
  });

  await step('valgrind', () => {
    if (run('sh', ['-c', 'command -v valgrind']).status !== 0) {
      check(!ci, 'valgrind is not installed (XDRD_CI=1 requires it)');
      console.log('valgrind is not installed: skipped');
      return;
    }
    const log = path.join(tmp, 'memcheck.log');
    const r = run('valgrind', ['--tool=memcheck', '--leak-check=full', '--show-leak-kinds=all', '--keep-debuginfo=yes',
      `--log-file=${log}`, process.execPath, 'exit-listening.js', path.join(tmp, 'vg.sock')],
    { cwd: appPrebuilt, timeoutSec: 300 });
    check(r.status === 0 && r.stdout.trim() === 'abab', `valgrind node exit-listening.js: exit ${r.status ?? r.signal}:\n${tail(r.text)}`);
    const text = fs.readFileSync(log, 'utf8');
    const addon = prebuild();
    // Frames in xdrd's own sources, by file:line; with the .debug file in
    // place none of the addon's frames is left as `??? (in …/xdrd.node)`.
    const ours = fs.readdirSync(path.join(appPrebuilt, 'node_modules', 'xdrd', 'native'), { recursive: true })
      .filter((f) => /\.(cc|h)$/.test(f)).map((f) => path.basename(f).replace(/\./g, '\\.'));
    const frame = new RegExp(`^==\\d+==\\s+(at|by) 0x[0-9A-F]+: .* \\((${ours.join('|')}):\\d+\\)$`, 'gm');
    const frames = text.match(frame) || [];
    const unknown = text.split('\n').filter((l) => l.includes(`??? (in ${addon})`));
    check(frames.length > 0, `memcheck shows no file:line frames in xdrd (see ${log})`);
    check(unknown.length === 0, `memcheck shows ${unknown.length} frames in ${addon} without symbols, e.g.\n${unknown.slice(0, 3).join('\n')}`);
    // One example frame per source file, for the log.
    const byFile = new Map();
    for (const l of frames) {
      const file = /\(([^()]+):\d+\)$/.exec(l)[1];
      if (!byFile.has(file)) byFile.set(file, l.replace(/^==\d+==\s+/, ''));
    }
    const sample = [...byFile.values()].slice(0, 5);
    console.log(`memcheck: ${frames.length} frames with file:line in xdrd's sources, 0 unresolved; e.g.\n  ${sample.join('\n  ')}`);
  });

  table();
  if (process.env.XDRD_KEEP_TMP === '1') console.log(`test:package: kept ${tmp}`);
  else fs.rmSync(tmp, { recursive: true, force: true });
  console.log('test:package: all steps passed');
})();
