/**
 * The preprocessor subset rpcgen's input needs (rpcgen runs cpp first):
 * comments, `#define NAME [VALUE]`, `#undef`, `#ifdef`, `#ifndef`,
 * `#if NAME | defined(NAME) | !… | 0 | 1`, `#else`, `#endif`,
 * `#include "file"` (beside the including file, then in each `-I` folder),
 * and `%` lines, which are passed over. Anything else starting with `#` is
 * an error naming the line. Defines are not substituted into the text: a
 * defined name with a number is a constant the resolver can use, as a `-D`
 * one is.
 */
import * as fs from 'fs';
import * as path from 'path';

import { GenError, LIMITS, type Pos } from './errors';

/** One line of source that survives preprocessing. */
export interface SourceLine {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

export interface PreprocessOptions {
  /** Symbols from `-D`, with their values ('' for `-D NAME`). */
  readonly defines: ReadonlyMap<string, string>;
  /** `-I` folders, searched in order after the including file's folder. */
  readonly includeDirs: readonly string[];
}

export interface Preprocessed {
  readonly lines: SourceLine[];
  /** Every symbol defined at the end, by `-D` or `#define`, with its value text. */
  readonly defines: Map<string, { value: string; pos?: Pos }>;
  /** The files read, the input first. */
  readonly files: string[];
}

/**
 * Blanks comments (C and C++) with spaces, keeping newlines and columns, so
 * positions in the result are positions in the file.
 */
export function stripComments(text: string, file: string): string {
  const out = text.split('');
  let i = 0;
  let line = 1;
  let lineStart = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '\n') {
      line++;
      lineStart = i + 1;
      i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const start: Pos = { file, line, col: i - lineStart + 1 };
      const end = text.indexOf('*/', i + 2);
      if (end < 0) throw new GenError(start, 'unterminated comment');
      for (let j = i; j < end + 2; j++) {
        if (text[j] === '\n') {
          line++;
          lineStart = j + 1;
        } else out[j] = ' ';
      }
      i = end + 2;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') out[i++] = ' ';
    } else i++;
  }
  return out.join('');
}

interface Frame {
  /** Whether lines here are kept (this and every enclosing branch taken). */
  active: boolean;
  /** Whether the enclosing lines are kept. */
  parentActive: boolean;
  seenElse: boolean;
  pos: Pos;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

class Preprocessor {
  readonly lines: SourceLine[] = [];
  readonly defines = new Map<string, { value: string; pos?: Pos }>();
  readonly files: string[] = [];
  private total = 0;

  constructor(private readonly opts: PreprocessOptions) {
    for (const [name, value] of opts.defines) this.defines.set(name, { value });
  }

  read(file: string, from: Pos | undefined): string {
    let text: string;
    try {
      const st = fs.statSync(file);
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
      if (st.size > LIMITS.fileBytes) throw new GenError(from, `${file} is larger than ${LIMITS.fileBytes} bytes`, file);
      text = fs.readFileSync(file, 'latin1');
    } catch (e) {
      if (e instanceof GenError) throw e;
      const code = (e as NodeJS.ErrnoException).code ?? String(e);
      throw new GenError(from, from ? `cannot read included file ${file} (${code})` : `cannot read (${code})`, file);
    }
    this.total += text.length;
    if (this.total > LIMITS.totalBytes) throw new GenError(from, `input larger than ${LIMITS.totalBytes} bytes with its includes`, file);
    this.files.push(file);
    return text;
  }

  run(file: string, stack: string[], from: Pos | undefined): void {
    const resolved = path.resolve(file);
    if (stack.includes(resolved)) throw new GenError(from, `include cycle: ${[...stack, resolved].map((f) => path.basename(f)).join(' -> ')}`);
    if (stack.length >= LIMITS.includeDepth) throw new GenError(from, `includes nested deeper than ${LIMITS.includeDepth}`);
    const text = stripComments(this.read(file, from), file);
    const frames: Frame[] = [];
    const active = (): boolean => frames.length === 0 || frames[frames.length - 1].active;
    const rows = text.split('\n');
    for (let n = 0; n < rows.length; n++) {
      const raw = rows[n].replace(/\r$/, '');
      const lead = raw.length - raw.trimStart().length;
      const pos: Pos = { file, line: n + 1, col: lead + 1 };
      const body = raw.trimStart();
      if (body.startsWith('#')) {
        this.directive(body.slice(1).trim(), pos, frames, [...stack, resolved], active());
      } else if (!active() || body.startsWith('%')) {
        continue;
      } else {
        this.lines.push({ file, line: n + 1, text: raw });
      }
    }
    if (frames.length > 0) throw new GenError(frames[frames.length - 1].pos, 'conditional without #endif');
  }

