'use strict';
/**
 * typed-program.js — the typed workloads of issue 20, shared by the bench
 * servers (xdrd-server.js --typed, plain-server.js) and run.js.
 *
 * Two procedures of the bench program, shaped like libvirt's busiest ones:
 *   3 GET_INFO  args { name: string<64>, uuid: opaque[16], id: int }
 *               result { state: unsigned char, maxMem: unsigned hyper,
 *                 memory: unsigned hyper, nrVirtCpu: unsigned short,
 *                 cpuTime: unsigned hyper }
 *               (virDomainGetInfo's reply, looked up by a domain reference)
 *   4 LIST      args void; result array<100> of { name, uuid, id }: always
 *               the 100 domains, names of 8 to 16 ASCII characters
 *               (virConnectListAllDomains' reply)
 *
 * The work is the same in every server: GET_INFO finds the domain by id,
 * checks that the name and uuid match (a mismatch is an error reply) and
 * returns its info; LIST returns the domain table. The domain table is
 * built here, once, from the id alone, so every server holds the same.
 *
 * Three ways of doing that work, which run.js compares:
 *   xdrd typed     defineProgram + handle(): arguments decoded on xdrd's
 *                  workers, results encoded by xdrd (xdrd-server.js --typed)
 *   plain codec    a plain Node server decoding and encoding with xdrd's
 *                  TypeScript codec (xdr.decode / xdr.encode), what a Node
 *                  user of this library would write (plain-server.js
 *                  --codec xdr)
 *   plain hand     a plain Node server with hand-written Buffer reads and
 *                  writes (plain-server.js --codec hand)
 *
 * The load generator sends GET_INFO for GET_INFO_ID every time, and checks
 * every reply against the bytes here (written by hand below, not by the
 * codec under test).
 */
const { isUtf8 } = require('buffer');

const PROC_GET_INFO = 3;
const PROC_LIST = 4;
const DOMAINS = 100;
const NAME_MAX = 64;
/** The domain every GET_INFO of the load generator asks for. */
const GET_INFO_ID = 42;

/** Domain `id` (1..100): a name of 8 to 16 ASCII characters and a uuid from the id. */
function domainOf(id) {
  const name = `vm-${String(id).padStart(3, '0')}-${'abcdefghi'.slice(0, id % 10)}`.padEnd(8, 'x');
  const uuid = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) uuid[i] = (id * 37 + i * 11) & 0xff;
  return { name, uuid, id };
}

/** What GET_INFO answers for domain `id` (unsigned hypers as bigints, as the codec has them). */
function infoOf(id) {
  return {
    state: 1 + (id % 7),
    maxMem: 8388608n,
    memory: 4194304n + BigInt(id) * 1024n,
    nrVirtCpu: 1 + (id % 16),
    cpuTime: 1000000000n * BigInt(id) + 123456789n,
  };
}

const domains = Array.from({ length: DOMAINS }, (_, i) => domainOf(i + 1));

// ---- The wire forms, written by hand -------------------------------------------

function padded(n) {
  return (n + 3) & ~3;
}

/** A domain reference as XDR: string<64> name, opaque[16] uuid, int id. */
function domainBytes(d) {
  const name = Buffer.from(d.name, 'ascii');
  const out = Buffer.alloc(4 + padded(name.length) + 16 + 4);
  let at = out.writeUInt32BE(name.length, 0);
  name.copy(out, at);
  at += padded(name.length);
  d.uuid.copy(out, at);
  at += 16;
  out.writeInt32BE(d.id, at);
  return out;
}

/** GET_INFO's result as XDR: each field a 4- or 8-byte big-endian word. */
function infoBytes(info) {
  const out = Buffer.alloc(4 + 8 + 8 + 4 + 8);
  let at = out.writeUInt32BE(info.state, 0);
  at = out.writeBigUInt64BE(info.maxMem, at);
  at = out.writeBigUInt64BE(info.memory, at);
  at = out.writeUInt32BE(info.nrVirtCpu, at);
  out.writeBigUInt64BE(info.cpuTime, at);
  return out;
}

/** LIST's result as XDR: the count, then each domain. */
function listBytes() {
  const count = Buffer.alloc(4);
  count.writeUInt32BE(domains.length, 0);
  return Buffer.concat([count, ...domains.map(domainBytes)]);
}

/** The arguments the load generator sends with every GET_INFO. */
const GET_INFO_ARGS_HEX = domainBytes(domains[GET_INFO_ID - 1]).toString('hex');
/** The replies it expects. */
const GET_INFO_REPLY_HEX = infoBytes(infoOf(GET_INFO_ID)).toString('hex');
const LIST_REPLY_HEX = listBytes().toString('hex');

// ---- The schemas, for the two servers that use xdrd's codec ----------------------

