/**
 * Tokens of the XDR language (RFC 4506 §6.2, RFC 5531 §12.2) from the lines
 * the preprocessor kept. Identifiers may start with an underscore, as
 * rpcgen allows; numbers are decimal, hex (0x…) or octal (0…), with no sign
 * (the parser reads a leading '-'). A double-quoted string (no escapes) is
 * a string constant's value.
 */
import { GenError, LIMITS, type Pos } from './errors';
import type { SourceLine } from './preprocess';

export type Token =
  | { readonly kind: 'id'; readonly text: string; readonly pos: Pos }
  | { readonly kind: 'num'; readonly text: string; readonly value: bigint; readonly pos: Pos }
  | { readonly kind: 'punct'; readonly text: string; readonly pos: Pos }
  | { readonly kind: 'str'; readonly text: string; readonly value: string; readonly pos: Pos }
  | { readonly kind: 'eof'; readonly text: ''; readonly pos: Pos };

const PUNCT = new Set(['{', '}', '(', ')', '[', ']', '<', '>', ';', ',', ':', '=', '*', '-']);
const ID_START = /[A-Za-z_]/;
const ID_PART = /[A-Za-z0-9_]/;

export function tokenize(lines: readonly SourceLine[], eofFile: string): Token[] {
  const tokens: Token[] = [];
  let last: Pos = { file: eofFile, line: 1, col: 1 };
  for (const { file, line, text } of lines) {
    let i = 0;
    while (i < text.length) {
      const c = text[i];
      const pos: Pos = { file, line, col: i + 1 };
      if (c === ' ' || c === '\t' || c === '\f' || c === '\v' || c === '\r') {
        i++;
        continue;
      }
      if (tokens.length >= LIMITS.tokens) throw new GenError(pos, `more than ${LIMITS.tokens} tokens`);
      if (ID_START.test(c)) {
        let j = i + 1;
        while (j < text.length && ID_PART.test(text[j])) j++;
        tokens.push({ kind: 'id', text: text.slice(i, j), pos });
        i = j;
      } else if (c >= '0' && c <= '9') {
        let j = i + 1;
        while (j < text.length && /[0-9A-Za-z_]/.test(text[j])) j++;
        const word = text.slice(i, j);
        tokens.push({ kind: 'num', text: word, value: parseNumber(word, pos), pos });
        i = j;
      } else if (c === '"') {
        // rpcgen takes string constants (`const HEX = "d4a0…";`); no escapes.
        const end = text.indexOf('"', i + 1);
        if (end < 0) throw new GenError(pos, 'unterminated string');
        tokens.push({ kind: 'str', text: text.slice(i, end + 1), value: text.slice(i + 1, end), pos });
        i = end + 1;
      } else if (PUNCT.has(c)) {
        tokens.push({ kind: 'punct', text: c, pos });
        i++;
      } else {
        throw new GenError(pos, `unexpected character '${c}'`);
      }
    }
    last = { file, line, col: text.length + 1 };
  }
  tokens.push({ kind: 'eof', text: '', pos: last });
  return tokens;
}

function parseNumber(word: string, pos: Pos): bigint {
  if (word.length > 40) throw new GenError(pos, `number too long: '${word.slice(0, 20)}…'`);
  // C's integer suffixes (u, l) are not XDR; reject them with the rest.
  if (/^0[xX][0-9A-Fa-f]+$/.test(word)) return BigInt(word);
  if (/^0[0-7]*$/.test(word)) return BigInt(word.length > 1 ? `0o${word.slice(1)}` : '0');
  if (/^[1-9][0-9]*$/.test(word)) return BigInt(word);
  throw new GenError(pos, `bad number '${word}'`);
}
