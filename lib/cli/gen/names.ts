/**
 * The rename rule. A `.x` name is exported under itself unless TypeScript
 * cannot use it as a module-level `const` and `type` name: a reserved word
 * (JavaScript's, strict mode's, TypeScript's type keywords), a name the
 * module system takes (`require`, `exports`, `module`) or one of the
 * generated module's own imports (`xdr`, `defineProgram`). Such a name gets
 * `_` appended, as many times as needed to reach a name that is neither
 * reserved nor another name of the same `.x` world. The rule depends only on
 * the set of names, so a module that imports another one computes the
 * other's renames the same way.
 */
const RESERVED = new Set([
  // ECMAScript reserved words and strict-mode ones
  'break', 'case', 'catch', 'class', 'const', 'continue', 'debugger', 'default', 'delete', 'do', 'else',
  'enum', 'export', 'extends', 'false', 'finally', 'for', 'function', 'if', 'import', 'in', 'instanceof',
  'new', 'null', 'return', 'super', 'switch', 'this', 'throw', 'true', 'try', 'typeof', 'var', 'void',
  'while', 'with', 'yield', 'let', 'static', 'implements', 'interface', 'package', 'private', 'protected',
  'public', 'await', 'arguments', 'eval',
  // names a type alias cannot have, and globals that must not be shadowed
  'any', 'unknown', 'never', 'number', 'string', 'boolean', 'bigint', 'symbol', 'object', 'undefined',
  'NaN', 'Infinity', 'globalThis',
  // CommonJS's module-level names, and the generated module's imports
  'require', 'exports', 'module', 'xdr', 'defineProgram',
]);

/** Why a name is renamed, for the warning. */
export function whyRenamed(name: string): string {
  if (name === 'xdr' || name === 'defineProgram') return 'the generated module imports that name from xdrd';
  if (name === 'require' || name === 'exports' || name === 'module') return 'a CommonJS module-level name';
  return 'a reserved word in TypeScript';
}

/**
 * TS names for the `names` a module defines, beside the TS names it imports
 * (`alsoTaken`): a map holding only the names that change.
 */
export function renames(names: Iterable<string>, alsoTaken: Iterable<string> = []): Map<string, string> {
  const all = new Set(names);
  const out = new Map<string, string>();
  const taken = new Set([...all, ...alsoTaken]);
  for (const name of [...all].sort()) {
    if (!RESERVED.has(name)) continue;
    let candidate = `${name}_`;
    while (RESERVED.has(candidate) || taken.has(candidate)) candidate += '_';
    taken.add(candidate);
    out.set(name, candidate);
  }
  return out;
}

/** A property key for an object literal: `__proto__` must be computed to stay an own key. */
export function key(name: string): string {
  return name === '__proto__' ? "['__proto__']" : name;
}
