// Runs named steps one after another, each under a time limit, and prints a
// table of their durations. Used by `npm test` and `npm run test:ci`.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');

// steps: [{ name, cmd: [program, ...args], limitSec, env? }] (env: added to ours)
// Stops at the first failure (the rest would only repeat its noise).
function runSteps(title, steps) {
  const rows = [];
  let failed = null;
  for (const s of steps) {
    console.log(`\n=== ${title}: ${s.name} (limit ${s.limitSec} s)`);
    const started = Date.now();
    const r = spawnSync(s.cmd[0], s.cmd.slice(1), {
      cwd: root, stdio: 'inherit', timeout: s.limitSec * 1000, killSignal: 'SIGKILL',
      env: s.env ? { ...process.env, ...s.env } : process.env,
    });
    const secs = (Date.now() - started) / 1000;
    let status = 'ok';
    if (r.error && r.error.code === 'ETIMEDOUT') status = 'TIMEOUT';
    else if (r.error) status = `ERROR ${r.error.message}`;
    else if (r.status !== 0) status = `FAIL (exit ${r.status === null ? r.signal : r.status})`;
    rows.push({ name: s.name, secs, status });
    if (status !== 'ok') {
      failed = s.name;
      break;
    }
  }
  console.log(`\n${title}: step durations`);
  for (const r of rows) console.log(`  ${r.name.padEnd(28)} ${r.secs.toFixed(1).padStart(7)} s  ${r.status}`);
  const total = rows.reduce((a, r) => a + r.secs, 0);
  console.log(`  ${'total'.padEnd(28)} ${total.toFixed(1).padStart(7)} s`);
  if (failed) {
    console.error(`${title}: step "${failed}" failed`);
    process.exit(1);
  }
}

const npm = (script) => ['npm', 'run', '--silent', script];

// Is `cmd` on PATH?
function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

// A suite whose tool is missing is skipped with what to install, or, under
// XDRD_CI=1 (set by .ci/run), failed. Either way the process ends here.
function missingTool(who, tool, pkg) {
  const msg = `${tool} not found (apt-get install -y ${pkg})`;
  if (process.env.XDRD_CI === '1') {
    console.error(`${who}: ${msg}; XDRD_CI=1 makes a missing tool a failure`);
    process.exit(1);
  }
  console.log(`${who}: SKIPPED: ${msg}`);
  process.exit(0);
}

module.exports = { runSteps, npm, have, missingTool };
