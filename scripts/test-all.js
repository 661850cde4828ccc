#!/usr/bin/env node
// `npm test`: every suite whose tools a fresh machine already has (Node,
// g++, cmake), kept to a few minutes. The sanitizer and valgrind runs are
// `npm run test:ci`.
'use strict';
const { runSteps, npm } = require('./steps');

runSteps('npm test', [
  { name: 'typecheck', cmd: npm('typecheck'), limitSec: 300 },
  { name: 'jest', cmd: npm('test:ts'), limitSec: 600 },
  { name: 'native (debug, lock checks)', cmd: npm('test:native'), limitSec: 900 },
]);