  private directive(d: string, pos: Pos, frames: Frame[], stack: string[], active: boolean): void {
    // `s`: a directive line may hold a lone \r (only a trailing one is
    // stripped as part of a CRLF), which `.` alone does not match; without
    // the flag the match failed and the destructuring threw a TypeError.
    const m = /^([A-Za-z]*)\s*(.*)$/s.exec(d)!;
    const [, word, rest] = m;
    const arg = rest.trim();
    const push = (cond: boolean): void => {
      if (frames.length >= LIMITS.conditionalDepth) throw new GenError(pos, `conditionals nested deeper than ${LIMITS.conditionalDepth}`);
      frames.push({ active: active && cond, parentActive: active, seenElse: false, pos });
    };
    switch (word) {
      case 'ifdef':
      case 'ifndef':
        if (!NAME.test(arg)) throw new GenError(pos, `#${word} needs one name, got '${arg}'`);
        push(this.defines.has(arg) === (word === 'ifdef'));
        return;
      case 'if':
        push(this.condition(arg, pos));
        return;
      case 'else': {
        const top = frames[frames.length - 1];
        if (!top) throw new GenError(pos, '#else without #if');
        if (top.seenElse) throw new GenError(pos, 'a second #else');
        top.seenElse = true;
        top.active = top.parentActive && !top.active;
        return;
      }
      case 'endif':
        if (!frames.pop()) throw new GenError(pos, '#endif without #if');
        return;
    }
    if (!active) return;
    switch (word) {
      case 'define': {
        const dm = /^([A-Za-z_][A-Za-z0-9_]*)(\(?)\s*(.*)$/.exec(arg);
        if (!dm) throw new GenError(pos, `#define needs a name, got '${arg}'`);
        if (dm[2]) throw new GenError(pos, `function-like macro ${dm[1]} is not supported`);
        this.defines.set(dm[1], { value: dm[3].trim(), pos });
        return;
      }
      case 'undef':
        if (!NAME.test(arg)) throw new GenError(pos, `#undef needs one name, got '${arg}'`);
        this.defines.delete(arg);
        return;
      case 'include': {
        const im = /^"([^"]+)"$/.exec(arg);
        if (!im) throw new GenError(pos, `#include needs a "file" name, got '${arg}'`);
        this.run(this.locate(im[1], pos), stack, pos);
        return;
      }
      default:
        throw new GenError(pos, `unsupported preprocessor directive '#${word || d}'`);
    }
  }

  private condition(expr: string, pos: Pos): boolean {
    let e = expr;
    let negate = false;
    while (e.startsWith('!')) {
      negate = !negate;
      e = e.slice(1).trim();
    }
    let value: boolean;
    const def = /^defined\s*(?:\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)|\s([A-Za-z_][A-Za-z0-9_]*))$/.exec(e);
    if (def) value = this.defines.has(def[1] ?? def[2]);
    else if (/^[0-9]+$/.test(e)) value = Number(e) !== 0;
    else if (NAME.test(e)) {
      // As cpp: an undefined name is 0, a defined one its value.
      const v = this.defines.get(e)?.value;
      value = v !== undefined && v !== '' && v !== '0';
    } else throw new GenError(pos, `#if supports NAME, defined(NAME), !, 0 and 1; got '${expr}'`);
    return value !== negate;
  }

  private locate(name: string, pos: Pos): string {
    const candidates = path.isAbsolute(name)
      ? [name]
      : [path.join(path.dirname(pos.file), name), ...this.opts.includeDirs.map((d) => path.join(d, name))];
    for (const c of candidates) if (fs.existsSync(c)) return c;
    throw new GenError(pos, `cannot find included file "${name}" (looked in ${candidates.map((c) => path.dirname(c)).join(', ')})`);
  }
}

/** Reads `file` and its includes; throws GenError on bad input. */
export function preprocess(file: string, opts: PreprocessOptions): Preprocessed {
  const p = new Preprocessor(opts);
  p.run(file, [], undefined);
  return { lines: p.lines, defines: p.defines, files: p.files };
}
