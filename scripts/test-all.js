#!/usr/bin/env node
// `npm test`: every suite whose tools a fresh machine already has (Node,
// g++, make, python3, cmake; libvirt-dev, whose virterror.h the error
// table is checked against; rpcsvc-proto, libtirpc-dev and libnsl-dev,
// whose rpcgen and .x files the xdrd gen suites use), kept to a few minutes. The sanitizer and
// valgrind runs are `npm run test:ci`.
'use strict';
const { runSteps, npm } = require('./steps');

runSteps('npm test', [
  { name: 'typecheck', cmd: npm('typecheck'), limitSec: 300 },
  // `npm install` built both once; these only recompile what changed, so the
  // suites below always load the sources under test.
  { name: 'addon (node-gyp)', cmd: npm('build:addon'), limitSec: 600 },
  { name: 'addon (cmake-js)', cmd: npm('build:cmake'), limitSec: 600 },
  { name: 'jest (in band)', cmd: npm('test:ts'), limitSec: 900 },
  { name: 'native (debug, lock checks)', cmd: npm('test:native'), limitSec: 900 },
]);
