/**
 * lib/libvirt/wire.ts, the one header codec everything in lib/, test/ and
 * bench/ frames with, against what does not come from it: the worked
 * frames of libvirt-wire.md §11 and the header schema transcribed in
 * test/vectors/libvirt.ts from the same document.
 */
import { xdr } from '../lib';
import * as wire from '../lib/libvirt/wire';
import { virNetMessageHeader } from './vectors/libvirt';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const REMOTE_PROGRAM = 0x20008086;

test('encodeFrame writes the worked frames of libvirt-wire.md §11 byte for byte', () => {
  const authList = { program: REMOTE_PROGRAM, version: 1, procedure: 66, type: wire.TYPE_CALL, serial: 0, status: wire.STATUS_OK };
  expect(wire.encodeFrame(authList).toString('hex')).toBe(hex('0000001c 20008086 00000001 00000042 00000000 00000000 00000000').toString('hex'));
  const hostname = { program: REMOTE_PROGRAM, version: 1, procedure: 59, type: wire.TYPE_REPLY, serial: 6, status: wire.STATUS_OK };
  expect(wire.encodeFrame(hostname, hex('00000002 766d0000')).toString('hex')).toBe(
    hex('00000024 20008086 00000001 0000003b 00000001 00000006 00000000 00000002 766d0000').toString('hex'),
  );
});

test('readHeader reads back what writeFrameHeader wrote, at any offset, a negative procedure included', () => {
  const buf = Buffer.alloc(8 + wire.MIN_FRAME_BYTES + 4, 0xee);
  const header = { program: 0xfffffffe, version: 7, procedure: -5, type: wire.TYPE_STREAM_HOLE, serial: 0x80000001, status: wire.STATUS_CONTINUE };
  expect(wire.writeFrameHeader(buf, 8, header, 4)).toBe(8 + wire.MIN_FRAME_BYTES);
  expect(buf.readUInt32BE(8)).toBe(wire.MIN_FRAME_BYTES + 4);
  expect(wire.readHeader(buf, 12)).toEqual(header);
  // Nothing outside [8, 36) was touched.
  expect([...buf.subarray(0, 8), ...buf.subarray(36)].every((b) => b === 0xee)).toBe(true);
});

test('every message type and status has the number the transcribed header schema gives it', () => {
  const types: [string, number][] = [
    ['VIR_NET_CALL', wire.TYPE_CALL],
    ['VIR_NET_REPLY', wire.TYPE_REPLY],
    ['VIR_NET_MESSAGE', wire.TYPE_MESSAGE],
    ['VIR_NET_STREAM', wire.TYPE_STREAM],
    ['VIR_NET_CALL_WITH_FDS', wire.TYPE_CALL_WITH_FDS],
    ['VIR_NET_REPLY_WITH_FDS', wire.TYPE_REPLY_WITH_FDS],
    ['VIR_NET_STREAM_HOLE', wire.TYPE_STREAM_HOLE],
  ];
  const statuses: [string, number][] = [
    ['VIR_NET_OK', wire.STATUS_OK],
    ['VIR_NET_ERROR', wire.STATUS_ERROR],
    ['VIR_NET_CONTINUE', wire.STATUS_CONTINUE],
  ];
  for (const [typeName, type] of types) {
    for (const [statusName, status] of statuses) {
      const viaSchema = xdr.encode(virNetMessageHeader, { prog: REMOTE_PROGRAM, vers: 1, proc: -1, type: typeName as never, serial: 3, status: statusName as never });
      const viaCodec = wire.encodeFrame({ program: REMOTE_PROGRAM, version: 1, procedure: -1, type, serial: 3, status }).subarray(4);
      expect([typeName, statusName, viaCodec.toString('hex')]).toEqual([typeName, statusName, viaSchema.toString('hex')]);
    }
  }
  expect(wire.typeName(wire.TYPE_STREAM_HOLE)).toBe('STREAM_HOLE');
  expect(wire.typeName(7)).toBe('unknown type 7');
});

test('the keepalive PING and PONG, and the message limit, are libvirt 9.0\'s', () => {
  const ping = wire.encodeFrame({
    program: wire.KEEPALIVE_PROGRAM,
    version: wire.KEEPALIVE_VERSION,
    procedure: wire.KEEPALIVE_PROC_PING,
    type: wire.TYPE_MESSAGE,
    serial: 0,
    status: wire.STATUS_OK,
  });
  // "keep", version 1, proc 1 PING, type MESSAGE, serial 0, status OK (libvirt-wire.md §8).
  expect(ping.toString('hex')).toBe(hex('0000001c 6b656570 00000001 00000001 00000002 00000000 00000000').toString('hex'));
  expect(wire.KEEPALIVE_PROC_PONG).toBe(2);
  // VIR_NET_MESSAGE_MAX: 32 MiB of header and body (libvirt-wire.md §1.2).
  expect(wire.MAX_MESSAGE_BYTES).toBe(32 * 1024 * 1024);
  expect([wire.HEADER_BYTES, wire.MIN_FRAME_BYTES]).toEqual([24, 28]);
});
