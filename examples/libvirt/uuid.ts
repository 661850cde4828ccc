/** UUIDs as the wire carries them (16 raw bytes) and as libvirt prints them. */

export function uuidFromString(s: string): Buffer {
  return Buffer.from(s.replace(/-/g, ''), 'hex');
}

export function uuidToString(uuid: Buffer): string {
  const h = uuid.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
