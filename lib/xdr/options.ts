/** The options of every encode and decode, interpreted or compiled. */

/** How deep encode and decode may go into recursive schemas by default. */
export const DEFAULT_MAX_DEPTH = 200;

export interface CodecOptions {
  /**
   * Most recursive-schema values nested in each other (a linked list of n
   * nodes is n deep). Default `DEFAULT_MAX_DEPTH` (200).
   */
  readonly maxDepth?: number;
  /** The name of the top-level value in error paths. Default "value". */
  readonly name?: string;
}

/**
 * The depth limit `options` give, or -1 when it is not a positive integer:
 * the caller then runs the reference codec, which throws the RangeError.
 */
export function maxDepthOf(options: CodecOptions | undefined): number {
  if (options === undefined) return DEFAULT_MAX_DEPTH;
  const maxDepth = options?.maxDepth ?? DEFAULT_MAX_DEPTH;
  return Number.isInteger(maxDepth) && maxDepth >= 1 ? maxDepth : -1;
}
