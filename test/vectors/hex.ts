/**
 * Golden byte strings are written as annotated hex: hex digits, any
 * whitespace, and `#` comments to the end of the line, e.g.
 *
 *     00000002      # name: length 2
 *     766d 0000     #   "vm" + 2 bytes of padding
 *
 * `parseHex` strips the comments and whitespace. The format is simple on
 * purpose, so that the native tests can read the same text.
 */
export function parseHex(text: string): Buffer {
  const digits = text.replace(/#[^\n]*/g, '').replace(/\s+/g, '');
  if (!/^(?:[0-9a-f]{2})*$/.test(digits)) {
    throw new Error(`bad golden hex (odd length or a non-hex character): ${JSON.stringify(digits.slice(0, 80))}`);
  }
  return Buffer.from(digits, 'hex');
}

/** The ASCII characters of `s` as an rpcgen `char` array value. */
export function chars(s: string): number[] {
  return Array.from(s, (c) => {
    const code = c.charCodeAt(0);
    if (code > 0x7f) throw new Error(`chars: ${JSON.stringify(c)} is not ASCII`);
    return code;
  });
}
