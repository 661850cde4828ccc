/**
 * Where a piece of `.x` input comes from, and the error that names it.
 * Every input problem `xdrd gen` finds is a GenError; the CLI prints it as
 * `FILE:LINE:COLUMN: message` and exits 1 without writing anything.
 */

/** A place in an input file: 1-based line and column. */
export interface Pos {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export class GenError extends Error {
  override name = 'GenError';
  constructor(
    readonly pos: Pos | undefined,
    readonly reason: string,
    /** Set when the problem is with a file as a whole (it cannot be read). */
    readonly file?: string,
  ) {
    super(pos ? `${pos.file}:${pos.line}:${pos.col}: ${reason}` : `${file ?? '(input)'}: ${reason}`);
  }
}

/** A bad command line: the CLI reports it as a usage error (exit 2). */
export class GenUsageError extends Error {
  override name = 'GenUsageError';
}

export const at = (pos: Pos): string => `${pos.file}:${pos.line}:${pos.col}`;

/** The limits that keep any input from crashing the generator or making it run long. */
export const LIMITS = {
  /** Bytes of one input file. */
  fileBytes: 4 * 1024 * 1024,
  /** Bytes of all files read for one run, includes counted each time. */
  totalBytes: 16 * 1024 * 1024,
  /** `#include` nesting. */
  includeDepth: 16,
  /** `#if`/`#ifdef` nesting. */
  conditionalDepth: 64,
  /** Tokens after preprocessing. */
  tokens: 2_000_000,
  /** Nesting of inline struct/union/enum bodies in declarations. */
  typeDepth: 32,
  /** Types of one cycle written out inside each other in one definition. */
  recursiveNesting: 64,
  /** Schema nodes written for one mutually recursive definition. */
  recursiveExpansion: 20_000,
} as const;
