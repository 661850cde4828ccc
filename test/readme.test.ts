/**
 * The README's TypeScript example is examples/readme.ts, word for word, and
 * it runs and prints what the README says it prints.
 */
import * as fs from 'fs';
import * as path from 'path';

import { REPO, runChild } from './helpers/harness';

test('the README example is examples/readme.ts exactly', () => {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const example = fs.readFileSync(path.join(REPO, 'examples', 'readme.ts'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  expect(blocks).toContain(example);
});

test('the README example runs and prints its greeting', async () => {
  const r = await runChild(path.join(REPO, 'dist', 'examples', 'readme.js'));
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toBe('Hello, Ada!\n');
});
