/**
 * libvirt's RPC framing (virnetprotocol.x, libvirt 9.0): the constants of
 * the message header and the one codec of it. The client, the stress
 * driver, the test helpers and the plain-Node bench server (through the
 * compiled dist/lib/libvirt/wire.js) all frame with this; the native core
 * has its own in native/core/wire.h.
 *
 * A frame: a big-endian length word that counts the whole frame, itself
 * included; the 24-byte header (program, version, procedure, type, serial,
 * status); for the *_WITH_FDS types an nfds word; then the body.
 *
 * No import: this module is a leaf that anything in lib/ may use.
 */

/**
 * VIR_NET_MESSAGE_MAX: the largest message, header and body, without the
 * length word (so the largest length word is this + 4). libvirt's limit, and
 * the default `maxMessageBytes` of the Server and the Client.
 */
export const MAX_MESSAGE_BYTES = 33554432;

/** The encoded header, without the length word. */
export const HEADER_BYTES = 24;
/** The length word plus the header: the smallest legal frame (an empty body). */
export const MIN_FRAME_BYTES = 28;

// virNetMessageType
export const TYPE_CALL = 0;
export const TYPE_REPLY = 1;
export const TYPE_MESSAGE = 2;
export const TYPE_STREAM = 3;
export const TYPE_CALL_WITH_FDS = 4;
export const TYPE_REPLY_WITH_FDS = 5;
export const TYPE_STREAM_HOLE = 6;

// virNetMessageStatus
export const STATUS_OK = 0;
export const STATUS_ERROR = 1;
/** Streams only: more data follows. */
export const STATUS_CONTINUE = 2;

/** The keepalive program (virkeepaliveprotocol.x): "keep". Its frames are MESSAGEs with serial 0 and no body. */
export const KEEPALIVE_PROGRAM = 0x6b656570;
export const KEEPALIVE_VERSION = 1;
export const KEEPALIVE_PROC_PING = 1;
export const KEEPALIVE_PROC_PONG = 2;

/** The six header fields, as numbers. */
export interface MessageHeader {
  program: number;
  version: number;
  /** Signed on the wire. */
  procedure: number;
  type: number;
  serial: number;
  status: number;
}

/**
 * Writes a frame's length word and header at buf[at, at + 28), for
 * `bodyLength` bytes that the caller puts after them; returns at + 28.
 * Every field is written as its low 32 bits (the procedure as a signed
 * int), so a peer that must send odd frames can write any bit pattern;
 * callers that take values from users check them first.
 */
export function writeFrameHeader(buf: Buffer, at: number, header: MessageHeader, bodyLength: number): number {
  buf.writeUInt32BE((MIN_FRAME_BYTES + bodyLength) >>> 0, at);
  buf.writeUInt32BE(header.program >>> 0, at + 4);
  buf.writeUInt32BE(header.version >>> 0, at + 8);
  buf.writeInt32BE(header.procedure | 0, at + 12);
  buf.writeUInt32BE(header.type >>> 0, at + 16);
  buf.writeUInt32BE(header.serial >>> 0, at + 20);
  buf.writeUInt32BE(header.status >>> 0, at + 24);
  return at + MIN_FRAME_BYTES;
}

/** The header at buf[at, at + 24): `at` is the first byte after the length word. */
export function readHeader(buf: Buffer, at: number): MessageHeader {
  return {
    program: buf.readUInt32BE(at),
    version: buf.readUInt32BE(at + 4),
    procedure: buf.readInt32BE(at + 8),
    type: buf.readUInt32BE(at + 12),
    serial: buf.readUInt32BE(at + 16),
    status: buf.readUInt32BE(at + 20),
  };
}

const NO_BODY = new Uint8Array(0);

/** A whole frame in a Buffer of its own: length word, header, a copy of `body`. */
export function encodeFrame(header: MessageHeader, body: Uint8Array = NO_BODY): Buffer {
  const frame = Buffer.allocUnsafe(MIN_FRAME_BYTES + body.length);
  frame.set(body, writeFrameHeader(frame, 0, header, body.length));
  return frame;
}

/** The name of a message type, for error messages. */
export function typeName(type: number): string {
  switch (type) {
    case TYPE_CALL: return 'CALL';
    case TYPE_REPLY: return 'REPLY';
    case TYPE_MESSAGE: return 'MESSAGE';
    case TYPE_STREAM: return 'STREAM';
    case TYPE_CALL_WITH_FDS: return 'CALL_WITH_FDS';
    case TYPE_REPLY_WITH_FDS: return 'REPLY_WITH_FDS';
    case TYPE_STREAM_HOLE: return 'STREAM_HOLE';
    default: return `unknown type ${type}`;
  }
}
