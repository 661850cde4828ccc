#!/usr/bin/env node
'use strict';
/**
 * bench/run.js — `npm run bench`: xdrd against the alternatives, as ratios
 * from one run. A script, not a test: the machine is shared and noisy, so
 * absolute numbers mean little; what is compared is measured side by side,
 * in interleaved rounds, and the median of the rounds is reported.
 *
 * What runs
 *   1. builds bench/ (loadgen, core-server, c-server) with CMake into
 *      build-native/bench/ (Release, -O2; incremental after the first time)
 *   2. for each round, each workload, each server (the server order rotates
 *      from round to round so no server always goes first):
 *      starts the server as its own process on its own UNIX socket, waits
 *      for its ready line, runs bench/loadgen against it (warm-up, then the
 *      measured window), reads the server's counters, stops the server
 *   3. prints a table per workload and writes the same to bench/RESULTS.md
 *      (not in --quick mode), keeping that file's "## First observations"
 *      section, which is written by hand.
 *
 * Servers: bench/xdrd-server.js (xdrd, JS handlers, through dist/lib),
 * bench/plain-server.js (a plain Node `net` server), build-native/bench/
 * core-server (xdrd's core alone, C++ handlers), build-native/bench/c-server
 * (one thread, epoll, no framework: the limit proxy for issue 7's "core
 * within 2× of a single-threaded C server"). Server CPU is all threads,
 * user + system, over the measured window only (loadgen reads
 * /proc/<pid>/stat at the window's edges).
 *
 * The typed workloads (issue 20: getinfo and list at 16 × 8, getinfo1 and
 * list1 at 1 × 1) run libvirt-shaped calls (bench/typed-program.js) on
 * four servers only: xdrd with typed handlers, xdrd with raw handlers and
 * hand-written Buffer code, and the plain Node server with xdrd's
 * TypeScript codec and with hand-written Buffer code.
 *
 * The "idle" workload (issue 18) is the throughput workload again with 0,
 * 1,000 and 10,000 idle UNIX clients also connected, for xdrd on epoll,
 * xdrd on poll(), the plain Node server and the core server, each as a
 * ratio to its own 0-idle figure. The idle clients are held by a child
 * process (build-native/bench/idle-holder) that connects them and says
 * nothing; every server gets maxClients = the largest level + 64 at every
 * level, so only the idle clients differ. Before the load runs, each server
 * with N idle clients reports RSS per idle client: VmRSS (/proc/<pid>/status)
 * after the clients were accepted minus VmRSS before the holder connected,
 * in the same process, divided by N; the JS servers run under --expose-gc
 * and do global.gc() before each reading; the core server also reports
 * malloc's bytes in use the same way. A level the descriptor limit cannot
 * hold (the hard RLIMIT_NOFILE; the servers and the holder raise their soft
 * limit to it) is skipped with a message.
 *
 * Usage: node bench/run.js [--quick] [--duration S] [--warmup S] [--rounds N]
 *          [--only latency,throughput,echo64k,echo1m,getinfo,getinfo1,list,list1,idle] [--servers xdrd,plain,core,c]
 *          [--idle-levels 0,1000,10000] [--max-requests N] [--server-env NAME=VALUE]...
 *          [--no-write | --write]
 */
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

const typed = require('./typed-program');

const ROOT = path.resolve(__dirname, '..');
const BUILD_DIR = path.join(ROOT, 'build-native', 'bench');
const LOADGEN = path.join(BUILD_DIR, 'loadgen');
const CORE_SERVER = path.join(BUILD_DIR, 'core-server');
const C_SERVER = path.join(BUILD_DIR, 'c-server');
const IDLE_HOLDER = path.join(BUILD_DIR, 'idle-holder');
const RESULTS = path.join(__dirname, 'RESULTS.md');

const BENCH_PROGRAM = 0x62656e63; // "benc": NOOP = 1, ECHO = 2 in every bench server
const NOOP_REPLY_HEX = '0123456789abcdef'; // the 8-byte value NOOP returns
const XDRD_DEFAULT_MAX_REQUESTS = 5; // ServerOptions::max_requests_per_client
const IDLE_LEVELS = [0, 1000, 10000]; // idle clients in the "idle" workload
// Descriptors a server needs besides the idle clients: the load's 16
// connections, the listener, stdio, the loop's own (eventfd, epoll) and slack.
const FD_HEADROOM = 64;

// ---- Options --------------------------------------------------------------------

function usage(msg) {
  if (msg) console.error(`bench: ${msg}`);
  console.error(
    'usage: node bench/run.js [--quick] [--duration S] [--warmup S] [--rounds N]\n' +
      '         [--only latency,throughput,echo64k,echo1m,getinfo,getinfo1,list,list1,idle] [--servers xdrd,plain,core,c]\n' +
      '         [--idle-levels 0,1000,10000] [--max-requests N] [--server-env NAME=VALUE]...\n' +
      '         [--no-write | --write]\n' +
      '  --quick        0.5 s runs, 0.2 s warm-up, 1 round; RESULTS.md left alone\n' +
      '  --duration S   measured seconds per run (default 2)\n' +
      '  --warmup S     unmeasured seconds before each run (default 0.5)\n' +
      '  --rounds N     interleaved rounds; the median is reported (default 3)\n' +
      '  --idle-levels L  idle clients of the "idle" workload, comma-separated (default 0,1000,10000; 0 is always run)\n' +
      '  --max-requests N  maxRequestsPerClient for xdrd and the core server (default 16)\n' +
      '  --server-env NAME=VALUE  set in every server\'s environment (e.g. GLIBC_TUNABLES=...)\n' +
      '  --no-write / --write  do not / do write bench/RESULTS.md',
  );
  process.exit(msg ? 2 : 0);
}

