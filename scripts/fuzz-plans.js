#!/usr/bin/env node
// Writes test/fuzz/decode_plans.inc, the plans fuzz_decode_plan.cc runs,
// from the schemas of test/fuzz/plans.ts (the one place they are written).
// `--check` writes nothing and exits 1 when the file is out of date.
//
// plans.ts and the lib/ code it uses are TypeScript; they are transpiled on
// the fly with the project's own `typescript` (no type check: tsc and jest
// do that), so this needs no build step and no ts-node.
'use strict';
const fs = require('fs');
const path = require('path');
const ts = require('typescript');

require.extensions['.ts'] = (module, filename) => {
  const source = fs.readFileSync(filename, 'utf8');
  const out = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    fileName: filename,
  });
  module._compile(out.outputText, filename);
};

const root = path.join(__dirname, '..');
const file = path.join(root, 'test', 'fuzz', 'decode_plans.inc');
const { renderPlansInc } = require(path.join(root, 'test', 'fuzz', 'plans.ts'));
const text = renderPlansInc();
const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;

if (process.argv.includes('--check')) {
  if (current !== text) {
    console.error(`fuzz-plans: ${path.relative(process.cwd(), file)} is out of date; run node scripts/fuzz-plans.js`);
    process.exit(1);
  }
  console.log('fuzz-plans: decode_plans.inc is up to date');
} else if (current === text) {
  console.log('fuzz-plans: decode_plans.inc is up to date');
} else {
  fs.writeFileSync(file, text);
  console.log(`fuzz-plans: wrote ${path.relative(process.cwd(), file)}`);
}
