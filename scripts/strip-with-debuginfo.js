#!/usr/bin/env node
// prebuildify's `--strip-bin`: strips the prebuild like `strip --strip-all`
// does, but first moves its debug info into a separate file next to it, so
// users who run xdrd under valgrind get file:line frames while everybody
// else loads (and downloads) an addon without it:
//
//   prebuilds/<platform>-<arch>/xdrd.node        stripped, with a .gnu_debuglink
//   prebuilds/<platform>-<arch>/xdrd.node.debug  the DWARF (zlib-compressed)
//
// prebuildify calls `<strip-bin> build/Release/xdrd.node --strip-all` from the
// package root after the build and before it moves the .node into prebuilds/
// (the .debug file goes straight there: prebuildify only moves .node files).
// The debuglink records the .debug file's base name and CRC-32; gdb and
// valgrind look for that name in the folder of the loaded .node, so the two
// files must stay side by side (node-gyp-build ignores the .debug file: its
// extension is not .node).
//
// Order matters: the .debug file must be final (compressed) before
// --add-gnu-debuglink computes its CRC, or valgrind reports "CRC mismatch" and
// falls back to `???` frames.
//
// The build must carry debug info: binding.gyp's cflags have -g1, and
// scripts/cmake-js-for-prebuildify.js asks CMake for it. Without it this
// fails instead of shipping a .debug file with nothing in it. -g1 (line
// tables, functions and inlining, no types or locals) gives valgrind the
// same stacks as -g: 0.4 MB of debug info instead of 2 MB (both compressed).
//
// Also a module: test-package.js uses elfSections() and debuglink() to check
// what it installed.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

/** Section names of an ELF64 little-endian file (x64, arm64): name → {offset, size}. */
function elfSections(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`);
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error(`${file} is not ELF64 little-endian`);
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  const header = (i) => {
    const at = shoff + i * shentsize;
    return {
      name: buf.readUInt32LE(at),
      type: buf.readUInt32LE(at + 4),
      offset: Number(buf.readBigUInt64LE(at + 0x18)),
      size: Number(buf.readBigUInt64LE(at + 0x20)),
    };
  };
  const strtab = header(shstrndx);
  const sections = new Map();
  for (let i = 0; i < shnum; i++) {
    const h = header(i);
    const start = strtab.offset + h.name;
    const name = buf.toString('latin1', start, buf.indexOf(0, start));
    // SHT_NOBITS (8): --only-keep-debug leaves code sections as empty
    // placeholders; they hold nothing, so they do not count as present.
    if (name) sections.set(name, { offset: h.offset, size: h.type === 8 ? 0 : h.size });
  }
  return { buf, sections };
}

/** The .gnu_debuglink of an ELF file: { name, crc }, or null if it has none. */
function debuglink(file) {
  const { buf, sections } = elfSections(file);
  const s = sections.get('.gnu_debuglink');
  if (!s) return null;
  const raw = buf.subarray(s.offset, s.offset + s.size);
  const end = raw.indexOf(0);
  // The name, NUL-padded to a multiple of 4, then the CRC-32 (target byte order).
  return { name: raw.toString('latin1', 0, end), crc: raw.readUInt32LE((end + 4) & ~3) };
}

// prebuildify runs the strip program with stdio 'ignore', so what this script
// prints (the sizes, or why it failed) would vanish and the build log would
// only say "exited with 1". When our stderr is /dev/null, write to the
// stderr of prebuildify (our parent) instead, through /proc (Linux only,
// which is the only platform that gets here).
function log(line) {
  let fd = 2;
  try {
    const devNull = fs.statSync('/dev/null');
    const ours = fs.fstatSync(2);
    if (ours.rdev === devNull.rdev && ours.ino === devNull.ino) fd = fs.openSync(`/proc/${process.ppid}/fd/2`, 'a');
  } catch {
    // no /proc or no access: keep fd 2
  }
  try {
    fs.writeSync(fd, `${line}\n`);
  } catch {
    // nowhere to report to
  }
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  for (const line of `${r.stdout || ''}${r.stderr || ''}`.split('\n')) if (line) log(`  ${cmd}: ${line}`);
  if (r.error) throw new Error(`cannot run ${cmd}: ${r.error.message} (objcopy comes with binutils)`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
}

function main(argv) {
  const [file, ...stripArgs] = argv;
  if (!file) throw new Error('usage: strip-with-debuginfo.js <file.node> [strip options]');
  if (process.platform !== 'linux') {
    // Only ELF gets split debug info here (macOS would want dsymutil): behave
    // like the strip prebuildify would have run.
    run(process.env.STRIP || 'strip', [file, ...stripArgs]);
    return;
  }
  if (!elfSections(file).sections.has('.debug_line')) {
    throw new Error(`${file} was built without debug info (-g1), so there is nothing to keep; ` +
      "binding.gyp's cflags and the cmake-js shim both pass -g1");
  }
  // Where prebuildify puts the .node (its defaults, relative to the package
  // root it runs in; it created the folder before building).
  const platform = process.env.PREBUILD_PLATFORM || os.platform();
  const arch = process.env.PREBUILD_ARCH || os.arch();
  const dir = path.resolve('prebuilds', `${platform}-${arch}`);
  if (!fs.existsSync(dir)) throw new Error(`${dir} does not exist: run this through prebuildify --strip-bin`);
  const debugFile = path.join(dir, `${path.basename(file)}.debug`);
  fs.rmSync(debugFile, { force: true });

  const objcopy = process.env.OBJCOPY || 'objcopy';
  const before = fs.statSync(file).size;
  // Compressed DWARF: a third of the size on disk; valgrind (3.15+) and gdb read it.
  run(objcopy, ['--only-keep-debug', '--compress-debug-sections=zlib', file, debugFile]);
  run(objcopy, ['--strip-all', `--add-gnu-debuglink=${debugFile}`, file]);

  const kb = (n) => `${(n / 1024).toFixed(0)} KB`;
  log(`strip-with-debuginfo: ${path.basename(file)} ${kb(before)} → ${kb(fs.statSync(file).size)} stripped; ` +
    `debug info in ${path.relative(process.cwd(), debugFile)} (${kb(fs.statSync(debugFile).size)})`);
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    log(`strip-with-debuginfo: ${e.message}`);
    process.exit(1);
  }
}

module.exports = { elfSections, debuglink };
