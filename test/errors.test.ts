/**
 * lib/errors.ts: the libvirt number tables (against libvirt's own header),
 * the RpcError helpers' exact fields, their XDR round trip, and the exact
 * bytes of one error body.
 */
import * as fs from 'fs';

import {
  ERR_INTERNAL_ERROR,
  ERR_LEVEL_ERROR,
  ERR_RPC,
  ErrorCode,
  ErrorDomain,
  ErrorLevel,
  FROM_RPC,
  RpcError,
  isRpcError,
} from '../lib/errors';
import { parseCEnums } from './helpers/c-enums';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** The fields every helper fills the same way unless the caller overrides them. */
const COMMON = { name: 'RpcError', level: 2, str3: null, int1: -1, int2: -1, dom: null, net: null };

/**
 * libvirt's own header, read at test time: our tables must hold libvirt's
 * numbers, not a copy of themselves. Debian's libvirt-dev installs it
 * (.ci/run does); without it this fails, naming the package.
 */
const VIRTERROR_H = '/usr/include/libvirt/virterror.h';

function libvirtEnums(): Map<string, Map<string, number>> {
  if (!fs.existsSync(VIRTERROR_H)) throw new Error(`${VIRTERROR_H} is missing: apt-get install -y --no-install-recommends libvirt-dev`);
  return parseCEnums(fs.readFileSync(VIRTERROR_H, 'utf8'));
}

/** Each of our entries as [name, value], next to libvirt's value of `prefix + name`. */
function against(ours: Record<string, number>, libvirt: Map<string, number> | undefined, prefix: string): [string, number, number | undefined][] {
  if (libvirt === undefined) throw new Error(`${VIRTERROR_H} has no such enum`);
  return Object.entries(ours).map(([name, value]) => [name, value, libvirt.get(prefix + name)]);
}

describe("number tables, against libvirt's virterror.h", () => {
  const enums = libvirtEnums();

  test('the header parser reads literals, implicit values and references, and refuses what it cannot read', () => {
    const parsed = parseCEnums('typedef enum {\n  A = 0, /* a */\n  B,\n  C = 0x10,\n# ifdef X\n  D = C,\n# endif\n} e;');
    expect([...parsed.get('e')!]).toEqual([['A', 0], ['B', 1], ['C', 16], ['D', 16]]);
    expect(() => parseCEnums('typedef enum { A = 1 << 2 } e;')).toThrow(/cannot read the value of A/);
    expect(enums.get('virErrorNumber')?.size).toBeGreaterThan(100);
  });

  test('ErrorCode: every entry is VIR_ERR_<name> of virErrorNumber', () => {
    for (const [name, ours, libvirt] of against(ErrorCode, enums.get('virErrorNumber'), 'VIR_ERR_')) expect([name, ours]).toEqual([name, libvirt]);
  });

  test('ErrorDomain: every entry is VIR_FROM_<name> of virErrorDomain', () => {
    for (const [name, ours, libvirt] of against(ErrorDomain, enums.get('virErrorDomain'), 'VIR_FROM_')) expect([name, ours]).toEqual([name, libvirt]);
  });

  test('ErrorLevel: every entry is VIR_ERR_<name> of virErrorLevel, and the older single constants agree', () => {
    for (const [name, ours, libvirt] of against(ErrorLevel, enums.get('virErrorLevel'), 'VIR_ERR_')) expect([name, ours]).toEqual([name, libvirt]);
    const codes = enums.get('virErrorNumber')!;
    expect([ERR_INTERNAL_ERROR, ERR_RPC, FROM_RPC, ERR_LEVEL_ERROR]).toEqual([
      codes.get('VIR_ERR_INTERNAL_ERROR'),
      codes.get('VIR_ERR_RPC'),
      enums.get('virErrorDomain')!.get('VIR_FROM_RPC'),
      enums.get('virErrorLevel')!.get('VIR_ERR_ERROR'),
    ]);
  });
});

