/**
 * Golden vectors: (schema, value, exact bytes). The contract every XDR codec
 * of this project must meet, the TypeScript one now and the native one later:
 * encode(value) gives exactly these bytes, decode(bytes) gives back the value.
 *
 * Each byte string is annotated hex (see hex.ts): one field per line with a
 * comment. Sources of the expected bytes: RFC 4506 (the encoding rules and
 * the §7 example) and /work/shared/libvirt-wire.md (§2, §4, §6, §11), whose
 * libvirt bytes were captured from a real libvirtd 9.0.
 */
import { xdr } from '../../lib';
import type { Schema, Static } from '../../lib';
import { chars, parseHex } from './hex';
import * as lv from './libvirt';

export interface GoldenVector {
  readonly name: string;
  readonly schema: Schema;
  readonly value: unknown;
  /** Annotated hex of the exact encoding. */
  readonly hex: string;
  /** The bytes of `hex`. */
  readonly bytes: Buffer;
}

/** Type-checks `value` against `schema`. */
function vector<S extends Schema>(name: string, schema: S, value: Static<S>, hex: string): GoldenVector {
  return { name, schema, value, hex, bytes: parseHex(hex) };
}

const b = (hex: string): Buffer => Buffer.from(hex, 'hex');

// Shared schemas -------------------------------------------------------------

const Color = xdr.enum({ RED: 0, GREEN: 1, BLUE: 2 });
const Signed = xdr.enum({ NEGATIVE: -1, ZERO: 0, BIG: 0x7fffffff });

const Shape = xdr.union(
  xdr.int(),
  [xdr.arm(1, xdr.double()), xdr.arm([2, 3], xdr.struct({ w: xdr.int(), h: xdr.int() })), xdr.arm(4, xdr.void())],
  { default: xdr.string(8) },
);
const BigTag = xdr.union(xdr.uint(), [xdr.arm(0xffffffff, xdr.int())]);
const MaybeHyper = xdr.union(xdr.bool(), [xdr.arm(true, xdr.hyper()), xdr.arm(false, xdr.void())]);

// RFC 4506 §4.19 (optional-data): a linked list of strings.
//   struct stringentry { string item<>; stringentry *next; };
//   typedef stringentry *stringlist;
const stringentry = xdr.recursive((self) => xdr.struct({ item: xdr.string(), next: xdr.optional(self) }));
const stringlist = xdr.optional(stringentry);

// A tree: recursion through a variable-length array.
const Tree = xdr.recursive((self) => xdr.struct({ value: xdr.int(), children: xdr.array(self, 4) }));

// RFC 4506 §7, "An Example of an XDR Data Description".
const MAXUSERNAME = 32;
const MAXNAMELEN = 255;
const MAXFILELEN = 65535;
const filekind = xdr.enum({ TEXT: 0, DATA: 1, EXEC: 2 });
const filetype = xdr.union(filekind, [
  xdr.arm('TEXT', xdr.void()),
  xdr.arm('DATA', xdr.string(MAXNAMELEN)), // creator
  xdr.arm('EXEC', xdr.string(MAXNAMELEN)), // interpretor
]);
const file = xdr.struct({
  filename: xdr.string(MAXNAMELEN),
  type: filetype,
  owner: xdr.string(MAXUSERNAME),
  data: xdr.opaque(MAXFILELEN),
});

// libvirt values used in several vectors.
const TEST_UUID = b('6695eb01f6a4830479aa97f2502e193f');
const UUID_1 = b('000102030405060708090a0b0c0d0e0f');
const UUID_2 = b('101112131415161718191a1b1c1d1e1f');
const testDomain = { name: 'test', uuid: TEST_UUID, id: 1 };

