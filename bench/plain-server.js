'use strict';
/**
 * plain-server.js — the bench program on a plain Node `net` server: what a
 * good Node engineer would write instead of using xdrd, so the benchmark
 * compares xdrd with the real alternative and not with a straw man.
 *
 * Choices, each for speed without giving up correctness:
 *  1. Frames are parsed straight out of each 'data' chunk with an offset:
 *     every complete frame of the event is handled in one pass and no frame
 *     is copied or Buffer.concat'ed. Only the unfinished tail of a chunk is
 *     copied, into one per-connection buffer that grows (doubling, or at
 *     once to the frame's announced length) and is read with an offset too.
 *  2. Handler arguments are `subarray` views into the chunk or that buffer.
 *     Bytes once handed out are never written again (the buffer is replaced,
 *     not reused, when frames have been taken from it), so a reply that
 *     points into them stays valid while it waits in the socket's queue.
 *  3. Handlers run synchronously, in arrival order, inside the 'data' event.
 *  4. All replies of one event are written under one cork()/uncork(), so
 *     they leave in one writev. Small replies (header + body up to 1 KiB)
 *     are packed into one Buffer per event; a large body is written as its
 *     own chunk after a 28-byte header, never copied.
 *  5. Backpressure: when write() reports the socket's queue above its
 *     high-water mark the socket is paused until 'drain'.
 *  6. Protocol checks a real server needs: length word bounds (28 bytes to
 *     32 MiB + 4, libvirt's VIR_NET_MESSAGE_MAX), only CALLs with status OK
 *     are run, an unknown program or procedure or an undecodable body gets
 *     an error reply (libvirt's remote_error) instead of a hang.
 *  7. The header codec and the protocol constants are xdrd's
 *     lib/libvirt/wire.ts, compiled (dist/lib/libvirt/wire.js: plain JS, no
 *     addon), so libvirt's framing is written once in the repo; what a Node
 *     engineer writes in its place is the same dozen Buffer reads and writes.
 *
 * Procedures of the bench program (the same in all three bench servers):
 *   1 NOOP  empty args; returns an unsigned hyper (8 bytes), a constant
 *   2 ECHO  args: opaque data<>; returns the same opaque (length checked)
 *   3 GET_INFO, 4 LIST: the typed workloads (typed-program.js), with
 *           xdrd's TypeScript codec (--codec xdr: what a Node user of the
 *           library writes) or hand-written Buffer code (--codec hand, the
 *           default)
 *
 * Control (bench/run.js): argv --socket PATH [--codec xdr|hand]. Prints
 * {"ready":true,"pid":...} once listening; stdin "stats" prints the call
 * count and the open connections; "gc" runs global.gc() (with
 * --expose-gc) and prints {"gc":true|false}; stdin EOF or "quit" closes
 * the server and exits.
 */
const net = require('net');
const fs = require('fs');
const path = require('path');
const readline = require('readline');

const {
  MAX_MESSAGE_BYTES,
  MIN_FRAME_BYTES,
  STATUS_ERROR,
  STATUS_OK,
  TYPE_CALL,
  TYPE_REPLY,
  readHeader,
  writeFrameHeader,
} = require(path.join(__dirname, '..', 'dist', 'lib', 'libvirt', 'wire'));

const BENCH_PROGRAM = 0x62656e63; // "benc"
const BENCH_VERSION = 1;
const PROC_NOOP = 1;
const PROC_ECHO = 2;

const MAX_FRAME = MAX_MESSAGE_BYTES + 4; // the length word counts itself
const SMALL_REPLY = 1024; // bodies up to this are packed, not written alone
const PACK_SIZE = 16 * 1024;

const NOOP_VALUE = Buffer.from('0123456789abcdef', 'hex');

class RpcFailure extends Error {}

const typed = require('./typed-program');