function parseArgs(argv) {
  const o = { duration: 2, warmup: 0.5, rounds: 3, only: null, servers: null, maxRequests: 16, serverEnv: {}, write: null, quick: false, idleLevels: IDLE_LEVELS };
  const num = (flag, v, lo, hi) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < lo || n > hi) usage(`bad value for ${flag}: ${v}`);
    return n;
  };
  const set = { duration: false, warmup: false, rounds: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--quick': o.quick = true; break;
      case '--duration': o.duration = num(a, argv[++i], 0.05, 600); set.duration = true; break;
      case '--warmup': o.warmup = num(a, argv[++i], 0, 60); set.warmup = true; break;
      case '--rounds': o.rounds = Math.round(num(a, argv[++i], 1, 99)); set.rounds = true; break;
      case '--only': o.only = (argv[++i] ?? '').split(',').filter(Boolean); break;
      case '--servers': o.servers = (argv[++i] ?? '').split(',').filter(Boolean); break;
      case '--max-requests': o.maxRequests = Math.round(num(a, argv[++i], 1, 1 << 20)); break;
      case '--idle-levels': {
        const flag = a;
        const levels = (argv[++i] ?? '').split(',').filter(Boolean).map((v) => Math.round(num(flag, v, 0, 1 << 20)));
        o.idleLevels = [...new Set([0, ...levels])].sort((x, y) => x - y); // each level's ratio is to 0
        break;
      }
      case '--server-env': {
        const kv = argv[++i] ?? '';
        const eq = kv.indexOf('=');
        if (eq <= 0) usage('--server-env takes NAME=VALUE');
        o.serverEnv[kv.slice(0, eq)] = kv.slice(eq + 1);
        break;
      }
      case '--write': o.write = true; break;
      case '--no-write': o.write = false; break;
      case '-h':
      case '--help': usage(); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (o.quick) {
    if (!set.duration) o.duration = 0.5;
    if (!set.warmup) o.warmup = 0.2;
    if (!set.rounds) o.rounds = 1;
  }
  if (o.write === null) o.write = !o.quick;
  return o;
}

// ---- What is measured -----------------------------------------------------------

// Every workload runs against every server in `servers`; `extra` adds servers
// for that workload only.
const WORKLOADS = [
  {
    id: 'latency',
    title: 'Empty call, 1 connection × 1 in flight (latency)',
    connections: 1, depth: 1, proc: 1, bodyBytes: null, check: `hex:${NOOP_REPLY_HEX}`, primary: 'calls',
  },
  {
    id: 'throughput',
    title: 'Empty call, 16 connections × 8 in flight (throughput)',
    connections: 16, depth: 8, proc: 1, bodyBytes: null, check: `hex:${NOOP_REPLY_HEX}`, primary: 'calls',
    extra: ['xdrd5'],
  },
  {
    id: 'echo64k',
    title: 'Echo of a 64 KiB opaque, 4 connections × 4 in flight (MB/s)',
    connections: 4, depth: 4, proc: 2, bodyBytes: 64 * 1024, check: 'echo', primary: 'mb',
  },
  {
    id: 'echo1m',
    title: 'Echo of a 1 MiB opaque, 4 connections × 4 in flight (MB/s)',
    connections: 4, depth: 4, proc: 2, bodyBytes: 1024 * 1024, check: 'echo', primary: 'mb',
  },
  // The typed workloads (issue 20; bench/typed-program.js): libvirt-shaped
  // arguments and results through xdrd's typed handlers, against a plain
  // Node server doing the same work with xdrd's TypeScript codec and with
  // hand-written Buffer code. Only these servers; `ratios` are the rows of
  // the ratio table.
  ...[
    ['getinfo', 'GET_INFO-shaped call (a domain reference in, 5 fields out)', typed.PROC_GET_INFO, typed.GET_INFO_ARGS_HEX, typed.GET_INFO_REPLY_HEX],
    ['list', 'LIST-shaped call (no arguments; 100 domain references out)', typed.PROC_LIST, '', typed.LIST_REPLY_HEX],
  ].flatMap(([id, title, proc, bodyHex, replyHex]) => [
    [id, 16, 8, 'throughput'],
    [`${id}1`, 1, 1, 'latency'],
  ].map(([wid, c, d, what]) => ({
    id: wid,
    title: `${title}, ${c} connection${c > 1 ? 's' : ''} × ${d} in flight (${what})`,
    connections: c, depth: d, proc, bodyBytes: null, bodyHex, check: `hex:${replyHex}`, primary: 'calls',
    servers: ['xdrdTyped', 'plainCodec', 'plainHand', 'xdrdHand'],
    ratios: [['xdrdTyped', 'plainCodec'], ['xdrdTyped', 'plainHand'], ['xdrdHand', 'plainHand'], ['plainCodec', 'plainHand']],
  }))),
  {
    // Runs at every idle level (--idle-levels) and only on these servers,
    // each standing in for the base server named in `idleFor`.
    id: 'idle',
    title: 'Empty call, 16 connections × 8 in flight, with idle UNIX clients also connected',
    connections: 16, depth: 8, proc: 1, bodyBytes: null, check: `hex:${NOOP_REPLY_HEX}`, primary: 'calls',
    idle: true,
    idleServers: ['xdrdEpoll', 'xdrdPoll', 'plainIdle', 'coreIdle'],
  },
];

