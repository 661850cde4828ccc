/**
 * `xdrd stress` as users and the valgrind scripts run it: the compiled CLI
 * in a child process (dist/ is built by the global setup). Small scale, so
 * each run takes a few seconds; the full-size run is `npm run stress`.
 */
import * as fs from 'fs';
import * as path from 'path';

import { REPO, cleanUp, runChild, tempDir } from './helpers/harness';

afterEach(cleanUp);

const CLI = path.join(REPO, 'dist', 'lib', 'cli', 'cli.js');
const SMALL = ['--scale', '0.1', '--rounds', '6', '--seed', '42'];

/** The invariant lines of the report (between "invariants:" and the counters). */
function invariantLines(stdout: string): string[] {
  const lines = stdout.split('\n');
  const from = lines.indexOf('invariants:');
  const to = lines.findIndex((l) => l.startsWith('abuse counters'));
  return lines.slice(from + 1, to);
}

/** The "problems" section: what went wrong, peer by peer (empty on a clean run). */
function problems(stdout: string): string[] {
  const lines = stdout.split('\n');
  const from = lines.findIndex((l) => l.startsWith('problems'));
  return from < 0 ? [] : lines.slice(from, lines.findIndex((l) => l.startsWith('result:')));
}

function counterLines(stdout: string): string[] {
  const lines = stdout.split('\n');
  const from = lines.findIndex((l) => l.startsWith('abuse counters'));
  return lines.slice(from + 1).filter((l) => /^ {2}(PASS|FAIL|SKIP) /.test(l));
}

test('a small run passes every invariant and proves every abuse, and prints its seed first', async () => {
  const r = await runChild(CLI, ['stress', ...SMALL]);
  expect(r.stderr).toBe('');
  expect(r.stdout.split('\n')[0]).toBe('seed: 42 (repeat with --seed 42)');
  expect(problems(r.stdout)).toEqual([]);
  const invariants = invariantLines(r.stdout);
  const expected = [
    /^ {2}PASS {2}every call on a connection that stayed open was answered exactly once: \d+ of \d+ answered; missing 0, duplicates 0/,
    /^ {2}PASS {2}every reply matched its call/,
    /^ {2}PASS {2}the server reacted to every abuse as specified/,
    /^ {2}PASS {2}native live clients, jobs, messages and threads were 0 after close\(\) in all 6 rounds/,
    /^ {2}PASS {2}every value of server\.stats\(\) was a whole number in \[0, 2\^53\) in all \d+ samples taken under load/,
    /^ {2}PASS {2}with every client gone .* in all 6 rounds/,
    /^ {2}PASS {2}RSS after gc, lowest of rounds ≥ 5, ≤ 1\.05 × round 2 \+ 8 MiB = /,
    /^ {2}PASS {2}every scenario ran to its end within --seconds/,
  ];
  expect(invariants).toHaveLength(expected.length);
  invariants.forEach((line, i) => expect(line).toMatch(expected[i]!));
  const counters = counterLines(r.stdout);
  expect(counters.length).toBeGreaterThan(30);
  expect(counters.filter((l) => !l.startsWith('  PASS'))).toEqual([]);
  expect(r.stdout.split('\n').filter((l) => /^round \d\/6: /.test(l))).toHaveLength(6);
  expect(r.stdout).toMatch(/\nresult: PASS; 6 rounds in [\d.]+ s; seed 42\n$/);
  expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
}, 120000);

test("a user module's handlers are served and its sample calls each answered once, under the same seed line", async () => {
  const module = path.join(__dirname, 'fixtures', 'stress-user-module.js');
  const r = await runChild(CLI, ['stress', module, ...SMALL]);
  expect(r.stderr).toBe('');
  expect(r.stdout.split('\n')[0]).toBe('seed: 42 (repeat with --seed 42)');
  expect(r.stdout).toContain('(6 sample calls)');
  expect(problems(r.stdout)).toEqual([]);
  expect(r.stdout).toMatch(/\n {2}PASS {2}user module calls sent: \d+ \(≥ \d+\)\n/);
  expect(invariantLines(r.stdout).filter((l) => !l.startsWith('  PASS'))).toEqual([]);
  expect(counterLines(r.stdout).filter((l) => !l.startsWith('  PASS'))).toEqual([]);
  expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
}, 120000);

test('a daemon that drops calls fails "answered exactly once" and exits 1', async () => {
  // A handler that closes its own connection while the call is pending: the
  // driver's calls on a connection it did not cut go unanswered.
  const module = path.join(tempDir(), 'drops-calls.js');
  fs.writeFileSync(
    module,
    [
      "exports.setup = (server) => server.handle(0x20005555, 1, {",
      '  1: (_body, ctx) => { ctx.client.close(); return new Promise(() => {}); },',
      '});',
      'exports.calls = [{ program: 0x20005555, version: 1, procedure: 1 }];',
      '',
    ].join('\n'),
  );
  const r = await runChild(CLI, ['stress', module, '--scale', '0.05', '--rounds', '2', '--seed', '7']);
  expect(r.stderr).toBe('');
  expect(r.stdout).toMatch(/\n {2}FAIL {2}every call on a connection that stayed open was answered exactly once: \d+ of \d+ answered; missing [1-9]\d*/);
  expect(r.stdout).toMatch(/\n {2}FAIL {2}the server reacted to every abuse as specified and closed no connection unexpectedly: \d+ wrong reactions, [1-9]\d* unexpected closes/);
  expect(r.stdout).toMatch(/user-calls#\d+: 1 call\(s\) never answered/);
  expect(r.stdout).toMatch(/\nresult: FAIL /);
  expect({ code: r.code, signal: r.signal }).toEqual({ code: 1, signal: null });
}, 120000);

test('usage errors exit 2 with a message on stderr, and --help explains the command', async () => {
  for (const args of [['--bogus'], ['a.js', 'b.js'], ['--scale', '-1'], ['--rounds'], ['--seed', '2.5'], [path.join(tempDir(), 'missing.js')], [path.join(REPO, 'package.json')]]) {
    const r = await runChild(CLI, ['stress', ...args]);
    expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^xdrd: .+\nRun 'xdrd --help' for usage\.\n$/);
  }
  const help = await runChild(CLI, ['stress', '--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/^Usage: xdrd stress \[module\] \[options\]\n/);
  for (const option of ['--clients N', '--seconds S', '--scale X', '--seed N', '--rounds N']) expect(help.stdout).toContain(option);
  const list = await runChild(CLI, ['--help']);
  expect(list.stdout).toMatch(/\n {2}stress \[module\] \[options\] +Stress a daemon/);
}, 60000);
