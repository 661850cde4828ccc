/**
 * What the code generators need to know about a schema before they write
 * anything: which nodes get a function of their own, and which nodes have a
 * size that does not depend on the value (so one bounds check covers a run
 * of them).
 *
 * A schema is a DAG (plus `self` edges back to a `recursive` node). A node
 * used in several places would be written out once per place if it were
 * always inlined, and sharing compounds: `struct { a: X; b: X }` nested 30
 * times is 2^30 copies. So composite nodes used in more than one place get a
 * function each, which keeps the generated code linear in the number of
 * distinct nodes. The walk is iterative: a schema nested thousands of levels
 * deep must not overflow the stack here.
 */
import type { Schema } from './types';

export interface Shape {
  /** Nodes the generated code calls as functions instead of inlining. */
  readonly own: ReadonlySet<Schema>;
  /** Encoded sizes of the nodes whose size is fixed. */
  readonly fixed: ReadonlyMap<Schema, number>;
}

/**
 * The places where generated code writes out a node's children, in the
 * order it does. A union's arms count once per distinct arm schema (cases
 * sharing an arm share its code) plus once for the default arm.
 */
export function children(s: Schema): Schema[] {
  switch (s.kind) {
    case 'array':
    case 'fixedArray':
    case 'optional':
      return [s.element];
    case 'struct':
      return s.keys.map((k) => s.fields[k]!);
    case 'union': {
      const arms = [...new Set(s.armsByValue.values())];
      if (s.defaultArm !== undefined) arms.push(s.defaultArm);
      return arms;
    }
    case 'recursive':
      return [s.body];
    default:
      return [];
  }
}

/** Nodes that are more than a few lines of generated code. */
export function isComposite(s: Schema): boolean {
  switch (s.kind) {
    case 'array':
    case 'fixedArray':
    case 'optional':
    case 'struct':
    case 'union':
    case 'recursive':
      return true;
    default:
      return false;
  }
}

const PADDED = (n: number): number => n + ((4 - (n & 3)) & 3);

function leafSize(s: Schema): number | undefined {
  switch (s.kind) {
    case 'int': case 'uint': case 'char': case 'uchar': case 'short': case 'ushort':
    case 'float': case 'bool': case 'enum':
      return 4;
    case 'hyper': case 'uhyper': case 'double':
      return 8;
    case 'void':
      return 0;
    case 'fixedOpaque':
      return PADDED(s.length);
    default:
      return undefined;
  }
}

export function analyse(root: Schema): Shape {
  const uses = new Map<Schema, number>();
  const fixed = new Map<Schema, number>();
  const done = new Set<Schema>();
  const expanded = new Set<Schema>();
  // Entries are [node, false] to expand it and [node, true] to finish it
  // once its children are finished.
  const stack: [Schema, boolean][] = [[root, false]];
  uses.set(root, 1);
  while (stack.length > 0) {
    const [node, finishing] = stack.pop()!;
    if (finishing) {
      let size: number | undefined = leafSize(node);
      if (node.kind === 'struct') {
        size = 0;
        for (const k of node.keys) {
          const f = fixed.get(node.fields[k]!);
          if (f === undefined) {
            size = undefined;
            break;
          }
          size += f;
        }
      } else if (node.kind === 'fixedArray') {
        const f = fixed.get(node.element);
        size = f === undefined ? undefined : f * node.length;
      }
      if (size !== undefined) fixed.set(node, size);
      done.add(node);
      continue;
    }
    if (expanded.has(node)) continue;
    expanded.add(node);
    stack.push([node, true]);
    for (const c of children(node)) {
      uses.set(c, (uses.get(c) ?? 0) + 1);
      // A child seen before but not finished yet sits lower on the stack:
      // push it again so that it is finished before this node.
      if (!done.has(c)) stack.push([c, false]);
    }
  }
  const own = new Set<Schema>();
  for (const [node, n] of uses) {
    if (node.kind === 'recursive' || (n > 1 && isComposite(node))) own.add(node);
  }
  return { own, fixed };
}
