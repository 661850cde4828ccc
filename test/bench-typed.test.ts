/**
 * The typed bench workloads (bench/typed-program.js): the bytes the load
 * generator sends and expects are written by hand there; here they are
 * checked against the codec, and the hand-written handlers against the
 * codec-based ones, so a wrong figure in the bench cannot come from a wrong
 * workload.
 */
import { xdr } from '../lib';

// A plain CommonJS script shared by the bench servers.
const typed = require('../bench/typed-program.js') as {
  PROC_GET_INFO: number;
  PROC_LIST: number;
  GET_INFO_ID: number;
  GET_INFO_ARGS_HEX: string;
  GET_INFO_REPLY_HEX: string;
  LIST_REPLY_HEX: string;
  domains: { name: string; uuid: Buffer; id: number }[];
  infoOf(id: number): unknown;
  schemas(x: typeof xdr): { domain: xdr.Schema; info: xdr.Schema; list: xdr.Schema };
  handHandlers(fail: (m: string) => Error): { getInfo(b: Buffer): Buffer; list(b: Buffer): Buffer };
  codecHandlers(x: typeof xdr, fail: (m: string) => Error): { getInfo(b: Buffer): Buffer; list(b: Buffer): Buffer };
};

const schemas = typed.schemas(xdr);
const hex = (h: string): Buffer => Buffer.from(h, 'hex');
const fail = (m: string): Error => new Error(m);

test('the 100 domains have names of 8 to 16 ASCII characters and distinct ids', () => {
  expect(typed.domains).toHaveLength(100);
  const lengths = typed.domains.map((d) => d.name.length);
  expect(Math.min(...lengths)).toBe(8);
  expect(Math.max(...lengths)).toBe(16);
  for (const d of typed.domains) expect(d.name).toMatch(/^[\x21-\x7e]+$/);
  expect(new Set(typed.domains.map((d) => d.id)).size).toBe(100);
});

test("GET_INFO's arguments and reply bytes are the codec's", () => {
  const d = typed.domains[typed.GET_INFO_ID - 1]!;
  expect(xdr.encode(schemas.domain, d as never).toString('hex')).toBe(typed.GET_INFO_ARGS_HEX);
  expect(xdr.encode(schemas.info, typed.infoOf(typed.GET_INFO_ID) as never).toString('hex')).toBe(typed.GET_INFO_REPLY_HEX);
  // 4 + 8 + 8 + 4 + 8 bytes: every field a whole XDR word or two.
  expect(hex(typed.GET_INFO_REPLY_HEX)).toHaveLength(32);
});

test("LIST's reply bytes are the codec's encoding of the domain table", () => {
  expect(xdr.encode(schemas.list, typed.domains as never).toString('hex')).toBe(typed.LIST_REPLY_HEX);
});

test.each([
  ['hand-written', typed.handHandlers(fail)],
  ['codec', typed.codecHandlers(xdr, fail)],
])('the %s handlers answer the load generator\'s calls with the expected bytes', (_name, h) => {
  expect(h.getInfo(hex(typed.GET_INFO_ARGS_HEX)).toString('hex')).toBe(typed.GET_INFO_REPLY_HEX);
  expect(h.list(Buffer.alloc(0)).toString('hex')).toBe(typed.LIST_REPLY_HEX);
});

test.each([
  ['hand-written', typed.handHandlers(fail)],
  ['codec', typed.codecHandlers(xdr, fail)],
])('the %s handlers refuse what does not decode or names no domain', (_name, h) => {
  const args = hex(typed.GET_INFO_ARGS_HEX);
  const otherId = Buffer.from(args);
  otherId.writeInt32BE(typed.GET_INFO_ID + 1, args.length - 4);
  expect(() => h.getInfo(otherId)).toThrow(/no domain with name/);
  expect(() => h.getInfo(args.subarray(0, args.length - 4))).toThrow(/Unable to decode message payload/);
  const tooLong = Buffer.from(args);
  tooLong.writeUInt32BE(65, 0);
  expect(() => h.getInfo(tooLong)).toThrow(/Unable to decode message payload/);
  const badPad = Buffer.from(args);
  const nameLength = args.readUInt32BE(0);
  if (nameLength % 4 !== 0) {
    badPad[4 + nameLength] = 1;
    expect(() => h.getInfo(badPad)).toThrow(/Unable to decode message payload/);
  }
  expect(() => h.list(Buffer.alloc(4))).toThrow(/Unable to decode message payload/);
});