// GET_INFO and LIST (typed-program.js): with xdrd's TypeScript codec
// (--codec xdr) or hand-written Buffer code (--codec hand, the default).
const codecArg = process.argv.indexOf('--codec') > 0 ? process.argv[process.argv.indexOf('--codec') + 1] : 'hand';
if (codecArg !== 'xdr' && codecArg !== 'hand') {
  console.error(`plain-server: --codec must be xdr or hand, got ${codecArg}`);
  process.exit(2);
}
const typedWork =
  codecArg === 'xdr'
    ? typed.codecHandlers(require(path.join(__dirname, '..', 'dist', 'lib')).xdr, (m) => new RpcFailure(m))
    : typed.handHandlers((m) => new RpcFailure(m));

const handlers = new Map([
  [typed.PROC_GET_INFO, typedWork.getInfo],
  [typed.PROC_LIST, typedWork.list],
  [PROC_NOOP, () => NOOP_VALUE],
  [
    PROC_ECHO,
    (body) => {
      // opaque<>: length, bytes, zero padding to a multiple of 4.
      if (body.length < 4 || ((body.readUInt32BE(0) + 3) & ~3) !== body.length - 4) throw new RpcFailure('Unable to decode message payload');
      return body;
    },
  ],
]);

/** libvirt's remote_error with code RPC (39), domain RPC (7), level ERROR. */
function encodeError(message) {
  const text = Buffer.from(message, 'utf8');
  const padded = (text.length + 3) & ~3;
  const b = Buffer.alloc(4 * 4 + padded + 4 * 8);
  let o = 0;
  o = b.writeInt32BE(39, o); // code
  o = b.writeInt32BE(7, o); // domain
  o = b.writeUInt32BE(1, o); // message: present
  o = b.writeUInt32BE(text.length, o);
  text.copy(b, o);
  o += padded;
  o = b.writeInt32BE(2, o); // level ERROR
  o = b.writeUInt32BE(0, o); // dom: NULL
  o = b.writeUInt32BE(0, o); // str1
  o = b.writeUInt32BE(0, o); // str2
  o = b.writeUInt32BE(0, o); // str3
  o = b.writeInt32BE(-1, o); // int1
  o = b.writeInt32BE(-1, o); // int2
  b.writeUInt32BE(0, o); // net: NULL
  return b;
}

let callsAnswered = 0;

/** One connection: the parser state and the replies of the current event. */
class Connection {
  constructor(socket) {
    this.socket = socket;
    this.tail = null; // bytes of an unfinished frame: tail[0, tailLen)
    this.tailLen = 0;
    this.pack = null; // small replies of this event: pack[0, packLen)
    this.packLen = 0;
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('drain', () => socket.resume());
  }

  onData(chunk) {
    let buf = chunk;
    let end = chunk.length;
    if (this.tailLen > 0) {
      this.append(chunk);
      buf = this.tail;
      end = this.tailLen;
    }
    const socket = this.socket;
    socket.cork();
    let off = 0;
    while (end - off >= 4) {
      const len = buf.readUInt32BE(off);
      if (len < MIN_FRAME_BYTES || len > MAX_FRAME) {
        socket.destroy();
        return;
      }
      if (end - off < len) break;
      this.frame(buf, off, len);
      off += len;
    }
    this.flushPack();
    socket.uncork();
    if (socket.writableNeedDrain) socket.pause();
    this.keepTail(buf, off, end);
  }

  /** Adds a chunk after the unfinished frame in `tail`, growing it if needed. */
  append(chunk) {
    const need = this.tailLen + chunk.length;
    if (need > this.tail.length) {
      let size = this.tail.length * 2;
      if (this.tailLen >= 4) size = Math.max(size, Math.min(this.tail.readUInt32BE(0), MAX_FRAME));
      const grown = Buffer.allocUnsafe(Math.max(size, need));
      this.tail.copy(grown, 0, 0, this.tailLen);
      this.tail = grown;
    }
    chunk.copy(this.tail, this.tailLen);
    this.tailLen = need;
  }

