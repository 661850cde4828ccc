/**
 * Hostile inputs: bytes a decoder must reject, with the exact error.
 * Like golden.ts, this is data for every decoder of the project: `path` and
 * `reason` are the TypeScript codec's wording, `offset` is where the
 * offending item starts in the input.
 */
import { xdr } from '../../lib';
import type { Schema } from '../../lib';
import { parseHex } from './hex';
import * as lv from './libvirt';

export interface HostileVector {
  readonly name: string;
  readonly schema: Schema;
  /** Annotated hex of the input. */
  readonly hex: string;
  readonly bytes: Buffer;
  readonly options?: xdr.CodecOptions;
  readonly path: string;
  readonly reason: string;
  readonly offset: number;
}

function hostile(
  name: string,
  schema: Schema,
  hex: string,
  expected: { path: string; reason: string; offset: number },
  options?: xdr.CodecOptions,
): HostileVector {
  return { name, schema, hex, bytes: parseHex(hex), options, ...expected };
}

const Pair = xdr.struct({ a: xdr.int(), b: xdr.int() });
const Color = xdr.enum({ RED: 0, GREEN: 1, BLUE: 2 });
const NoDefault = xdr.union(xdr.int(), [xdr.arm(1, xdr.int()), xdr.arm(2, xdr.void())]);
const ByKind = xdr.union(xdr.enum({ TEXT: 0, DATA: 1 }), [xdr.arm('TEXT', xdr.void()), xdr.arm('DATA', xdr.opaque())]);
const ByBool = xdr.union(xdr.bool(), [xdr.arm(true, xdr.int())], { default: xdr.void() });
const List = xdr.recursive((self) => xdr.struct({ value: xdr.int(), next: xdr.optional(self) }));
const Disks = xdr.struct({ disks: xdr.array(xdr.struct({ name: xdr.string(256) }), 16) });