/** The schemas, built with the given `xdr` namespace (dist/lib's). */
function schemas(xdr) {
  const domain = xdr.struct({ name: xdr.string(NAME_MAX), uuid: xdr.fixedOpaque(16), id: xdr.int() });
  const info = xdr.struct({ state: xdr.uchar(), maxMem: xdr.uhyper(), memory: xdr.uhyper(), nrVirtCpu: xdr.ushort(), cpuTime: xdr.uhyper() });
  return { domain, info, list: xdr.array(domain, DOMAINS) };
}

/** The domain table with each domain's info, by id. */
function domainTable() {
  return new Map(domains.map((d) => [d.id, { domain: d, info: infoOf(d.id) }]));
}

/**
 * GET_INFO's work on decoded arguments: the info of the domain they name,
 * or undefined when no domain matches all three fields.
 */
function lookUp(table, name, uuid, id) {
  const entry = table.get(id);
  if (entry === undefined || entry.domain.name !== name || !entry.domain.uuid.equals(uuid)) return undefined;
  return entry.info;
}

// ---- Hand-written handlers: Buffer reads and writes, no codec ---------------------

/**
 * GET_INFO and LIST as raw handlers (body in, reply body out) with the
 * checks a careful hand-written server makes: bounds, the string's maximum,
 * zero padding, valid UTF-8, no trailing bytes. `fail(message)` makes the
 * error the server throws for an error reply.
 */
function handHandlers(fail) {
  const table = domainTable();
  const getInfo = (body) => {
    const end = body.length;
    if (end < 4) throw fail('Unable to decode message payload: the name is cut short');
    const n = body.readUInt32BE(0);
    if (n > NAME_MAX) throw fail(`Unable to decode message payload: name longer than ${NAME_MAX}`);
    const at = 4 + padded(n);
    if (end !== at + 16 + 4) throw fail('Unable to decode message payload: wrong length');
    for (let i = 4 + n; i < at; i++) if (body[i] !== 0) throw fail('Unable to decode message payload: non-zero padding');
    const nameBytes = body.subarray(4, 4 + n);
    if (!isUtf8(nameBytes)) throw fail('Unable to decode message payload: the name is not UTF-8');
    const name = nameBytes.toString('utf8');
    const uuid = body.subarray(at, at + 16);
    const id = body.readInt32BE(at + 16);
    const info = lookUp(table, name, uuid, id);
    if (info === undefined) throw fail(`no domain with name '${name}' and id ${id}`);
    const out = Buffer.allocUnsafe(32);
    let o = out.writeUInt32BE(info.state, 0);
    o = out.writeBigUInt64BE(info.maxMem, o);
    o = out.writeBigUInt64BE(info.memory, o);
    o = out.writeUInt32BE(info.nrVirtCpu, o);
    out.writeBigUInt64BE(info.cpuTime, o);
    return out;
  };
  const list = (body) => {
    if (body.length !== 0) throw fail('Unable to decode message payload: LIST takes no arguments');
    let size = 4;
    for (const d of domains) size += 4 + padded(Buffer.byteLength(d.name, 'utf8')) + 16 + 4;
    const out = Buffer.allocUnsafe(size);
    let o = out.writeUInt32BE(domains.length, 0);
    for (const d of domains) {
      const n = out.write(d.name, o + 4, 'utf8');
      out.writeUInt32BE(n, o);
      o += 4 + n;
      for (const end = o + ((4 - (n & 3)) & 3); o < end; o++) out[o] = 0;
      o += d.uuid.copy(out, o);
      o = out.writeInt32BE(d.id, o);
    }
    return out;
  };
  return { getInfo, list };
}

/**
 * GET_INFO and LIST with xdrd's TypeScript codec (`xdr` from dist/lib), as
 * raw handlers for a plain Node server: decode, the same work, encode.
 */
function codecHandlers(xdr, fail) {
  const table = domainTable();
  const s = schemas(xdr);
  const getInfo = (body) => {
    let args;
    try {
      args = xdr.decode(s.domain, body, { name: 'args' });
    } catch (e) {
      throw fail(`Unable to decode message payload: ${e.message}`);
    }
    const info = lookUp(table, args.name, args.uuid, args.id);
    if (info === undefined) throw fail(`no domain with name '${args.name}' and id ${args.id}`);
    return xdr.encode(s.info, info);
  };
  const list = (body) => {
    if (body.length !== 0) throw fail('Unable to decode message payload: LIST takes no arguments');
    return xdr.encode(s.list, domains);
  };
  return { getInfo, list };
}

module.exports = {
  handHandlers,
  codecHandlers,
  PROC_GET_INFO,
  PROC_LIST,
  DOMAINS,
  NAME_MAX,
  GET_INFO_ID,
  GET_INFO_ARGS_HEX,
  GET_INFO_REPLY_HEX,
  LIST_REPLY_HEX,
  domains,
  infoOf,
  domainTable,
  lookUp,
  schemas,
};