  /** Keeps buf[off, end) for the next event, in a buffer no reply points into. */
  keepTail(buf, off, end) {
    const rest = end - off;
    if (rest === 0) {
      this.tail = null;
      this.tailLen = 0;
      return;
    }
    if (buf === this.tail && off === 0) return; // nothing taken: keep appending
    // Room for the whole frame when its length is known, so it is copied once.
    const want = rest >= 4 ? Math.min(buf.readUInt32BE(off), MAX_FRAME) : 0;
    const fresh = Buffer.allocUnsafe(Math.max(want, rest, 4096));
    buf.copy(fresh, 0, off, end);
    this.tail = fresh;
    this.tailLen = rest;
  }

  frame(buf, off, len) {
    const { program: prog, version: vers, procedure: proc, type, serial, status } = readHeader(buf, off + 4);
    if (type !== TYPE_CALL) return; // replies, events, streams: nothing to run
    let result;
    let replyStatus = STATUS_OK;
    try {
      if (status !== STATUS_OK) throw new RpcFailure(`Unexpected message status ${status}`);
      if (prog !== BENCH_PROGRAM || vers !== BENCH_VERSION) throw new RpcFailure(`Cannot find program ${prog | 0} version ${vers | 0}`);
      const handler = handlers.get(proc);
      if (handler === undefined) throw new RpcFailure(`unknown procedure: ${proc}`);
      result = handler(buf.subarray(off + MIN_FRAME_BYTES, off + len));
    } catch (e) {
      result = encodeError(e instanceof RpcFailure ? e.message : `internal error: ${e && e.message}`);
      replyStatus = STATUS_ERROR;
    }
    this.reply(prog, vers, proc, serial, replyStatus, result);
    callsAnswered++;
  }

  reply(prog, vers, proc, serial, status, body) {
    const total = MIN_FRAME_BYTES + body.length;
    let header;
    let at;
    if (body.length <= SMALL_REPLY) {
      if (this.pack === null || this.packLen + total > this.pack.length) {
        this.flushPack();
        this.pack = Buffer.allocUnsafe(Math.max(PACK_SIZE, total));
      }
      header = this.pack;
      at = this.packLen;
      body.copy(this.pack, at + MIN_FRAME_BYTES);
      this.packLen += total;
    } else {
      this.flushPack(); // keep replies in the order they were made
      header = Buffer.allocUnsafe(MIN_FRAME_BYTES);
      at = 0;
    }
    writeFrameHeader(header, at, { program: prog, version: vers, procedure: proc, type: TYPE_REPLY, serial, status }, body.length);
    if (body.length > SMALL_REPLY) {
      this.socket.write(header);
      this.socket.write(body);
    }
  }

  /** Writes the packed small replies; their bytes are never written again (only the unused rest of the pack is kept). */
  flushPack() {
    if (this.packLen === 0) return;
    this.socket.write(this.pack.subarray(0, this.packLen));
    this.pack = this.pack.length - this.packLen >= 256 ? this.pack.subarray(this.packLen) : null;
    this.packLen = 0;
  }
}

function main() {
  const i = process.argv.indexOf('--socket');
  const socketPath = i > 0 ? process.argv[i + 1] : undefined;
  if (!socketPath) {
    console.error('usage: node plain-server.js --socket PATH');
    process.exit(2);
  }
  const server = net.createServer((socket) => new Connection(socket));
  server.on('error', (e) => {
    console.error(`plain-server: ${e.message}`);
    process.exit(1);
  });
  server.listen(socketPath, () => {
    fs.chmodSync(socketPath, 0o600);
    process.stdout.write(JSON.stringify({ ready: true, pid: process.pid, settings: {} }) + '\n');
  });
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    // Counted by net.Server itself, so the count costs a connection nothing.
    if (line === 'stats') server.getConnections((_e, n) => process.stdout.write(JSON.stringify({ calls: callsAnswered, connections: n }) + '\n'));
    else if (line === 'gc') {
      const can = typeof global.gc === 'function';
      if (can) {
        global.gc();
        global.gc();
      }
      process.stdout.write(JSON.stringify({ gc: can }) + '\n');
    } else if (line === 'quit') rl.close();
  });
  rl.on('close', () => {
    server.close();
    process.exit(0);
  });
}

main();