export const hostileVectors: readonly HostileVector[] = [
  // --- truncation -----------------------------------------------------------
  hostile('empty input', xdr.int(), ``, { path: 'value', reason: 'unexpected end of input: need 4 bytes, 0 left', offset: 0 }),
  hostile(
    'truncated struct',
    Pair,
    `
    00000001  # a
    0000      # b: only 2 of 4 bytes
    `,
    { path: 'value.b', reason: 'unexpected end of input: need 4 bytes, 2 left', offset: 4 },
  ),
  hostile('truncated hyper', xdr.hyper(), `00000000  # 4 of 8 bytes`, {
    path: 'value',
    reason: 'unexpected end of input: need 8 bytes, 4 left',
    offset: 0,
  }),
  hostile(
    'truncated error struct, inside the message',
    lv.remote_error,
    `
    0000002a  # code
    0000000c  # domain
    00000001  # message present
    00000010  #   length 16
    446f6d61  #   only 4 of the 16 bytes
    `,
    { path: 'value.message', reason: 'string of 16 bytes exceeds the 4 bytes left', offset: 12 },
  ),
  hostile('truncated fixed-length opaque', lv.remote_uuid, `6695eb01 f6a48304  # 8 of 16 bytes`, {
    path: 'value',
    reason: 'fixed-length opaque of 16 bytes exceeds the 8 bytes left',
    offset: 0,
  }),
  hostile(
    'string without its padding',
    xdr.string(),
    `
    00000003  # length 3
    616263    # "abc", the padding byte is missing
    `,
    { path: 'value', reason: 'string of 3 bytes (4 with padding) exceeds the 3 bytes left', offset: 0 },
  ),

  // --- lengths and counts -----------------------------------------------------
  hostile(
    'opaque length far beyond the end (checked before any allocation)',
    xdr.opaque(),
    `
    fffffff0  # length 4294967280, allowed by opaque<> but not by the input
    00000000  # 4 bytes are all there is
    `,
    { path: 'value', reason: 'opaque of 4294967280 bytes exceeds the 4 bytes left', offset: 0 },
  ),
  hostile(
    'string over its maximum',
    xdr.string(256),
    `
    0000012c  # length 300 > 256; the check comes before the data is looked at
    `,
    { path: 'value', reason: 'string longer than 256 (300 bytes)', offset: 0 },
  ),
  hostile(
    'string over its maximum, deep inside',
    Disks,
    `
    00000004           # disks: count 4
    00000001 61000000  #   [0] name "a"
    00000001 62000000  #   [1] name "b"
    00000001 63000000  #   [2] name "c"
    00000101           #   [3] name: length 257
    `,
    { path: 'args.disks[3].name', reason: 'string longer than 256 (257 bytes)', offset: 28 },
    { name: 'args' },
  ),
  hostile('opaque over its maximum', xdr.opaque(16), `00000011  # length 17 > 16`, {
    path: 'value',
    reason: 'opaque longer than 16 (17 bytes)',
    offset: 0,
  }),
  hostile(
    'array count 2^32-1 (checked against the bytes left)',
    xdr.array(xdr.int()),
    `
    ffffffff  # count 4294967295, allowed by int<>
    00000001  # one element's worth of bytes
    `,
    { path: 'value', reason: 'array count 4294967295 needs at least 17179869180 bytes, 4 left', offset: 0 },
  ),
  hostile('array count over its maximum', lv.remote_connect_list_domains_ret, `00004001  # ids: count 16385 > 16384`, {
    path: 'value.ids',
    reason: 'array longer than 16384 (16385 elements)',
    offset: 0,
  }),
  hostile(
    'char array count beyond the end',
    lv.remote_node_get_security_model_ret,
    `
    00000101  # model: count 257 (the maximum), 1028 bytes needed
    00000074  # 't'
    `,
    { path: 'value.model', reason: 'array count 257 needs at least 1028 bytes, 4 left', offset: 0 },
  ),

  // --- values out of their domain ---------------------------------------------
  hostile('bad enum value', Color, `00000007  # no member is 7`, { path: 'value', reason: 'bad enum value 7', offset: 0 }),
  hostile('negative enum value', Color, `ffffffff  # -1`, { path: 'value', reason: 'bad enum value -1', offset: 0 }),
  hostile('bool 2', xdr.bool(), `00000002`, { path: 'value', reason: 'bad bool 2 (must be 0 or 1)', offset: 0 }),
  hostile('bool -1', xdr.bool(), `ffffffff`, { path: 'value', reason: 'bad bool -1 (must be 0 or 1)', offset: 0 }),
  hostile('optional flag 2', lv.remote_string, `00000002  # neither NULL nor present`, {
    path: 'value',
    reason: 'bad optional flag 2 (must be 0 or 1)',
    offset: 0,
  }),
  hostile('union discriminant with no arm and no default', NoDefault, `00000009  # only 1 and 2 have arms`, {
    path: 'value',
    reason: 'bad union discriminant 9',
    offset: 0,
  }),
  hostile('union enum discriminant not a member', ByKind, `00000005  # TEXT = 0, DATA = 1`, {
    path: 'value.tag',
    reason: 'bad enum value 5',
    offset: 0,
  }),
  hostile('union bool discriminant 2', ByBool, `00000002`, { path: 'value.tag', reason: 'bad bool 2 (must be 0 or 1)', offset: 0 }),
  hostile(
    'union arm body truncated',
    ByKind,
    `
    00000001  # DATA
    000000    # opaque length: 3 of 4 bytes
    `,
    { path: 'value.value', reason: 'unexpected end of input: need 4 bytes, 3 left', offset: 4 },
  ),
  hostile('char 128', xdr.char(), `00000080`, { path: 'value', reason: 'char out of range: 128', offset: 0 }),
  hostile('char -129', xdr.char(), `ffffff7f`, { path: 'value', reason: 'char out of range: -129', offset: 0 }),
  hostile('unsigned char 256', xdr.uchar(), `00000100`, { path: 'value', reason: 'unsigned char out of range: 256', offset: 0 }),
  hostile('short 32768', xdr.short(), `00008000`, { path: 'value', reason: 'short out of range: 32768', offset: 0 }),
  hostile('unsigned short 2^32-1', xdr.ushort(), `ffffffff`, {
    path: 'value',
    reason: 'unsigned short out of range: 4294967295',
    offset: 0,
  }),
  hostile(
    'GET_INFO state out of unsigned char range',
    lv.remote_domain_get_info_ret,
    `
    00000101           # state 257
    `,
    { path: 'value.state', reason: 'unsigned char out of range: 257', offset: 0 },
  ),

  // --- padding and trailing bytes -----------------------------------------------
  hostile(
    'non-zero padding after a string',
    xdr.string(),
    `
    00000002  # length 2
    766d      # "vm"
    0001      # padding must be zero
    `,
    { path: 'value', reason: 'non-zero padding', offset: 7 },
  ),
  hostile(
    'non-zero padding after variable-length opaque',
    xdr.opaque(),
    `
    00000001  # length 1
    ff        # data
    800000    # padding must be zero
    `,
    { path: 'value', reason: 'non-zero padding', offset: 5 },
  ),
  hostile('non-zero padding after fixed-length opaque', xdr.fixedOpaque(3), `010203 01  # 3 bytes + bad padding`, {
    path: 'value',
    reason: 'non-zero padding',
    offset: 3,
  }),
  hostile(
    'trailing bytes',
    xdr.int(),
    `
    00000001  # the int
    00000000  # one word too many
    `,
    { path: 'value', reason: '4 trailing bytes after the value', offset: 4 },
  ),
  hostile(
    'one trailing byte',
    lv.remote_domain_get_state_ret,
    `
    00000001 00000001  # state, reason
    00                 # extra byte
    `,
    { path: 'value', reason: '1 trailing byte after the value', offset: 8 },
  ),

  // --- recursion --------------------------------------------------------------------
  hostile(
    'recursion past the limit',
    List,
    `
    00000001 00000001  # node 1 (depth 1), next present
    00000002 00000001  # node 2 (depth 2), next present
    00000003 00000001  # node 3 (depth 3), next present
    00000004 00000000  # node 4 would be depth 4
    `,
    { path: 'value.next.next.next', reason: 'recursion deeper than 3', offset: 24 },
    { maxDepth: 3 },
  ),

  // --- UTF-8 ------------------------------------------------------------------------
  hostile(
    'invalid UTF-8: a byte that never appears',
    xdr.string(),
    `
    00000001
    ff000000  # 0xff + padding
    `,
    { path: 'value', reason: 'string is not valid UTF-8', offset: 0 },
  ),
  hostile(
    'invalid UTF-8: overlong NUL',
    xdr.string(),
    `
    00000002
    c0800000  # C0 80 + padding
    `,
    { path: 'value', reason: 'string is not valid UTF-8', offset: 0 },
  ),
  hostile(
    'invalid UTF-8: encoded surrogate',
    xdr.string(),
    `
    00000003
    eda08000  # U+D800 as ED A0 80 + padding
    `,
    { path: 'value', reason: 'string is not valid UTF-8', offset: 0 },
  ),
  hostile(
    'invalid UTF-8: sequence cut short',
    lv.remote_connect_get_hostname_ret,
    `
    00000002
    e6970000  # 2 of the 3 bytes of "日" + padding
    `,
    { path: 'value.hostname', reason: 'string is not valid UTF-8', offset: 0 },
  ),
];
