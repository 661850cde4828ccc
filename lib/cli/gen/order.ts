/**
 * The order types are written in: every type after the types it uses
 * (a `const` must exist before it is read), the file's order otherwise.
 * Types that reach each other form a strongly connected component; each of
 * those is written as `xdr.recursive` (see emit.ts). A cycle with no
 * optional, variable-length array or union on it has no finite value and is
 * an error.
 */
import type * as A from './ast';
import { GenError } from './errors';

interface Edge {
  readonly to: string;
  /** Whether an optional, a variable-length array or a union lies between. */
  readonly guarded: boolean;
}

/** The local types a definition refers to. */
export function references(def: A.TypeDefinition, isLocal: (name: string) => boolean): Edge[] {
  const out: Edge[] = [];
  const spec = (t: A.DeclType, guarded: boolean): void => {
    if (t.kind === 'ref') {
      if (isLocal(t.name)) out.push({ to: t.name, guarded });
    } else if (t.kind === 'struct') {
      for (const f of t.body.fields) decl(f, guarded);
    } else if (t.kind === 'union') union(t.body, guarded);
  };
  const decl = (d: A.Decl, guarded: boolean): void => {
    if (d.shape === 'void') return;
    spec(d.type, guarded || d.shape === 'var' || d.shape === 'optional');
  };
  const union = (u: A.UnionBody, guarded: boolean): void => {
    decl(u.discriminant, guarded);
    for (const a of u.arms) decl(a.decl, true);
    if (u.defaultArm) decl(u.defaultArm, true);
  };
  if (def.kind === 'typedef') decl(def.decl, false);
  else if (def.kind === 'struct') for (const f of def.body.fields) decl(f, false);
  else if (def.kind === 'union') union(def.body, false);
  return out;
}

export interface Ordered {
  /** Type names in the order to write them. */
  readonly order: string[];
  /** For a type on a cycle, the names of its component. */
  readonly cyclic: Map<string, ReadonlySet<string>>;
}

/** Tarjan's algorithm, iterative, visiting in file order. */
export function orderTypes(types: ReadonlyMap<string, A.TypeDefinition>): Ordered {
  const position = new Map([...types.keys()].map((n, i) => [n, i]));
  const edges = new Map<string, Edge[]>();
  for (const [name, def] of types) edges.set(name, references(def, (n) => types.has(n)));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const order: string[] = [];
  const cyclic = new Map<string, ReadonlySet<string>>();
  let counter = 0;
  for (const start of types.keys()) {
    if (index.has(start)) continue;
    const work: [string, number][] = [[start, 0]];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const top = work[work.length - 1];
      const [v, i] = top;
      const out = edges.get(v)!;
      if (i < out.length) {
        top[1]++;
        const w = out[i].to;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent)!, low.get(v)!));
      }
      if (low.get(v) === index.get(v)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== v);
        const names = new Set(component);
        const selfLoop = edges.get(v)!.some((e) => e.to === v);
        if (component.length > 1 || selfLoop) {
          checkGuarded(names, edges, types);
          for (const n of names) cyclic.set(n, names);
        }
        // Members of one component in file order.
        order.push(...component.sort((a, b) => position.get(a)! - position.get(b)!));
      }
    }
  }
  return { order, cyclic };
}

/** Throws if the component has a cycle of unguarded references only. */
function checkGuarded(names: ReadonlySet<string>, edges: ReadonlyMap<string, Edge[]>, types: ReadonlyMap<string, A.TypeDefinition>): void {
  const state = new Map<string, 1 | 2>();
  const visit = (start: string): void => {
    const work: [string, number][] = [[start, 0]];
    state.set(start, 1);
    while (work.length > 0) {
      const top = work[work.length - 1];
      const out = edges.get(top[0])!.filter((e) => !e.guarded && names.has(e.to));
      if (top[1] < out.length) {
        const w = out[top[1]++].to;
        if (state.get(w) === 1) {
          throw new GenError(types.get(w)!.pos, `type '${w}' contains itself without an optional, a variable-length array or a union in between`);
        }
        if (!state.has(w)) {
          state.set(w, 1);
          work.push([w, 0]);
        }
        continue;
      }
      state.set(top[0], 2);
      work.pop();
    }
  };
  for (const n of names) if (!state.has(n)) visit(n);
}