function serverDefs(opts) {
  const node = process.execPath;
  // The idle workload's servers: room for its largest level of idle
  // clients at every level, so the levels differ in nothing else.
  const maxClients = String(Math.max(...opts.idleLevels) + FD_HEADROOM);
  const xdrdIdle = (backend) => ({
    id: `xdrd-${backend}`, kind: 'xdrd', idleFor: 'xdrd', gc: true,
    label: `xdrd on ${backend}, TS handlers (maxRequestsPerClient ${opts.maxRequests})`,
    cmd: node,
    args: (sock) => ['--expose-gc', path.join(__dirname, 'xdrd-server.js'), '--socket', sock, '--max-requests', String(opts.maxRequests),
      '--max-clients', maxClients, '--event-backend', backend],
  });
  return {
    xdrdEpoll: xdrdIdle('epoll'),
    xdrdPoll: xdrdIdle('poll'),
    plainIdle: {
      id: 'plain', kind: 'plain', idleFor: 'plain', gc: true,
      label: 'plain Node net server',
      cmd: node, args: (sock) => ['--expose-gc', path.join(__dirname, 'plain-server.js'), '--socket', sock],
    },
    coreIdle: {
      id: 'core', kind: 'core', idleFor: 'core', gc: false,
      label: `xdrd core alone on epoll, C++ handlers (max ${opts.maxRequests})`,
      cmd: CORE_SERVER,
      args: (sock) => ['--socket', sock, '--max-requests', String(opts.maxRequests), '--max-clients', maxClients, '--event-backend', 'epoll'],
    },
    xdrd: {
      id: 'xdrd', kind: 'xdrd',
      label: `xdrd, TS handlers (maxRequestsPerClient ${opts.maxRequests})`,
      cmd: node, args: (sock) => [path.join(__dirname, 'xdrd-server.js'), '--socket', sock, '--max-requests', String(opts.maxRequests)],
    },
    xdrdTyped: {
      id: 'xdrdTyped', short: 'xdrd typed', kind: 'xdrd',
      label: `xdrd, typed TS handlers (maxRequestsPerClient ${opts.maxRequests})`,
      cmd: node, args: (sock) => [path.join(__dirname, 'xdrd-server.js'), '--socket', sock, '--max-requests', String(opts.maxRequests), '--typed'],
    },
    xdrdHand: {
      id: 'xdrdHand', short: 'xdrd raw + hand-written', kind: 'xdrd',
      label: `xdrd, raw TS handlers with hand-written Buffer code (maxRequestsPerClient ${opts.maxRequests})`,
      cmd: node, args: (sock) => [path.join(__dirname, 'xdrd-server.js'), '--socket', sock, '--max-requests', String(opts.maxRequests)],
    },
    plainCodec: {
      id: 'plainCodec', short: 'plain + TS codec', kind: 'plain',
      label: "plain Node net server with xdrd's TS codec",
      cmd: node, args: (sock) => [path.join(__dirname, 'plain-server.js'), '--socket', sock, '--codec', 'xdr'],
    },
    plainHand: {
      id: 'plainHand', short: 'plain + hand-written', kind: 'plain',
      label: 'plain Node net server with hand-written Buffer code',
      cmd: node, args: (sock) => [path.join(__dirname, 'plain-server.js'), '--socket', sock, '--codec', 'hand'],
    },
    xdrd5: {
      id: 'xdrd5', kind: 'xdrd',
      label: `xdrd, TS handlers (default maxRequestsPerClient ${XDRD_DEFAULT_MAX_REQUESTS})`,
      cmd: node, args: (sock) => [path.join(__dirname, 'xdrd-server.js'), '--socket', sock],
    },
    plain: {
      id: 'plain', kind: 'plain',
      label: 'plain Node net server',
      cmd: node, args: (sock) => [path.join(__dirname, 'plain-server.js'), '--socket', sock],
    },
    core: {
      id: 'core', kind: 'core',
      label: `xdrd core alone, C++ handlers (max ${opts.maxRequests})`,
      cmd: CORE_SERVER, args: (sock) => ['--socket', sock, '--max-requests', String(opts.maxRequests)],
    },
    c: {
      id: 'c', kind: 'c',
      label: 'single-threaded C epoll server (limit proxy)',
      cmd: C_SERVER, args: (sock) => ['--socket', sock],
    },
  };
}

// ---- Preconditions and the native build -----------------------------------------

function checkPrerequisites() {
  const problems = [];
  if (!fs.existsSync(path.join(ROOT, 'dist', 'lib', 'index.js')))
    problems.push('dist/lib/index.js is missing: build the TypeScript with `npx tsc -p tsconfig.build.json` (or `npm run build:ts`)');
  try {
    require('node-gyp-build')(ROOT);
  } catch (e) {
    problems.push(`the addon does not load (${String(e.message).split('\n')[0]}): build it with \`npm run build\` (node-gyp rebuild)`);
  }
  const cmake = spawnSync('cmake', ['--version'], { encoding: 'utf8' });
  if (cmake.status !== 0) problems.push('cmake is not installed: the load generator, the core server and the C server are built with it');
  if (problems.length) {
    console.error('bench: cannot run yet:');
    for (const p of problems) console.error(`  - ${p}`);
    console.error('(`npm install` builds both the addon and dist/ when the toolchain is present.)');
    process.exit(1);
  }
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(r.stdout ?? '');
    process.stderr.write(r.stderr ?? '');
    console.error(`bench: \`${cmd} ${args.join(' ')}\` failed (${r.error ? r.error.message : `exit ${r.status}`})`);
    process.exit(1);
  }
  return r.stdout;
}

