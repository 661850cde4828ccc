#!/usr/bin/env node
// `npm run test:tools-bite`: proves the tools bite. A clean run under
// memcheck, helgrind or the lock checker means something only if the same
// run reports a bug when there is one, so this builds the addon again with
// one planted bug each (CMake XDRD_PLANT, native/addon/) and runs the same
// scenario the clean runs use, with the same flags and suppressions:
//   jslock → the lock checker (lock.h, in the debug addon) must abort with
//            its JS-thread message: stats() takes the server lock while the
//            loop runs (server_wrap.cc). The clean debug addon runs the
//            same fixture and must not abort.
//   leak   → memcheck must fail with "definitely lost" in PlantedLeak;
//   race   → helgrind must fail with "Possible data race" in call_bridge.cc.
// Under XDRD_CI=1 a missing valgrind is a failure; without it and without
// XDRD_CI, only the lock checker's case runs.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { have, missingTool } = require('./steps');
const { tools, fixtures, buildAddon, buildTs } = require('./node-tools');

const root = path.join(__dirname, '..');

const cases = [
  { plant: 'leak', tool: 'memcheck', exit: 99, expect: [/definitely lost/, /PlantedLeak/] },
  { plant: 'race', tool: 'helgrind', exit: 98, expect: [/Possible data race/, /call_bridge\.cc/] },
];

// The JS-thread lock rule: the fixture the ASan run uses with 5,000
// clients, here with 50 (the plant fires at the first stats()).
const jsLock = {
  script: 'many-clients.js',
  env: { XDRD_MANY_CLIENTS: '50' },
  message: /xdrd: lock order violation on thread '[^']*': the JS thread takes no server or client lock while the server's loop runs: taking server lock 'server' in N-API entry 'stats'/,
};

function runJsLock(variant) {
  const addon = buildAddon(variant);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `xdrd-bite-${variant}-`));
  const env = { ...process.env, ...jsLock.env, XDRD_ADDON: addon };
  const started = Date.now();
  const r = spawnSync(process.execPath, [path.join(fixtures, jsLock.script), dir], { cwd: root, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  fs.rmSync(dir, { recursive: true, force: true });
  return { r, out: `${r.stdout}\n${r.stderr}`, secs: ((Date.now() - started) / 1000).toFixed(1) };
}

// Both builds are Debug, so both have the checker (XDRD_LOCK_CHECKS).
function biteJsLock(failures) {
  console.log('\n--- the lock checker with a planted JS-thread lock (stats() takes the server lock)');
  const planted = runJsLock('plant-jslock');
  const line = planted.out.split('\n').find((l) => l.includes('lock order violation'));
  if (line) console.log(`    ${line.trim()}`);
  if (planted.r.signal !== 'SIGABRT' || !jsLock.message.test(planted.out)) {
    failures.push(`jslock: ${planted.r.signal || `exit ${planted.r.status}`}, expected SIGABRT with the checker's message`);
    console.log(`--- the lock checker did NOT report the planted jslock (${planted.secs} s)`);
    console.log(planted.out.slice(-4000));
  } else {
    console.log(`--- the lock checker reported the planted jslock (${planted.secs} s)`);
  }
  console.log('\n--- the same fixture on the clean debug addon (must not abort)');
  const clean = runJsLock('debug');
  if (clean.r.status !== 0 || /lock order violation/.test(clean.out)) {
    failures.push(`jslock: the clean addon ended with ${clean.r.signal || `exit ${clean.r.status}`}`);
    console.log(`--- the clean addon FAILED (${clean.secs} s)`);
    console.log(clean.out.slice(-4000));
  } else {
    console.log(`--- the clean addon ran clean (${clean.secs} s): ${clean.r.stdout.trim()}`);
  }
}

function main() {
  buildTs();
  const failures = [];
  biteJsLock(failures);
  if (!have('valgrind')) {
    if (failures.length) fail(failures);
    missingTool('tools-bite', 'valgrind', 'valgrind libc6-dbg');
  }
  for (const c of cases) {
    const tool = tools[c.tool];
    const addon = buildAddon(`plant-${c.plant}`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `xdrd-bite-${c.plant}-`));
    // A short load: the planted bug is hit on every call.
    const env = { ...process.env, XDRD_ADDON: addon, XDRD_LOAD_CLIENTS: '2', XDRD_LOAD_CALLS: '10' };
    const cmd = [...tool.prefix, process.execPath, ...(tool.nodeArgs || []), path.join(fixtures, 'bridge-load.js'), dir];
    console.log(`\n--- ${c.tool} with a planted ${c.plant}`);
    const started = Date.now();
    const r = spawnSync(cmd[0], cmd.slice(1), { cwd: root, env, encoding: 'utf8', maxBuffer: 256 << 20 });
    fs.rmSync(dir, { recursive: true, force: true });
    const out = `${r.stdout}\n${r.stderr}`;
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const summary = out.split('\n').filter((l) => /ERROR SUMMARY|definitely lost:|Possible data race/.test(l)).slice(0, 4);
    for (const line of summary) console.log(`    ${line.trim()}`);
    const missing = c.expect.filter((re) => !re.test(out));
    if (r.status !== c.exit || missing.length > 0) {
      failures.push(`${c.plant}: exit ${r.status}, expected ${c.exit}; ${missing.length ? `missing ${missing.join(', ')}` : 'report as expected'}`);
      console.log(`--- ${c.tool} did NOT report the planted ${c.plant} (${secs} s)`);
      console.log(out.slice(-4000));
    } else {
      console.log(`--- ${c.tool} reported the planted ${c.plant} (${secs} s)`);
    }
  }
  if (failures.length) fail(failures);
}

function fail(failures) {
  console.error(`tools-bite: the tools missed a planted bug:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}

main();
