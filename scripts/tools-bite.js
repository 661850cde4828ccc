#!/usr/bin/env node
// `npm run test:tools-bite`: proves the tools bite. A clean run under
// memcheck or helgrind means something only if the same run reports a bug
// when there is one, so this builds the addon twice more with one planted
// bug each (CMake XDRD_PLANT, native/addon/call_bridge.cc) and runs the
// same scenario the clean runs use, with the same flags and suppressions:
//   leak  → memcheck must fail with "definitely lost" in PlantedLeak;
//   race  → helgrind must fail with "Possible data race" in call_bridge.cc.
// Under XDRD_CI=1 a missing valgrind is a failure.
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

function main() {
  if (!have('valgrind')) missingTool('tools-bite', 'valgrind', 'valgrind libc6-dbg');
  buildTs();
  const failures = [];
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
  if (failures.length) {
    console.error(`tools-bite: the tools missed a planted bug:\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
}

main();