function buildNative() {
  if (!fs.existsSync(path.join(BUILD_DIR, 'CMakeCache.txt'))) {
    const gen = spawnSync('ninja', ['--version']).status === 0 ? ['-G', 'Ninja'] : [];
    run('cmake', ['-S', __dirname, '-B', BUILD_DIR, '-DCMAKE_BUILD_TYPE=Release', ...gen]);
  }
  run('cmake', ['--build', BUILD_DIR, '--parallel', String(Math.max(1, os.cpus().length))]);
}

// ---- Processes ------------------------------------------------------------------

const children = new Set();
process.on('SIGINT', () => {
  for (const c of children) c.kill('SIGKILL');
  process.exit(130);
});

/** A child whose stdout is read line by line. */
class Child {
  constructor(cmd, args, env) {
    this.proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(this.proc);
    this.lines = [];
    this.waiters = [];
    this.stderr = '';
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        children.delete(this.proc);
        resolve({ code, signal });
        for (const w of this.waiters.splice(0)) w.reject(new Error(`${path.basename(cmd)} exited (${code ?? signal}): ${this.stderr.trim()}`));
      });
    });
    this.proc.on('error', (e) => {
      for (const w of this.waiters.splice(0)) w.reject(e);
    });
    this.proc.stderr.on('data', (d) => (this.stderr += d));
    readline.createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const w = this.waiters.shift();
      if (w) w.resolve(line);
      else this.lines.push(line);
    });
  }

  /** The next stdout line, or a rejection after `ms`. */
  nextLine(ms, what) {
    if (this.lines.length) return Promise.resolve(this.lines.shift());
    if (this.proc.exitCode !== null) return Promise.reject(new Error(`${what}: the process has exited: ${this.stderr.trim()}`));
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`${what}: no answer within ${ms} ms; stderr: ${this.stderr.trim()}`));
      }, ms);
      w.resolve = (v) => (clearTimeout(timer), resolve(v));
      w.reject = (e) => (clearTimeout(timer), reject(e));
      this.waiters.push(w);
    });
  }

  async stop(ms) {
    this.proc.stdin.end();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), ms);
    const r = await this.exited;
    clearTimeout(timer);
    return r;
  }
}

let sockCounter = 0;