describe('helpers', () => {
  // [helper, code, the prefix libvirt puts before the detail]
  const prefixed: Array<[string, (d: string, f?: { domain?: number }) => RpcError, number, string]> = [
    ['internal', RpcError.internal, 1, 'internal error: '],
    ['invalidArg', RpcError.invalidArg, 8, 'invalid argument: '],
    ['noSupport', RpcError.noSupport, 3, 'this function is not supported by the connection driver: '],
    ['operationFailed', RpcError.operationFailed, 9, 'operation failed: '],
    ['operationInvalid', RpcError.operationInvalid, 55, 'Requested operation is not valid: '],
    ['operationUnsupported', RpcError.operationUnsupported, 84, 'Operation not supported: '],
    ['accessDenied', RpcError.accessDenied, 88, 'access denied: '],
    ['authFailed', RpcError.authFailed, 45, 'authentication failed: '],
    ['timeout', RpcError.timeout, 68, 'Timed out during operation: '],
  ];

  test.each(prefixed)('%s: code, prefixed message, str1 = "<prefix>%%s", str2 = detail, domain RPC', (_name, make, code, prefix) => {
    const e = make('the detail');
    expect(e.toJSON()).toEqual({
      ...COMMON,
      code,
      domain: 7,
      message: `${prefix}the detail`,
      str1: `${prefix}%s`,
      str2: 'the detail',
    });
    expect(e.name).toBe('RpcError');
    expect(e.message).toBe(`${prefix}the detail`);
    expect(isRpcError(e)).toBe(true);
  });

  test.each(prefixed)('%s: a domain given by the caller replaces RPC', (_name, make, code) => {
    const e = make('x', { domain: ErrorDomain.TEST });
    expect(e.domain).toBe(12);
    expect(e.code).toBe(code);
  });

  test('the caller may set other fields, but not the ones the helper owns', () => {
    const e = RpcError.operationInvalid('domain is not running', { domain: ErrorDomain.DOMAIN, level: ErrorLevel.WARNING, int1: 0, int2: 0 });
    expect(e.toJSON()).toEqual({
      ...COMMON,
      code: 55,
      domain: 20,
      level: 1,
      int1: 0,
      int2: 0,
      message: 'Requested operation is not valid: domain is not running',
      str1: 'Requested operation is not valid: %s',
      str2: 'domain is not running',
    });
  });

  test('rpc: the message is used as is, str1 "%s"', () => {
    expect(RpcError.rpc('Cannot find program 1 version 1').toJSON()).toEqual({
      ...COMMON,
      code: 39,
      domain: 7,
      message: 'Cannot find program 1 version 1',
      str1: '%s',
      str2: 'Cannot find program 1 version 1',
    });
  });

  test('unknownProcedure: what libvirtd sends (code 39, domain 7, "unknown procedure: N", str1 "%s")', () => {
    expect(RpcError.unknownProcedure(9999).toJSON()).toEqual({
      ...COMMON,
      code: 39,
      domain: 7,
      message: 'unknown procedure: 9999',
      str1: '%s',
      str2: 'unknown procedure: 9999',
    });
    expect(RpcError.unknownProcedure(-3).message).toBe('unknown procedure: -3');
  });

  test('shuttingDown: the same fields as the native core\'s refusal (wire.cc ShuttingDownError)', () => {
    expect(RpcError.shuttingDown().toJSON()).toEqual({
      ...COMMON,
      code: 1,
      domain: 7,
      message: 'server is shutting down',
      str1: '%s',
      str2: 'server is shutting down',
    });
  });

  test('toJSON() is what JSON.stringify writes', () => {
    const e = RpcError.invalidArg('flags');
    expect(JSON.parse(JSON.stringify(e))).toEqual({
      ...COMMON,
      code: 8,
      domain: 7,
      message: 'invalid argument: flags',
      str1: 'invalid argument: %s',
      str2: 'flags',
    });
  });
});

describe('XDR', () => {
  const all: Array<[string, RpcError]> = [
    ['internal', RpcError.internal('hypervisor connection not open')],
    ['rpc', RpcError.rpc('Unable to decode message payload')],
    ['invalidArg', RpcError.invalidArg('bad flags')],
    ['noSupport', RpcError.noSupport('virDomainFoo')],
    ['operationFailed', RpcError.operationFailed('disk full')],
    ['operationInvalid', RpcError.operationInvalid('domain is not running')],
    ['operationUnsupported', RpcError.operationUnsupported('no sparse streams')],
    ['accessDenied', RpcError.accessDenied('read-only connection')],
    ['authFailed', RpcError.authFailed('wrong password')],
    ['timeout', RpcError.timeout('no reply in 5000 ms')],
    ['unknownProcedure', RpcError.unknownProcedure(122)],
    ['shuttingDown', RpcError.shuttingDown()],
    ['with domain, level, dom and net', RpcError.operationFailed('é ✓ unicode', {
      domain: ErrorDomain.QEMU,
      level: ErrorLevel.WARNING,
      str3: 'three',
      int1: 7,
      int2: 0,
      dom: { name: 'vm1', uuid: Buffer.alloc(16, 0xab), id: -1 },
      net: { name: 'default', uuid: Buffer.alloc(16, 0xcd) },
    })],
  ];

  test.each(all)('%s: encode then decode gives the same fields', (_name, e) => {
    const back = RpcError.decode(e.encode());
    expect(back.name).toBe('RpcError');
    expect(back.toJSON()).toEqual(e.toJSON());
  });

  test('the exact bytes of RpcError.invalidArg("bad flags")', () => {
    // Same layout as the real libvirtd error body in libvirt-wire.md §4:
    // optional fields are a 0/1 word then the value; strings are a length
    // word, the bytes, and zero padding to a multiple of 4.
    expect(RpcError.invalidArg('bad flags').encode()).toEqual(hex(
      '00000008' + //                  code: INVALID_ARG (8)
      '00000007' + //                  domain: RPC (7)
      '00000001 0000001b' + //         message: present, 27 bytes
      '696e76616c696420617267756d656e743a2062616420666c616773 00' + // "invalid argument: bad flags" + 1 byte padding
      '00000002' + //                  level: ERROR (2)
      '00000000' + //                  dom: NULL
      '00000001 00000014' + //         str1: present, 20 bytes
      '696e76616c696420617267756d656e743a202573' + // "invalid argument: %s" (no padding)
      '00000001 00000009' + //         str2: present, 9 bytes
      '62616420666c616773 000000' + // "bad flags" + 3 bytes padding
      '00000000' + //                  str3: NULL
      'ffffffff' + //                  int1: -1, as libvirtd sends
      'ffffffff' + //                  int2: -1
      '00000000', //                   net: NULL
    ));
  });

  test('unknownProcedure(122) matches the body shape in libvirt-wire.md §11, with str1 and str2 filled as libvirtd does', () => {
    const body = RpcError.unknownProcedure(122).encode();
    // code, domain, message present, 22 bytes: the start of the body in the doc.
    expect(body.subarray(0, 16)).toEqual(hex('00000027 00000007 00000001 00000016'));
    expect(body.subarray(16, 38).toString('latin1')).toBe('unknown procedure: 122');
    expect(body.subarray(38, 48)).toEqual(hex('0000 00000002 00000000')); // padding, level 2, dom NULL
  });
});
