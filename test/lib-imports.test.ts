/**
 * The layering of lib/, checked on its import graph (test/helpers/
 * import-graph.ts): no import circle anywhere; lib/cli/ (the `xdrd` command
 * and the stress driver) uses the package only as an application does,
 * through the public index and lib/libvirt/; lib/libvirt/ stands alone.
 */
import * as path from 'path';

import { findCycle, importGraph, moduleSpecifiers, resolveRelative, sourceFiles } from './helpers/import-graph';

const LIB = path.join(__dirname, '..', 'lib');
const files = sourceFiles(LIB);
const graph = importGraph(files);
const rel = (f: string): string => path.relative(LIB, f);
const under = (dir: string) => (f: string): boolean => rel(f).startsWith(`${dir}/`);

test('the cycle search finds a circle when there is one, and none in a tree', () => {
  expect(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]))).toEqual(['a', 'b', 'c', 'a']);
  expect(findCycle(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]]))).toBeUndefined();
});

test('the graph sees type-only imports, re-exports, import() and require()', () => {
  const index = graph.get(path.join(LIB, 'index.ts'))!.map(rel);
  expect(index).toEqual(expect.arrayContaining(['xdr/index.ts', 'server/server.ts', 'server/types.ts', 'native.ts']));
  expect(moduleSpecifiers(path.join(LIB, 'cli', 'cli.ts'))).toEqual(expect.arrayContaining(['./stress/run', 'xdrd/package.json']));
  expect(files.length).toBeGreaterThan(30);
});

test('no module of lib/ imports itself back through others', () => {
  const cycle = findCycle(graph);
  expect(cycle?.map(rel)).toBeUndefined();
});

test('lib/cli/ imports only the public index, lib/libvirt/, itself, Node built-ins and its own package.json', () => {
  const wrong: string[] = [];
  for (const file of files.filter(under('cli'))) {
    for (const spec of moduleSpecifiers(file)) {
      const target = resolveRelative(file, spec);
      const ok = target === undefined
        ? spec === 'xdrd/package.json' || spec.startsWith('node:') || require('module').builtinModules.includes(spec)
        : target === path.join(LIB, 'index.ts') || under('libvirt')(target) || under('cli')(target);
      if (!ok) wrong.push(`${rel(file)} → ${spec}`);
    }
  }
  expect(wrong).toEqual([]);
});

test('lib/libvirt/ imports nothing else of lib/', () => {
  const wrong = files.filter(under('libvirt')).flatMap((file) => graph.get(file)!.filter((t) => !under('libvirt')(t)).map((t) => `${rel(file)} → ${rel(t)}`));
  expect(wrong).toEqual([]);
});