/** VmRSS of a process, in bytes. */
function rssBytes(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** The connections a server has accepted (and, for xdrd, handed to JS). */
function connectionsOf(def, stats) {
  if (def.kind === 'xdrd') return Math.min(stats.clientsLive, stats.jsConnections);
  if (def.kind === 'plain') return stats.connections;
  return stats.clientsLive;
}

/**
 * Connects `level` idle clients through the holder and waits until the
 * server has taken them all in. Returns the holder (to be stopped after the
 * server) and the memory figures per idle client.
 */
async function holdIdleClients(def, sock, level, server, query, pid) {
  const settle = async () => {
    if (def.gc) {
      server.proc.stdin.write('gc\n');
      const r = JSON.parse(await server.nextLine(30000, `${def.id}: gc`));
      if (!r.gc) throw new Error(`${def.id}: global.gc() is missing (not run with --expose-gc?)`);
    }
    const stats = await query();
    return { rss: rssBytes(pid), heap: stats.heapBytes ?? null };
  };
  const base = await settle();
  const holder = new Child(IDLE_HOLDER, ['--socket', sock, '--count', String(level), '--timeout', '60'], {});
  const line = JSON.parse(await holder.nextLine(120000, 'idle-holder'));
  if (!line.ok) {
    await holder.stop(5000);
    const e = new Error(`idle-holder: ${line.error}`);
    e.skip = true; // the machine cannot hold this level: a skipped row, not a failed bench
    throw e;
  }
  const deadline = Date.now() + 60000;
  for (;;) {
    const n = connectionsOf(def, await query());
    if (n >= level) break;
    if (Date.now() > deadline) {
      await holder.stop(5000);
      throw new Error(`${def.id}: only ${n} of ${level} idle clients accepted after 60 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const held = await settle();
  return {
    holder,
    rssPerClient: (held.rss - base.rss) / level,
    heapPerClient: held.heap === null || base.heap === null ? null : (held.heap - base.heap) / level,
  };
}

/** One server process, one loadgen run against it (with `idle` idle clients held meanwhile). */
async function runOne(def, workload, opts, tmp, idle = 0) {
  const sock = path.join(tmp, `${def.id}-${++sockCounter}.sock`);
  const server = new Child(def.cmd, def.args(sock), opts.serverEnv);
  let holder = null;
  try {
    const ready = JSON.parse(await server.nextLine(15000, `${def.id}: ready line`));
    if (!ready.ready) throw new Error(`${def.id}: unexpected first line ${JSON.stringify(ready)}`);
    const query = async () => JSON.parse((server.proc.stdin.write('stats\n'), await server.nextLine(5000, `${def.id}: stats`)));
    let memory = null;
    if (idle > 0) {
      const held = await holdIdleClients(def, sock, idle, server, query, ready.pid);
      holder = held.holder;
      memory = { rssPerClient: held.rssPerClient, heapPerClient: held.heapPerClient };
    }
    const before = await query();

    const args = [
      '--socket', sock, '--label', `${def.id}/${workload.id}`,
      '--prog', String(BENCH_PROGRAM), '--vers', '1', '--proc', String(workload.proc),
      '--connections', String(workload.connections), '--depth', String(workload.depth),
      '--check', workload.check, '--warmup', String(opts.warmup), '--duration', String(opts.duration),
      '--server-pid', String(ready.pid), '--timeout', '20',
    ];
    if (workload.bodyBytes !== null) args.push('--body-bytes', String(workload.bodyBytes));
    if (workload.bodyHex !== undefined) args.push('--body-hex', workload.bodyHex);
    const lg = new Child(LOADGEN, args, {});
    const killer = setTimeout(() => lg.proc.kill('SIGKILL'), (opts.warmup + opts.duration + 60) * 1000);
    const line = await lg.nextLine((opts.warmup + opts.duration + 90) * 1000, 'loadgen').finally(() => clearTimeout(killer));
    const { code } = await lg.exited;
    const result = JSON.parse(line);
    if (!result.ok || code !== 0) throw new Error(`loadgen against ${def.id} (${workload.id}): ${result.error ?? `exit ${code}`}`);

    const after = await query();
    result.settings = ready.settings;
    result.idle = idle;
    result.memory = memory;
    if (def.kind === 'xdrd') {
      result.js = {
        wakeups: after.jsWakeups - before.jsWakeups,
        calls: after.jsCalls - before.jsCalls,
        batches: after.jsBatches - before.jsBatches,
        // The loop thread's busy poll: how often it ran, how often it caught work, what it cost.
        busyPolls: (after.busyPolls ?? 0) - (before.busyPolls ?? 0),
        busyPollCatches: (after.busyPollCatches ?? 0) - (before.busyPollCatches ?? 0),
        busyPollUs: (after.busyPollUs ?? 0) - (before.busyPollUs ?? 0),
      };
    }
    return result;
  } finally {
    // The server first: closing 10,000 idle clients under it would only
    // make it reap them before it could stop.
    await server.stop(15000);
    if (holder) await holder.stop(5000);
  }
}

// ---- Statistics and tables ------------------------------------------------------

function median(xs) {
  const s = xs.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The server's threads as the load generator buckets them (DESIGN.md §8). */
const THREAD_BUCKETS = ['loop', 'workers', 'main', 'rest'];

function summarize(runs) {
  const pick = (k) => median(runs.map((r) => r[k]));
  const primary = runs.map((r) => r.calls_per_s);
  const mid = median(primary);
  const sum = (f) => runs.reduce((a, r) => a + (r.js ? f(r.js) : 0), 0);
  return {
    calls: mid,
    mb: pick('mb_per_s'),
    p50: pick('p50_us'),
    p99: pick('p99_us'),
    max: pick('max_us'),
    srvCpu: pick('server_cpu_us_per_call'),
    srvBusy: median(runs.map((r) => (r.server_cpu_s === null ? null : r.server_cpu_s / r.seconds))),
    lgBusy: median(runs.map((r) => r.loadgen_cpu_s / r.seconds)),
    spread: runs.length > 1 ? (Math.max(...primary) - Math.min(...primary)) / mid : null,
    rounds: runs.length,
    threads: Object.fromEntries(THREAD_BUCKETS.map((b) => [b, median(runs.map((r) => (r.server_threads_us_per_call ? r.server_threads_us_per_call[b] : null)))])),
    js: runs.some((r) => r.js)
      ? { wakeups: sum((j) => j.wakeups), calls: sum((j) => j.calls), batches: sum((j) => j.batches), busyPolls: sum((j) => j.busyPolls ?? 0), busyPollCatches: sum((j) => j.busyPollCatches ?? 0), busyPollUs: sum((j) => j.busyPollUs ?? 0) }
      : null,
  };
}

const fmtInt = (x) => (x === null ? '—' : Math.round(x).toLocaleString('en-US'));
const fmt = (x, digits) => (x === null ? '—' : x.toFixed(digits));
const fmtUs = (x) => (x === null ? '—' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const pct = (x) => (x === null ? '—' : `${(x * 100).toFixed(0)} %`);
const ratio = (a, b) => (a === null || b === null || b === 0 ? '—' : (a / b).toFixed(2));

function workloadTables(w, summaries, defs) {
  const out = [];
  out.push(`### ${w.title}`);
  out.push('');
  out.push('| server | calls/s | MB/s | p50 µs | p99 µs | max µs | server CPU µs/call | server CPU | loadgen CPU | spread |');
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [id, s] of summaries) {
    const mb = w.bodyBytes === null ? '—' : fmt(s.mb, 0);
    const spread = s.spread === null ? '—' : `±${(s.spread * 50).toFixed(0)} %`;
    out.push(`| ${defs[id].label} | ${fmtInt(s.calls)} | ${mb} | ${fmtUs(s.p50)} | ${fmtUs(s.p99)} | ${fmtUs(s.max)} | ${fmt(s.srvCpu, 2)} | ${pct(s.srvBusy)} | ${pct(s.lgBusy)} | ${spread} |`);
  }
  out.push('');
  const plain = summaries.get('plain');
  const core = summaries.get('core');
  const cServer = summaries.get('c');
  const rows = [...summaries.keys()].filter((id) => defs[id].kind === 'xdrd');
  // [name, numerator, denominator]: every xdrd row against plain and core,
  // then the core against the C server (issue 7's "within 2×" target).
  const ratioRows = [];
  for (const [a, b] of w.ratios ?? []) {
    if (summaries.has(a) && summaries.has(b)) ratioRows.push([`${defs[a].short} / ${defs[b].short}`, summaries.get(a), summaries.get(b)]);
  }
  for (const id of w.ratios ? [] : rows) {
    const x = summaries.get(id);
    const name = id === 'xdrd' ? 'xdrd' : `xdrd (default ${XDRD_DEFAULT_MAX_REQUESTS})`;
    for (const [other, label] of [[plain, 'plain'], [core, 'core']]) {
      if (other) ratioRows.push([`${name} / ${label}`, x, other]);
    }
  }
  if (core && cServer) ratioRows.push(['xdrd core / C', core, cServer]);
  if (ratioRows.length) {
    out.push(`| ratio (throughput: > 1 is xdrd faster; latency, CPU: < 1 is xdrd better) | ${w.primary === 'mb' ? 'MB/s' : 'calls/s'} | p50 | p99 | server CPU/call |`);
    out.push('|---|---:|---:|---:|---:|');
    for (const [name, x, other] of ratioRows) {
      out.push(`| ${name} | ${ratio(x.calls, other.calls)} | ${ratio(x.p50, other.p50)} | ${ratio(x.p99, other.p99)} | ${ratio(x.srvCpu, other.srvCpu)} |`);
    }
    out.push('');
  }
  // Per-thread CPU per call: where each server spends it. The main thread
  // is Node's JS thread in xdrd and the plain server, and does everything
  // in the single-threaded C server.
  out.push('| server CPU µs/call by thread | loop thread | workers | main (JS) thread | rest | total |');
  out.push('|---|---:|---:|---:|---:|---:|');
  for (const [id, s] of summaries) {
    const t = s.threads;
    if (THREAD_BUCKETS.every((b) => t[b] === null)) continue;
    const cell = (b) => fmt(t[b], 2);
    out.push(`| ${defs[id].label} | ${cell('loop')} | ${cell('workers')} | ${cell('main')} | ${cell('rest')} | ${fmt(s.srvCpu, 2)} |`);
  }
  out.push('');
  for (const id of rows) {
    const j = summaries.get(id).js;
    if (!j) continue;
    const perWake = j.wakeups ? (j.calls / j.wakeups).toFixed(1) : '—';
    const perBatch = j.batches ? (j.calls / j.batches).toFixed(1) : '—';
    out.push(`- ${defs[id].label}: jsWakeups ${fmtInt(j.wakeups)}, jsCalls ${fmtInt(j.calls)} → ${perWake} calls per JS wake-up, ${perBatch} per batch (all rounds, warm-up included)`);
    if (j.busyPolls) {
      const caught = ((100 * j.busyPollCatches) / j.busyPolls).toFixed(0);
      const perCall = j.calls ? (j.busyPollUs / j.calls).toFixed(1) : '—';
      const perCatch = j.busyPollCatches ? (j.busyPollUs / j.busyPollCatches).toFixed(1) : '—';
      out.push(`  busy poll: ${fmtInt(j.busyPolls)} polls, ${caught} % caught work; ${perCall} µs spun per call, ${perCatch} µs per catch`);
    }
  }
  if (rows.length) out.push('');
  return out.join('\n');
}

/**
 * The idle workload: per server, its 0-idle throughput and, for every other
 * level, throughput, p99 and CPU per call as ratios to that, and RSS per
 * idle client.
 */
function idleTables(w, byServer, defs, allLevels, levels) {
  const out = [`### ${w.title}`, ''];
  const idle = allLevels.filter((l) => l > 0);
  const ran = (l) => levels.includes(l);
  const top = idle.length ? idle[idle.length - 1] : null;
  const head = ['server', 'calls/s, 0 idle', ...idle.map((l) => `calls/s ×, ${fmtInt(l)} idle`)];
  if (top !== null) head.push(`p99 ×, ${fmtInt(top)} idle`, `server CPU/call ×, ${fmtInt(top)} idle`);
  head.push(...idle.map((l) => `RSS per idle client, ${fmtInt(l)} idle`));
  out.push(`| ${head.join(' | ')} |`);
  out.push(`|---|${head.slice(1).map(() => '---:').join('|')}|`);
  const bytes = (x) => (x === null ? '—' : `${fmtInt(x)} B`);
  const notes = [];
  for (const [id, runs] of byServer) {
    const at = (l) => runs.filter((r) => r.idle === l);
    const s0 = summarize(at(0));
    const cells = [defs[id].label, fmtInt(s0.calls)];
    const sums = new Map(idle.map((l) => [l, ran(l) && at(l).length ? summarize(at(l)) : null]));
    for (const l of idle) cells.push(sums.get(l) ? ratio(sums.get(l).calls, s0.calls) : 'skipped');
    if (top !== null) {
      const st = sums.get(top);
      cells.push(st ? ratio(st.p99, s0.p99) : 'skipped', st ? ratio(st.srvCpu, s0.srvCpu) : 'skipped');
    }
    for (const l of idle) cells.push(sums.get(l) ? bytes(median(at(l).map((r) => r.memory.rssPerClient))) : 'skipped');
    out.push(`| ${cells.join(' | ')} |`);
    for (const l of idle) {
      const heap = at(l).map((r) => r.memory.heapPerClient).filter((x) => x !== null);
      if (heap.length) notes.push(`- ${defs[id].label}: malloc's bytes in use per idle client at ${fmtInt(l)} idle: ${bytes(median(heap))} (median of ${heap.length})`);
    }
  }
  out.push('');
  out.push(
    `Ratios are to the same server with no idle client (> 1: faster; for p99 and CPU, < 1 is better). RSS per idle client: ` +
      `VmRSS once the server has accepted them minus VmRSS before they connected, same process, after global.gc() in the JS servers, ` +
      `divided by their number; medians of rounds.`,
  );
  if (notes.length) out.push('', ...notes);
  out.push('');
  return out.join('\n');
}

/** Share of the machine's CPU that was busy over `ms` (other jobs, before we start). */
async function backgroundLoad(ms) {
  const sample = () => {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { idle: f[3] + (f[4] || 0), total: f.reduce((a, b) => a + b, 0) };
  };
  const a = sample();
  await new Promise((r) => setTimeout(r, ms));
  const b = sample();
  return b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : null;
}

function machine() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = (cpuinfo.match(/^model name\s*:\s*(.*)$/m) ?? [])[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const gxx = spawnSync('c++', ['--version'], { encoding: 'utf8' });
  return {
    cores: os.cpus().length,
    model: model.trim(),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    compiler: gxx.status === 0 ? gxx.stdout.split('\n')[0] : 'unknown',
  };
}

/** The hard RLIMIT_NOFILE (the most a process may raise its soft limit to), or Infinity. */
function hardFdLimit() {
  const r = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' });
  const v = (r.stdout ?? '').trim();
  return r.status === 0 && /^\d+$/.test(v) ? Number(v) : Infinity;
}

/** The idle levels the descriptor limit can hold; the others are named and dropped. */
function runnableIdleLevels(levels) {
  const hard = hardFdLimit();
  return levels.filter((level) => {
    const need = level + FD_HEADROOM;
    if (level === 0 || need <= hard) return true;
    console.log(
      `bench: idle: ${fmtInt(level)} idle clients skipped: the hard RLIMIT_NOFILE is ${fmtInt(hard)}, and the server and the ` +
        `idle holder each need about ${fmtInt(need)} descriptors (ulimit -Hn; raising the hard limit is the administrator's job)`,
    );
    return false;
  });
}

// ---- Main -----------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const defs = serverDefs(opts);
  const base = opts.servers ?? ['xdrd', 'plain', 'core', 'c'];
  for (const s of base) if (!['xdrd', 'plain', 'core', 'c'].includes(s)) usage(`unknown server ${s} (xdrd, plain, core, c)`);
  if (opts.only) for (const id of opts.only) if (!WORKLOADS.some((w) => w.id === id)) usage(`unknown workload ${id}`);
  const workloads = WORKLOADS.filter((w) => !opts.only || opts.only.includes(w.id));

  checkPrerequisites();
  process.stdout.write('bench: building loadgen, core-server, c-server and idle-holder (build-native/bench, Release -O2)… ');
  buildNative();
  console.log(`done (${((Date.now() - started) / 1000).toFixed(1)} s)`);

  // The idle workload: its own servers, standing in for the base ones, at
  // every idle level the descriptor limit can hold.
  const idleLevels = runnableIdleLevels(opts.idleLevels);
  const plan = workloads.map((w) =>
    w.idle
      ? { w, servers: w.idleServers.filter((k) => base.includes(defs[k].idleFor)), levels: idleLevels }
      : w.servers
        ? { w, servers: w.servers.filter((k) => base.includes(defs[k].kind)), levels: [0] }
        : { w, servers: [...base, ...(w.extra ?? []).filter(() => base.includes('xdrd'))], levels: [0] },
  );
  const nRuns = plan.reduce((a, p) => a + p.servers.length * p.levels.length, 0) * opts.rounds;
  console.log(
    `bench: ${nRuns} runs (${opts.rounds} round${opts.rounds > 1 ? 's' : ''} × ${plan.map((p) => `${p.w.id}:${p.servers.length * p.levels.length}`).join(' ')}), ` +
      `${opts.warmup} s warm-up + ${opts.duration} s measured each; about ${Math.ceil((nRuns * (opts.warmup + opts.duration + 0.5)) / 60)} min`,
  );
  console.log(`bench: xdrd and the core server run with maxRequestsPerClient ${opts.maxRequests}; the throughput workload also runs xdrd with its default (${XDRD_DEFAULT_MAX_REQUESTS}); xdrd workers: default (5); the C server: one thread, no per-client limit`);
  if (plan.some((p) => p.w.idle)) console.log(`bench: idle workload: ${idleLevels.map(fmtInt).join(', ')} idle clients; xdrd and the core server with maxClients ${fmtInt(Math.max(...opts.idleLevels) + FD_HEADROOM)} at every level`);
  if (Object.keys(opts.serverEnv).length) console.log(`bench: server environment: ${JSON.stringify(opts.serverEnv)}`);

  const background = await backgroundLoad(1000);
  if (background !== null) console.log(`bench: CPU busy before the run (other jobs): ${(background * 100).toFixed(0)} % of the machine`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xdrd-bench-'));
  const results = new Map(plan.map((p) => [p.w.id, new Map(p.servers.map((s) => [s, []]))]));
  let done = 0;
  try {
    for (let round = 0; round < opts.rounds; round++) {
      for (const { w, servers, levels } of plan) {
        const k = round % servers.length;
        const order = [...servers.slice(k), ...servers.slice(0, k)];
        for (const id of order) {
          const j = round % levels.length;
          for (const idle of [...levels.slice(j), ...levels.slice(0, j)]) {
            let r;
            try {
              r = await runOne(defs[id], w, opts, tmp, idle);
            } catch (e) {
              if (!e.skip) throw e;
              console.log(`bench: ${w.id}: ${fmtInt(idle)} idle clients skipped (${e.message})`);
              done++;
              continue;
            }
            results.get(w.id).get(id).push(r);
            done++;
            const js = r.js ? `  js: ${r.js.calls} calls / ${r.js.wakeups} wake-ups` : '';
            const mb = w.bodyBytes === null ? '' : `  ${r.mb_per_s.toFixed(0)} MB/s`;
            const idleText = w.idle ? ` idle ${String(idle).padStart(5)}` : '';
            const mem = r.memory ? `  RSS/idle client ${fmtInt(r.memory.rssPerClient)} B` + (r.memory.heapPerClient === null ? '' : `, heap ${fmtInt(r.memory.heapPerClient)} B`) : '';
            console.log(
              `  [${String(done).padStart(2)}/${nRuns}] round ${round + 1} ${w.id.padEnd(10)} ${defs[id].id.padEnd(5)}${idleText} ` +
                `${fmtInt(r.calls_per_s).padStart(9)} calls/s${mb}  p50 ${fmtUs(r.p50_us)} µs  p99 ${fmtUs(r.p99_us)} µs  ` +
                `server ${fmt(r.server_cpu_us_per_call, 2)} µs/call  loadgen ${fmt(r.loadgen_cpu_us_per_call, 2)} µs/call${js}${mem}`,
            );
          }
        }
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  const sections = plan.map(({ w, levels }) => {
    if (w.idle) return idleTables(w, results.get(w.id), defs, opts.idleLevels, levels);
    const summaries = new Map([...results.get(w.id)].map(([id, runs]) => [id, summarize(runs)]));
    return workloadTables(w, summaries, defs);
  });
  const elapsed = (Date.now() - started) / 1000;
  const m = machine();
  const command = `node bench/run.js${process.argv.length > 2 ? ' ' + process.argv.slice(2).join(' ') : ''}`;
  const header = [
    `Date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `Machine: ${m.cores} cores, ${m.model}; ${m.kernel}; Node ${m.node}; ${m.compiler}`,
    `Command: \`${command}\` (${opts.rounds} round${opts.rounds > 1 ? 's' : ''}, ${opts.warmup} s warm-up + ${opts.duration} s per run, median of rounds; total ${elapsed.toFixed(0)} s)`,
    `Background: ${background === null ? 'unknown' : `${(background * 100).toFixed(0)} %`} of the machine's CPU was busy with other jobs in the second before the run (the machine is shared)`,
    `Settings: maxRequestsPerClient ${opts.maxRequests} for xdrd and the core server (plus xdrd at its default ${XDRD_DEFAULT_MAX_REQUESTS} for throughput); xdrd workers 5 (default); C server (limit proxy): one thread, level-triggered epoll, no per-client limit; loadgen: one thread, epoll, every reply checked` +
      (plan.some((p) => p.w.idle) ? `; idle workload: maxClients ${fmtInt(Math.max(...opts.idleLevels) + FD_HEADROOM)} for xdrd and the core server at every level, idle clients held by bench/idle-holder, the JS servers under --expose-gc` : '') +
      (Object.keys(opts.serverEnv).length ? `; server environment ${JSON.stringify(opts.serverEnv)}` : ''),
  ];
  console.log('');
  console.log(header.join('\n'));
  console.log('');
  console.log(sections.join('\n'));
  console.log(`bench: finished in ${elapsed.toFixed(0)} s`);

  if (opts.write) {
    writeResults(header, sections);
    console.log(`bench: wrote ${path.relative(process.cwd(), RESULTS)}`);
  }
}

/** Rewrites RESULTS.md, keeping its hand-written "## First observations" section. */
function writeResults(header, sections) {
  let observations = '';
  if (fs.existsSync(RESULTS)) {
    const old = fs.readFileSync(RESULTS, 'utf8');
    const at = old.indexOf('\n## First observations');
    if (at >= 0) observations = old.slice(at + 1).trimEnd() + '\n';
  }
  const doc = [
    '# xdrd benchmark results',
    '',
    'Generated by `npm run bench` (bench/run.js); the section "First observations" at the end is written by hand and kept when the file is regenerated.',
    'The machine is shared: compare ratios within one run, not absolute numbers across runs.',
    'Columns: calls/s and latency as seen by the load generator (closed loop); MB/s counts the opaque bytes echoed, one direction; server CPU µs/call is every thread of the server process, user + system, over the measured window, divided by the calls completed in it; "server CPU" and "loadgen CPU" are the same CPU time as a share of one core (200 % is the whole machine; a load generator well below 100 % is not the bottleneck); "spread" is ± half the range of calls/s across rounds, relative to the median.',
    '',
    ...header.map((l) => `${l}  `),
    '',
    '## Results',
    '',
    sections.join('\n'),
    observations,
  ].join('\n');
  fs.writeFileSync(RESULTS, doc.trimEnd() + '\n');
}

main().catch((e) => {
  for (const c of children) c.kill('SIGKILL');
  console.error(`bench: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