export const goldenVectors: readonly GoldenVector[] = [
  // --- int, unsigned int ----------------------------------------------------
  vector('int 0', xdr.int(), 0, `00000000`),
  vector('int 1', xdr.int(), 1, `00000001`),
  vector('int -1', xdr.int(), -1, `ffffffff  # two's complement`),
  vector('int minimum', xdr.int(), -2147483648, `80000000`),
  vector('int maximum', xdr.int(), 2147483647, `7fffffff`),
  vector('unsigned int maximum', xdr.uint(), 4294967295, `ffffffff`),
  vector('unsigned int REMOTE_PROGRAM', xdr.uint(), 0x20008086, `20008086`),

  // --- hyper, unsigned hyper ------------------------------------------------
  vector('hyper -1', xdr.hyper(), -1n, `ffffffff ffffffff`),
  vector('hyper minimum', xdr.hyper(), -(2n ** 63n), `80000000 00000000`),
  vector('hyper maximum', xdr.hyper(), 2n ** 63n - 1n, `7fffffff ffffffff`),
  vector('unsigned hyper maximum', xdr.uhyper(), 2n ** 64n - 1n, `ffffffff ffffffff`),
  vector('unsigned hyper 7001002', xdr.uhyper(), 7001002n, `00000000 006ad3aa  # high word, low word`),

  // --- float, double --------------------------------------------------------
  vector('float 1.5', xdr.float(), 1.5, `3fc00000  # sign 0, exponent 127, fraction .5`),
  vector('float -2.25', xdr.float(), -2.25, `c0100000  # sign 1, exponent 128, fraction .125`),
  vector('double 1.5', xdr.double(), 1.5, `3ff80000 00000000`),
  vector('double -0.1', xdr.double(), -0.1, `bfb99999 9999999a`),

  // --- bool, enum -----------------------------------------------------------
  vector('bool true', xdr.bool(), true, `00000001`),
  vector('bool false', xdr.bool(), false, `00000000`),
  vector('enum member', Color, 'BLUE', `00000002  # BLUE = 2`),
  vector('enum negative member', Signed, 'NEGATIVE', `ffffffff  # NEGATIVE = -1`),
  vector('enum large member', Signed, 'BIG', `7fffffff  # BIG = 0x7fffffff`),

  // --- rpcgen's narrow integers: a full 4-byte word each --------------------
  vector('char -1', xdr.char(), -1, `ffffffff  # sign-extended to 32 bits`),
  vector('char 127', xdr.char(), 127, `0000007f`),
  vector('unsigned char 255', xdr.uchar(), 255, `000000ff`),
  vector('short -2', xdr.short(), -2, `fffffffe  # sign-extended to 32 bits`),
  vector('unsigned short 65535', xdr.ushort(), 65535, `0000ffff`),

  // --- void -----------------------------------------------------------------
  vector('void', xdr.void(), undefined, `# no bytes at all`),

  // --- opaque ---------------------------------------------------------------
  vector(
    'fixed-length opaque[3]',
    xdr.fixedOpaque(3),
    b('010203'),
    `
    010203  # the 3 bytes, no length word
    00      # 1 byte of padding
    `,
  ),
  vector('fixed-length opaque[16], no padding', lv.remote_uuid, TEST_UUID, `6695eb01 f6a48304 79aa97f2 502e193f`),
  vector('variable-length opaque, empty', xdr.opaque(), b(''), `00000000  # length 0, no data, no padding`),
  vector(
    'variable-length opaque<8>',
    xdr.opaque(8),
    b('0102030405'),
    `
    00000005    # length 5
    0102030405  # data
    000000      # 3 bytes of padding
    `,
  ),

  // --- string ---------------------------------------------------------------
  vector('string, empty', xdr.string(), '', `00000000  # length 0`),
  vector(
    'string "vm"',
    lv.remote_nonnull_string,
    'vm',
    `
    00000002  # length 2
    766d      # "vm"
    0000      # 2 bytes of padding
    `,
  ),
  vector(
    'string "test", no padding',
    xdr.string(4),
    'test',
    `
    00000004  # length 4 = the maximum
    74657374  # "test"
    `,
  ),
  vector(
    'string of UTF-8: max counts bytes',
    xdr.string(6),
    '日本',
    `
    00000006      # length 6: two characters, three bytes each
    e697a5 e69cac # "日" "本" in UTF-8
    0000          # 2 bytes of padding
    `,
  ),

  // --- arrays ---------------------------------------------------------------
  vector(
    'fixed-length array int[3]',
    xdr.fixedArray(xdr.int(), 3),
    [1, -1, 2],
    `
    00000001  # [0], no count word before it
    ffffffff  # [1]
    00000002  # [2]
    `,
  ),
  vector('variable-length array, empty', xdr.array(xdr.int()), [], `00000000  # count 0`),
  vector(
    'variable-length array of strings',
    xdr.array(xdr.string(), 4),
    ['a', 'bc'],
    `
    00000002  # count 2
    00000001  # [0] length 1
    61000000  #     "a" + 3 bytes of padding
    00000002  # [1] length 2
    62630000  #     "bc" + 2 bytes of padding
    `,
  ),
  vector(
    'char array: 4 bytes per character',
    xdr.array(xdr.char(), 257),
    chars('hi\0'),
    `
    00000003  # count 3 (the NUL is counted, as libvirt does)
    00000068  # 'h'
    00000069  # 'i'
    00000000  # NUL
    `,
  ),

  // --- optional data --------------------------------------------------------
  vector('optional, absent', xdr.optional(xdr.int()), null, `00000000  # flag 0: NULL, nothing follows`),
  vector(
    'optional, present',
    xdr.optional(xdr.int()),
    5,
    `
    00000001  # flag 1: present
    00000005  # the int
    `,
  ),

  // --- struct ---------------------------------------------------------------
  vector(
    'struct',
    xdr.struct({ a: xdr.int(), b: xdr.bool(), c: xdr.string(16) }),
    { a: -2, b: true, c: 'xyz' },
    `
    fffffffe  # a = -2
    00000001  # b = true
    00000003  # c: length 3
    78797a00  #    "xyz" + 1 byte of padding
    `,
  ),

  // --- unions ---------------------------------------------------------------
  vector(
    'union, int discriminant',
    Shape,
    { tag: 1, value: 1.5 },
    `
    00000001           # discriminant 1
    3ff80000 00000000  # double 1.5
    `,
  ),
  vector(
    'union, case list',
    Shape,
    { tag: 3, value: { w: 2, h: 5 } },
    `
    00000003  # discriminant 3 (case 2: case 3:)
    00000002  # w
    00000005  # h
    `,
  ),
  vector('union, void arm', Shape, { tag: 4 }, `00000004  # discriminant 4, void arm: nothing follows`),
  vector(
    'union, default arm',
    Shape,
    { tag: -7, value: 'dflt' },
    `
    fffffff9  # discriminant -7, no case: the default arm
    00000004  # string length 4
    64666c74  # "dflt"
    `,
  ),
  vector(
    'union, unsigned discriminant',
    BigTag,
    { tag: 0xffffffff, value: 42 },
    `
    ffffffff  # discriminant 4294967295
    0000002a  # int 42
    `,
  ),
  vector(
    'union, bool discriminant, TRUE',
    MaybeHyper,
    { tag: true, value: 10n },
    `
    00000001           # TRUE
    00000000 0000000a  # hyper 10
    `,
  ),
  vector('union, bool discriminant, FALSE', MaybeHyper, { tag: false }, `00000000  # FALSE, void arm`),

  // --- recursion: RFC 4506 §4.19 linked list, and a tree --------------------
  vector('stringlist, empty', stringlist, null, `00000000  # NULL list`),
  vector(
    'stringlist of two entries',
    stringlist,
    { item: 'one', next: { item: 'two', next: null } },
    `
    00000001  # list present
    00000003  # item: length 3
    6f6e6500  #       "one" + 1 byte of padding
    00000001  # next present
    00000003  #   item: length 3
    74776f00  #         "two" + 1 byte of padding
    00000000  #   next: NULL
    `,
  ),
  vector(
    'tree',
    Tree,
    { value: 1, children: [{ value: 2, children: [] }, { value: 3, children: [{ value: 4, children: [] }] }] },
    `
    00000001  # value 1
    00000002  # children: count 2
    00000002  #   [0] value 2
    00000000  #       children: count 0
    00000003  #   [1] value 3
    00000001  #       children: count 1
    00000004  #         [0] value 4
    00000000  #             children: count 0
    `,
  ),

  // --- RFC 4506 §7: the file example ----------------------------------------
  vector(
    'RFC 4506 section 7 file',
    file,
    { filename: 'sillyprog', type: { tag: 'EXEC', value: 'lisp' }, owner: 'john', data: Buffer.from('(quit)') },
    `
    00000009           # filename: length 9
    73696c6c 7970726f  #   "sillypro"
    67000000           #   "g" + 3 bytes of padding
    00000002           # type: filekind EXEC = 2
    00000004           #   interpretor: length 4
    6c697370           #   "lisp"
    00000004           # owner: length 4
    6a6f686e           #   "john"
    00000006           # data: length 6
    28717569           #   "(qui"
    74290000           #   "t)" + 2 bytes of padding
    `,
  ),
  vector(
    'RFC 4506 section 7 filetype, TEXT',
    filetype,
    { tag: 'TEXT' },
    `00000000  # filekind TEXT = 0, void arm`,
  ),

  // --- libvirt (libvirt-wire.md) --------------------------------------------
  vector(
    'libvirt message header: AUTH_LIST call',
    lv.virNetMessageHeader,
    { prog: 0x20008086, vers: 1, proc: 66, type: 'VIR_NET_CALL', serial: 0, status: 'VIR_NET_OK' },
    `
    20008086  # prog REMOTE_PROGRAM
    00000001  # vers 1
    00000042  # proc 66 AUTH_LIST
    00000000  # type CALL
    00000000  # serial 0
    00000000  # status OK
    `,
  ),
  vector(
    'libvirt message header: keepalive PONG',
    lv.virNetMessageHeader,
    { prog: 0x6b656570, vers: 1, proc: 2, type: 'VIR_NET_MESSAGE', serial: 0, status: 'VIR_NET_OK' },
    `
    6b656570  # prog KEEPALIVE_PROGRAM ("keep")
    00000001  # vers 1
    00000002  # proc 2 PONG
    00000002  # type MESSAGE
    00000000  # serial 0
    00000000  # status OK
    `,
  ),
  vector(
    'libvirt stream hole',
    lv.virNetStreamHole,
    { length: 1048576n, flags: 0 },
    `
    00000000 00100000  # length 1 MiB (hyper)
    00000000           # flags
    `,
  ),
  vector(
    'libvirt remote_nonnull_domain, active',
    lv.remote_nonnull_domain,
    testDomain,
    `
    00000004                             # name: length 4
    74657374                             #   "test"
    6695eb01 f6a48304 79aa97f2 502e193f  # uuid: 16 raw bytes
    00000001                             # id 1
    `,
  ),
  vector(
    'libvirt remote_nonnull_domain, inactive',
    lv.remote_nonnull_domain,
    { name: 'fakevm2', uuid: UUID_2, id: -1 },
    `
    00000007                             # name: length 7
    66616b65 766d3200                    #   "fakevm2" + 1 byte of padding
    10111213 14151617 18191a1b 1c1d1e1f  # uuid
    ffffffff                             # id -1: inactive
    `,
  ),
  vector(
    'libvirt AUTH_LIST reply',
    lv.remote_auth_list_ret,
    { types: ['REMOTE_AUTH_NONE'] },
    `
    00000001  # types: count 1
    00000000  #   REMOTE_AUTH_NONE
    `,
  ),
  vector('libvirt SUPPORTS_FEATURE(10) args', lv.remote_connect_supports_feature_args, { feature: 10 }, `0000000a  # feature 10: PROGRAM_KEEPALIVE`),
  vector(
    'libvirt CONNECT_OPEN args',
    lv.remote_connect_open_args,
    { name: 'test:///default', flags: 0 },
    `
    00000001                    # name present
    0000000f                    #   length 15
    74657374 3a2f2f2f 64656661  #   "test:///defa"
    756c7400                    #   "ult" + 1 byte of padding
    00000000                    # flags 0
    `,
  ),
  vector(
    'libvirt CONNECT_OPEN args, NULL name, read-only',
    lv.remote_connect_open_args,
    { name: null, flags: 1 },
    `
    00000000  # name NULL
    00000001  # flags VIR_CONNECT_RO
    `,
  ),
  vector(
    'libvirt GET_HOSTNAME reply',
    lv.remote_connect_get_hostname_ret,
    { hostname: 'vm' },
    `
    00000002  # hostname: length 2
    766d0000  #   "vm" + 2 bytes of padding
    `,
  ),
  vector('libvirt GET_VERSION reply', lv.remote_connect_get_version_ret, { hv_ver: 7001002n }, `00000000 006ad3aa  # hv_ver 7001002 = 7.1.2`),
  vector(
    'libvirt LIST_DOMAINS reply',
    lv.remote_connect_list_domains_ret,
    { ids: [1, 2] },
    `
    00000002  # ids: count 2
    00000001  #   1
    00000002  #   2
    `,
  ),
  vector(
    'libvirt LIST_ALL_DOMAINS reply',
    lv.remote_connect_list_all_domains_ret,
    {
      domains: [
        { name: 'fakevm1', uuid: UUID_1, id: 7 },
        { name: 'fakevm2', uuid: UUID_2, id: -1 },
      ],
      ret: 2,
    },
    `
    00000002                             # domains: count 2
    00000007                             #   [0] name: length 7
    66616b65 766d3100                    #       "fakevm1" + 1 byte of padding
    00010203 04050607 08090a0b 0c0d0e0f  #       uuid
    00000007                             #       id 7
    00000007                             #   [1] name: length 7
    66616b65 766d3200                    #       "fakevm2" + 1 byte of padding
    10111213 14151617 18191a1b 1c1d1e1f  #       uuid
    ffffffff                             #       id -1
    00000002                             # ret 2
    `,
  ),
  vector(
    'libvirt DOMAIN_GET_INFO reply',
    lv.remote_domain_get_info_ret,
    { state: 1, maxMem: 2097152n, memory: 1048576n, nrVirtCpu: 2, cpuTime: 123456789000n },
    `
    00000001           # state: unsigned char RUNNING, a full 4-byte word
    00000000 00200000  # maxMem 2097152 KiB
    00000000 00100000  # memory 1048576 KiB
    00000002           # nrVirtCpu: unsigned short 2, a full 4-byte word
    0000001c be991a08  # cpuTime 123456789000 ns
    `,
  ),
  vector(
    'libvirt DOMAIN_GET_STATE args',
    lv.remote_domain_get_state_args,
    { dom: testDomain, flags: 0 },
    `
    00000004                             # dom.name: length 4
    74657374                             #   "test"
    6695eb01 f6a48304 79aa97f2 502e193f  # dom.uuid
    00000001                             # dom.id 1
    00000000                             # flags 0
    `,
  ),
  vector(
    'libvirt DOMAIN_GET_STATE reply',
    lv.remote_domain_get_state_ret,
    { state: 1, reason: 1 },
    `
    00000001  # state RUNNING
    00000001  # reason BOOTED
    `,
  ),
  vector(
    'libvirt NODE_GET_SECURITY_MODEL reply (char<257> arrays)',
    lv.remote_node_get_security_model_ret,
    { model: chars('testSecurity\0'), doi: chars('\0') },
    `
    0000000d  # model: count 13 (12 characters and the NUL)
    00000074  #   't'
    00000065  #   'e'
    00000073  #   's'
    00000074  #   't'
    00000053  #   'S'
    00000065  #   'e'
    00000063  #   'c'
    00000075  #   'u'
    00000072  #   'r'
    00000069  #   'i'
    00000074  #   't'
    00000079  #   'y'
    00000000  #   NUL
    00000001  # doi: count 1
    00000000  #   NUL
    `,
  ),
  vector(
    'libvirt DOMAIN_GET_SECURITY_LABEL reply (char<4097> array)',
    lv.remote_domain_get_security_label_ret,
    { label: chars('libvirt-test\0'), enforcing: 1 },
    `
    0000000d  # label: count 13
    0000006c  #   'l'
    00000069  #   'i'
    00000062  #   'b'
    00000076  #   'v'
    00000069  #   'i'
    00000072  #   'r'
    00000074  #   't'
    0000002d  #   '-'
    00000074  #   't'
    00000065  #   'e'
    00000073  #   's'
    00000074  #   't'
    00000000  #   NUL
    00000001  # enforcing 1
    `,
  ),
  vector('libvirt DOMAIN_GET_MESSAGES reply, empty', lv.remote_domain_get_messages_ret, { msgs: [] }, `00000000  # msgs: count 0`),
  vector(
    'libvirt error: real libvirtd reply to LOOKUP_BY_NAME("nosuch")',
    lv.remote_error,
    {
      code: 42,
      domain: 12,
      message: 'Domain not found',
      level: 2,
      dom: null,
      str1: 'Domain not found',
      str2: null,
      str3: null,
      int1: -1,
      int2: -1,
      net: null,
    },
    `
    0000002a                             # code 42 VIR_ERR_NO_DOMAIN
    0000000c                             # domain 12 VIR_FROM_TEST
    00000001                             # message present
    00000010                             #   length 16
    446f6d61 696e206e 6f742066 6f756e64  #   "Domain not found"
    00000002                             # level 2 ERROR
    00000000                             # dom NULL
    00000001                             # str1 present
    00000010                             #   length 16
    446f6d61 696e206e 6f742066 6f756e64  #   "Domain not found"
    00000000                             # str2 NULL
    00000000                             # str3 NULL
    ffffffff                             # int1 -1
    ffffffff                             # int2 -1
    00000000                             # net NULL
    `,
  ),
  vector(
    'libvirt error: unknown procedure',
    lv.remote_error,
    {
      code: 39,
      domain: 7,
      message: 'unknown procedure: 122',
      level: 2,
      dom: null,
      str1: null,
      str2: null,
      str3: null,
      int1: 0,
      int2: 0,
      net: null,
    },
    `
    00000027                    # code 39 VIR_ERR_RPC
    00000007                    # domain 7 VIR_FROM_RPC
    00000001                    # message present
    00000016                    #   length 22
    756e6b6e 6f776e20 70726f63  #   "unknown proc"
    65647572 653a2031 3232      #   "edure: 122"
    0000                        #   2 bytes of padding
    00000002                    # level 2 ERROR
    00000000                    # dom NULL
    00000000                    # str1 NULL
    00000000                    # str2 NULL
    00000000                    # str3 NULL
    00000000                    # int1 0
    00000000                    # int2 0
    00000000                    # net NULL
    `,
  ),
  vector(
    'libvirt error with dom and net present',
    lv.remote_error,
    {
      code: 1,
      domain: 20,
      message: 'x',
      level: 1,
      dom: testDomain,
      str1: null,
      str2: 'ab',
      str3: null,
      int1: 5,
      int2: 6,
      net: { name: 'net', uuid: UUID_1 },
    },
    `
    00000001                             # code 1 VIR_ERR_INTERNAL_ERROR
    00000014                             # domain 20 VIR_FROM_DOMAIN
    00000001                             # message present
    00000001                             #   length 1
    78000000                             #   "x" + 3 bytes of padding
    00000001                             # level 1 WARNING
    00000001                             # dom present
    00000004                             #   name: length 4
    74657374                             #     "test"
    6695eb01 f6a48304 79aa97f2 502e193f  #   uuid
    00000001                             #   id 1
    00000000                             # str1 NULL
    00000001                             # str2 present
    00000002                             #   length 2
    61620000                             #   "ab" + 2 bytes of padding
    00000000                             # str3 NULL
    00000005                             # int1 5
    00000006                             # int2 6
    00000001                             # net present
    00000003                             #   name: length 3
    6e657400                             #     "net" + 1 byte of padding
    00010203 04050607 08090a0b 0c0d0e0f  #   uuid
    `,
  ),
];
