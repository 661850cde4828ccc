'use strict';
/**
 * xdrd-server.js — the bench program on xdrd with TypeScript (here: plain
 * JS) raw handlers, through the compiled package in ../dist/lib: the path a
 * user of xdrd takes (native loop and workers, the JS bridge, handlers on
 * the JS thread).
 *
 * Procedures of the bench program (the same in all three bench servers):
 *   1 NOOP  empty args; returns an unsigned hyper (8 bytes), a constant
 *   2 ECHO  args: opaque data<>; returns the same opaque (length checked).
 *           The handler returns the `body` view it was given: xdrd copies
 *           the answer before the batch's bodies are released.
 *
 *   3 GET_INFO, 4 LIST: the typed workloads (typed-program.js); without
 *           --typed, with hand-written Buffer reads and writes
 *
 * With --typed the procedures are typed handlers of a defineProgram
 * program (NOOP: void -> unsigned hyper; ECHO: opaque<> -> opaque<>;
 * GET_INFO and LIST as typed-program.js gives them): their arguments are
 * decoded on the workers and built on the JS thread, their results encoded
 * there.
 *
 * Control (bench/run.js):
 *   argv   --socket PATH [--max-requests N] [--busy-poll-us N] [--max-clients N]
 *          [--event-backend epoll|poll] [--typed] (omitted: xdrd's defaults)
 *   stdout {"ready":true,"pid":...,"settings":{...}} once listening
 *   stdin  "stats"       -> server.stats() as one JSON line, plus
 *                           jsConnections (the Connection objects JS holds)
 *          "gc"          -> global.gc() when run with --expose-gc, then
 *                           {"gc":true|false}
 *          EOF or "quit" -> close() (grace 1 s), exit
 */
const path = require('path');
const readline = require('readline');

const dist = path.join(__dirname, '..', 'dist', 'lib');
const { Server, RpcError, defineProgram, xdr } = require(dist);
const typed = require('./typed-program');

const BENCH_PROGRAM = 0x62656e63; // "benc"
const BENCH_VERSION = 1;
const PROC_NOOP = 1;
const PROC_ECHO = 2;
const NOOP_VALUE = Buffer.from('0123456789abcdef', 'hex');

function arg(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function main() {
  const socketPath = arg('--socket');
  if (!socketPath) {
    console.error('usage: node xdrd-server.js --socket PATH [--max-requests N] [--busy-poll-us N] [--max-clients N] [--event-backend epoll|poll]');
    process.exit(2);
  }
  const options = {};
  const maxRequests = arg('--max-requests');
  if (maxRequests !== undefined) options.maxRequestsPerClient = Number(maxRequests);
  const busyPollUs = arg('--busy-poll-us');
  if (busyPollUs !== undefined) options.busyPollUs = Number(busyPollUs);
  const maxClients = arg('--max-clients');
  if (maxClients !== undefined) options.maxClients = Number(maxClients);
  const eventBackend = arg('--event-backend');
  if (eventBackend !== undefined) options.eventBackend = eventBackend;

  const server = new Server(options);
  server.on('error', (err) => console.error(`xdrd-server: handler error: ${err.message}`));
  if (process.argv.includes('--typed')) {
    const schemas = typed.schemas(xdr);
    const Bench = defineProgram({
      number: BENCH_PROGRAM,
      version: BENCH_VERSION,
      procedures: {
        noop: { id: PROC_NOOP, args: xdr.void(), result: xdr.uhyper() },
        echo: { id: PROC_ECHO, args: xdr.opaque(), result: xdr.opaque() },
        getInfo: { id: typed.PROC_GET_INFO, args: schemas.domain, result: schemas.info },
        list: { id: typed.PROC_LIST, args: xdr.void(), result: schemas.list },
      },
    });
    const noop = NOOP_VALUE.readBigUInt64BE(0);
    const table = typed.domainTable();
    server.handle(Bench, {
      noop: () => noop,
      echo: (data) => data,
      getInfo: ({ name, uuid, id }) => {
        const info = typed.lookUp(table, name, uuid, id);
        if (info === undefined) throw RpcError.rpc(`no domain with name '${name}' and id ${id}`);
        return info;
      },
      list: () => typed.domains,
    });
  } else {
    const hand = typed.handHandlers((message) => RpcError.rpc(message));
    server.handle(BENCH_PROGRAM, BENCH_VERSION, {
      [typed.PROC_GET_INFO]: hand.getInfo,
      [typed.PROC_LIST]: hand.list,
      [PROC_NOOP]: () => NOOP_VALUE,
      [PROC_ECHO]: (body) => {
        // opaque<>: length, bytes, zero padding to a multiple of 4.
        if (body.length < 4 || ((body.readUInt32BE(0) + 3) & ~3) !== body.length - 4) throw RpcError.rpc('Unable to decode message payload');
        return body;
      },
    });
  }
  await server.listen({ path: socketPath });
  const settings = { maxRequestsPerClient: options.maxRequestsPerClient ?? 'default (5)' };
  if (options.maxClients !== undefined) settings.maxClients = options.maxClients;
  if (options.eventBackend !== undefined) settings.eventBackend = options.eventBackend;
  if (process.argv.includes('--typed')) settings.typed = true;
  process.stdout.write(JSON.stringify({ ready: true, pid: process.pid, settings }) + '\n');

  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line === 'stats') process.stdout.write(JSON.stringify({ ...server.stats(), jsConnections: server.connections.size }) + '\n');
    else if (line === 'gc') gc();
    else if (line === 'quit') rl.close();
  });
  rl.on('close', async () => {
    await server.close({ graceMs: 1000 });
    process.exit(0);
  });
}

/** A full collection, twice (the first may leave finalizers' garbage), for RSS figures. */
function gc() {
  const can = typeof global.gc === 'function';
  if (can) {
    global.gc();
    global.gc();
  }
  process.stdout.write(JSON.stringify({ gc: can }) + '\n');
}

main().catch((e) => {
  console.error(`xdrd-server: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
