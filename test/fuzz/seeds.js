#!/usr/bin/env node
// Writes the starting inputs of the fuzz corpora into test/fuzz/corpus/:
// real libvirt frames (libvirt-wire.md §11, captured from libvirtd 9.0), the
// error struct libvirtd sends, and bodies shaped like fuzz_decode_plan's
// plans, each in the input layout its target expects. Run once, then
// minimise with `npm run fuzz -- --merge`; the kept corpus is what merge
// leaves. Rerunning it only adds files (named seed-*), never removes.
'use strict';
const fs = require('fs');
const path = require('path');

const h = (s) => Buffer.from(s.replace(/[^0-9a-f]/gi, ''), 'hex');
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; };
const str = (s) => { const b = Buffer.from(s); return Buffer.concat([u32(b.length), b, Buffer.alloc((4 - (b.length % 4)) % 4)]); };
const frame = (words, body = Buffer.alloc(0)) => {
  const rest = Buffer.concat([...words.map(u32), body]);
  return Buffer.concat([u32(rest.length + 4), rest]);
};

// libvirt-wire.md §11, one frame each.
const authListCall = h('0000001c 20008086 00000001 00000042 00000000 00000000 00000000');
const authListReply = h('00000024 20008086 00000001 00000042 00000001 00000000 00000000 00000001 00000000');
const supportsFeature = h('00000020 20008086 00000001 0000003c 00000000 00000001 00000000 0000000a');
const hostnameReply = h('00000024 20008086 00000001 0000003b 00000001 00000006 00000000 00000002 766d0000');
// The unknown-procedure error body libvirtd sends (code RPC, domain RPC,
// message, level ERROR, no dom, str1 "%s", str2 the message, -1, -1, no net).
const unknownProcError = Buffer.concat([u32(39), u32(7), u32(1), str('unknown procedure: 122'), u32(2), u32(0),
  u32(1), str('%s'), u32(1), str('unknown procedure: 122'), u32(0), u32(0xffffffff), u32(0xffffffff), u32(0)]);
// The same with a domain and a network reference filled in.
const fullError = Buffer.concat([u32(42), u32(10), u32(1), str('Domain not found'), u32(2),
  u32(1), str('fakevm1'), Buffer.alloc(16, 0xab), u32(7),
  u32(1), str('%s'), u32(0), u32(1), str('x'), u32(3), u32(4), u32(1), str('default'), Buffer.alloc(16, 0xcd)]);
const errorReply = frame([0x20008086, 1, 122, 1, 9, 1], unknownProcError);
const ping = frame([0x6b656570, 1, 1, 2, 0, 0]);
const pong = frame([0x6b656570, 1, 2, 2, 0, 0]);
const withFds = frame([0x20008086, 1, 300, 4, 3, 0, 2], u32(0));
const stream = frame([0x20008086, 1, 201, 3, 4, 2], Buffer.from('stream data.'));

const corpora = { framing: [], xdr: [], decode_plan: [] };

// framing: [chunking][mode] + stream.
const frames = [authListCall, authListReply, supportsFeature, hostnameReply, errorReply, ping, pong, withFds, stream];
for (const [i, f] of frames.entries()) corpora.framing.push(Buffer.concat([Buffer.from([0, 4]), f]));
corpora.framing.push(Buffer.concat([Buffer.from([1, 0]), ...frames]));         // byte by byte
corpora.framing.push(Buffer.concat([Buffer.from([7, 4]), ...frames]));         // odd pieces, popping
corpora.framing.push(Buffer.concat([Buffer.from([3, 4]), ping, h('0000001b')])); // length 27: below the minimum
corpora.framing.push(Buffer.concat([Buffer.from([0, 3]), ping, u32(5009), Buffer.alloc(40)])); // just over 5004
corpora.framing.push(Buffer.concat([Buffer.from([0, 3]), frame([0x20008086, 1, 5, 0, 1, 0], Buffer.alloc(4976))])); // exactly 5004
corpora.framing.push(Buffer.concat([Buffer.from([5, 1]), ping, pong, h('00000020 20008086')])); // a frame never finished
corpora.framing.push(Buffer.concat([Buffer.from([0, 4]), frame([0x20008086, 1, 1, 1, 2, 1], fullError)]));

// xdr: [n ops][ops][buffer]. Op: low nibble the reader, high nibble its size.
const ops = (list) => Buffer.from([list.length, ...list]);
corpora.xdr.push(Buffer.concat([ops([]), unknownProcError]));
corpora.xdr.push(Buffer.concat([ops([]), fullError]));
corpora.xdr.push(Buffer.concat([ops([0, 1, 0xfa, 0, 4, 0x05]), unknownProcError]));
corpora.xdr.push(Buffer.concat([ops([0x02, 0x03, 0x04, 0x05, 0x36, 0xf7, 0xf8, 0xf9]),
  h('00000000 006ad3aa ffffffff ffffffff 00000001 00000000 010203 00'), str('abc'), str('vm'), str('fakevm1')]));
corpora.xdr.push(Buffer.concat([ops([0x17, 0x28, 0x39, 0x1a]), str('toolong'), str('ok'), str('a'), str('')]));
corpora.xdr.push(Buffer.concat([ops([0x09, 0x09]), h('00000003 616200 00')]));  // bad padding

// decode_plan: [plan][body]; plan numbers as in fuzz_decode_plan.cc.
const everything = h('fffffffe ffffffff ffffffff 00000007 00000001 00000002 3fc00000 c00921fb54442d18 00000001 00000005' +
  '00000002 68690000 00000000 01020300');
corpora.decode_plan.push(Buffer.concat([Buffer.from([0]), everything]));
corpora.decode_plan.push(Buffer.concat([Buffer.from([1]), h('00000002 00000009 00000001 00000001 0000007f')]));
corpora.decode_plan.push(Buffer.concat([Buffer.from([2]), h('00000001 00000001 00000002 00000001 00000003 00000000')]));
corpora.decode_plan.push(Buffer.concat([Buffer.from([3]), h('000000ff ffff8000 0000ffff 00000001 00000002'),
  u32(0), str('fakevm1'), u32(1), h('400921fb54442d18')]));
corpora.decode_plan.push(Buffer.concat([Buffer.from([3]), h('00000000 00000000 00000000 00000000 00000000'),
  u32(1), h('0102030405000000'), u32(0)]));
corpora.decode_plan.push(Buffer.concat([Buffer.from([3]), h('00000000 00000000 00000000 00000000 00000000'),
  u32(2), h('0000000000000001'), u32(0)]));
corpora.decode_plan.push(Buffer.concat([Buffer.from([4]), u32(1)]));
corpora.decode_plan.push(Buffer.concat([Buffer.from([5]), u32(3), str('fakevm1'), str('h\u00e9llo'), str('\u{1f600}')]));
corpora.decode_plan.push(Buffer.concat([Buffer.from([6]), u32(2), h('0000000000000001 ffffffffffffffff')]));
corpora.decode_plan.push(Buffer.concat([Buffer.from([7]), u32(1), str('abcde'), Buffer.alloc(24), u32(2),
  h('3fc00000 7fc00000')]));

for (const [t, inputs] of Object.entries(corpora)) {
  const dir = path.join(__dirname, 'corpus', t);
  fs.mkdirSync(dir, { recursive: true });
  inputs.forEach((b, i) => fs.writeFileSync(path.join(dir, `seed-${String(i).padStart(2, '0')}`), b));
  console.log(`${t}: ${inputs.length} seeds in ${path.relative(process.cwd(), dir)}`);
}
