/**
 * The two build routes build one addon: binding.gyp (node-gyp, prebuildify,
 * the install fallback) and CMakeLists.txt (cmake-js) list the same sources,
 * and the cmake-js build serves a real call.
 */
import * as fs from 'fs';
import * as path from 'path';

import { REPO, cleanUp, runChild, socketPath } from './helpers/harness';

afterEach(cleanUp);

function gypSources(): string[] {
  // binding.gyp is kept strict JSON so that it can be read here.
  const gyp = JSON.parse(fs.readFileSync(path.join(REPO, 'binding.gyp'), 'utf8')) as {
    targets: { target_name: string; sources: string[] }[];
  };
  const target = gyp.targets.find((t) => t.target_name === 'xdrd');
  if (!target) throw new Error('binding.gyp has no xdrd target');
  return target.sources;
}

function cmakeList(name: string): string[] {
  const text = fs.readFileSync(path.join(REPO, 'CMakeLists.txt'), 'utf8');
  const m = new RegExp(`set\\(${name}\\s+([^)]*)\\)`).exec(text);
  if (!m) throw new Error(`CMakeLists.txt does not set ${name}`);
  return m[1]!.split(/\s+/).filter((s) => s !== '');
}

/** Every .cc file under `dir`, in its subfolders too. */
function sourcesIn(dir: string): string[] {
  return fs
    .readdirSync(path.join(REPO, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.cc'))
    .map((f) => `${dir}/${f}`);
}

test('binding.gyp and CMakeLists.txt build the addon from the same source list', () => {
  const cmake = [...cmakeList('XDRD_CORE_SOURCES'), ...cmakeList('XDRD_ADDON_SOURCES')];
  expect([...gypSources()].sort()).toEqual([...cmake].sort());
});

test('every C++ source of native/core and native/addon is in the build', () => {
  const listed = new Set(gypSources());
  const missing = [...sourcesIn('native/core'), ...sourcesIn('native/addon')].filter((f) => !listed.has(f));
  expect(missing).toEqual([]);
});

test('the cmake-js build, loaded by path, serves a real call', async () => {
  const addon = path.join(REPO, 'build-cmake', 'Release', 'xdrd.node');
  if (!fs.existsSync(addon)) throw new Error(`${addon} is missing: run \`npm run build:cmake\` (npm test does)`);
  const r = await runChild(path.join(__dirname, 'fixtures', 'serve-one-call.js'), [socketPath()], {
    env: { XDRD_ADDON: addon },
  });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as { reply: string; loaded: string[] };
  expect(out).toEqual({ reply: 'hi!', loaded: [addon] });
});
