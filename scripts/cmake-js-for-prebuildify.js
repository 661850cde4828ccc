#!/usr/bin/env node
// Lets prebuildify build the addon with cmake-js: prebuildify can only run
// node-gyp, but takes another program with `--node-gyp <path>`. This is that
// program (`npm run prebuildify:cmake`).
//
// prebuildify calls it as
//   <this> rebuild --target=<node version> --devdir=<dir> --arch=<arch> --release|--debug
// and then takes the first *.node file in build/Release (or build/Debug).
// cmake-js writes there by default, so this runs a plain `cmake-js rebuild`
// (no -O: `npm run build:cmake` builds into build-cmake/ instead, which
// prebuildify would not look at). --target and --devdir only matter for
// node-gyp's header download; cmake-js takes the Node-API headers from the
// node-api-headers package because package.json has `binary.napi_versions`.
//
// Like binding.gyp, the release build carries -g1 (line tables and inlining
// records: all valgrind needs for file:line frames, a fifth of -g's size), so
// that scripts/strip-with-debuginfo.js can ship it next to the stripped
// prebuild. cmake-js sets CMAKE_CXX_FLAGS itself (so CXXFLAGS from the
// environment would be overridden); the per-configuration flags are CMake's
// GCC/Clang Release defaults plus -g1, which changes no generated code.
//
// Note: `rebuild` deletes build/ first, including a node-gyp build there.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const args = process.argv.slice(2);
if (args[0] !== 'rebuild') {
  console.error(`cmake-js-for-prebuildify: expected "rebuild" as prebuildify passes it, got: ${args.join(' ')}`);
  process.exit(2);
}
const debug = args.includes('--debug');
const arch = (args.find((a) => a.startsWith('--arch=')) || '').slice('--arch='.length);

// cmake-js from the package being built (a devDependency), whatever the cwd.
const root = process.cwd();
const pkgJson = require.resolve('cmake-js/package.json', { paths: [root] });
const pkg = require(pkgJson);
const cli = path.join(path.dirname(pkgJson), typeof pkg.bin === 'string' ? pkg.bin : pkg.bin['cmake-js']);

const cmakeArgs = [cli, 'rebuild'];
if (debug) cmakeArgs.push('--debug'); // Debug builds have -g already
else cmakeArgs.push('--CDCMAKE_CXX_FLAGS_RELEASE=-O3 -DNDEBUG -g1');
if (arch) cmakeArgs.push('--arch', arch);

const r = spawnSync(process.execPath, cmakeArgs, { cwd: root, stdio: 'inherit' });
if (r.error) console.error(`cmake-js-for-prebuildify: ${r.error.message}`);
process.exit(r.status === null ? 1 : r.status);
