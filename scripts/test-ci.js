#!/usr/bin/env node
// `npm run test:ci`: the native tests under every tool CI has, after
// `npm test`. Under XDRD_CI=1 a missing tool fails its step.
'use strict';
const { runSteps, npm } = require('./steps');

runSteps('test:ci', [
  { name: 'native under TSan', cmd: npm('test:native:tsan'), limitSec: 900 },
  { name: 'native under ASan+UBSan', cmd: npm('test:native:asan'), limitSec: 900 },
  { name: 'native under helgrind', cmd: npm('test:native:helgrind'), limitSec: 900 },
  { name: 'native under DRD', cmd: npm('test:native:drd'), limitSec: 900 },
  { name: 'native under memcheck', cmd: npm('test:native:memcheck'), limitSec: 900 },
]);
