/**
 * A raw peer for tests that need the exact frames on the wire, in their
 * order, or need to misbehave (half frames, never answering PINGs). Plain
 * `net`, with its own tiny framing; the library's Client is not used so
 * that what it does (answering PINGs, ordering events against replies)
 * cannot hide what the server sent.
 */
import * as net from 'net';

import { MIN_FRAME_BYTES, STATUS_OK, TYPE_CALL, encodeFrame, readHeader } from '../../lib/libvirt/wire';

export { KEEPALIVE_PROGRAM, TYPE_CALL, TYPE_MESSAGE, TYPE_REPLY } from '../../lib/libvirt/wire';

export interface Frame {
  prog: number;
  vers: number;
  proc: number;
  type: number;
  serial: number;
  status: number;
  body: Buffer;
}

/** A whole frame: length word, 24-byte header (status OK), body. */
export function frame(prog: number, vers: number, proc: number, serial: number, body: Uint8Array = Buffer.alloc(0), type = TYPE_CALL): Buffer {
  return encodeFrame({ program: prog, version: vers, procedure: proc, type, serial, status: STATUS_OK }, body);
}

export class RawPeer {
  readonly socket: net.Socket;
  readonly #frames: Frame[] = [];
  #waiter: (() => void) | undefined;
  #buffer = Buffer.alloc(0);
  #ended = false;
  /** Resolves when the server closes the connection (or it fails). */
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.#ended = true;
        this.#waiter?.();
        resolve();
      });
    });
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      while (this.#buffer.length >= 4) {
        const len = this.#buffer.readUInt32BE(0);
        if (this.#buffer.length < len) break;
        const f = this.#buffer.subarray(0, len);
        this.#buffer = this.#buffer.subarray(len);
        const h = readHeader(f, 4);
        this.#frames.push({
          prog: h.program,
          vers: h.version,
          proc: h.procedure,
          type: h.type,
          serial: h.serial,
          status: h.status,
          body: Buffer.from(f.subarray(MIN_FRAME_BYTES)),
        });
      }
      this.#waiter?.();
    });
  }

  static connect(address: { path: string } | { host: string; port: number }): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = 'path' in address ? net.connect(address.path) : net.connect(address.port, address.host);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawPeer(socket));
      });
    });
  }

  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next frame; rejects if the connection closes first. */
  async next(): Promise<Frame> {
    for (;;) {
      const f = this.#frames.shift();
      if (f) return f;
      if (this.#ended) throw new Error('the connection closed before another frame came');
      await new Promise<void>((r) => (this.#waiter = r));
      this.#waiter = undefined;
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
