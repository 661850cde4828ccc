#!/usr/bin/env node
// `npm run test:ci`: the native tests, the Node bridge and the stress driver
// under every tool CI has, after `npm test`. Under XDRD_CI=1 a missing tool
// fails its step.
// The bridge under DRD (`npm run test:node:drd`) is left out: DRD needs
// about ten minutes for node there, helgrind one; the native core's
// threads still run under DRD in `native under DRD`.
'use strict';
const { runSteps, npm } = require('./steps');

runSteps('test:ci', [
  { name: 'native under TSan', cmd: npm('test:native:tsan'), limitSec: 900 },
  { name: 'native under ASan+UBSan', cmd: npm('test:native:asan'), limitSec: 900 },
  { name: 'native under helgrind', cmd: npm('test:native:helgrind'), limitSec: 900 },
  { name: 'native under DRD', cmd: npm('test:native:drd'), limitSec: 1500 },
  { name: 'native under memcheck', cmd: npm('test:native:memcheck'), limitSec: 900 },
  { name: 'bridge under ASan+UBSan', cmd: npm('test:node:asan'), limitSec: 600 },
  { name: 'bridge under memcheck', cmd: npm('test:node:memcheck'), limitSec: 900 },
  { name: 'bridge under helgrind', cmd: npm('test:node:helgrind'), limitSec: 900 },
  { name: 'stress', cmd: npm('stress'), limitSec: 300 },
  // The reference backend too; the runs under tools below use the default
  // (epoll) only, for CI time.
  { name: 'stress on poll()', cmd: npm('stress'), limitSec: 300, env: { XDRD_EVENT_BACKEND: 'poll' } },
  { name: 'stress under memcheck', cmd: npm('stress:valgrind'), limitSec: 1500 },
  // The libvirt example as a user module: plainly, then under memcheck.
  { name: 'libvirt example under stress', cmd: npm('stress:libvirt'), limitSec: 400 },
  { name: 'libvirt example under stress, memcheck', cmd: npm('stress:libvirt:valgrind'), limitSec: 1500 },
  { name: 'stress under helgrind', cmd: npm('stress:helgrind'), limitSec: 1500 },
  { name: 'stress under ASan+UBSan', cmd: npm('stress:asan'), limitSec: 600 },
  { name: 'the tools report planted bugs', cmd: npm('test:tools-bite'), limitSec: 900 },
  // Deterministic: every kept corpus input, then a fixed-seed run per
  // target (about 10 s from a clean build); random fuzzing is for local runs.
  { name: 'fuzz replay', cmd: npm('fuzz:replay'), limitSec: 300 },
]);
