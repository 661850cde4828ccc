// Compiles lib/ and examples/ into dist/ before the suites run: the forked
// children (test/fixtures/*.js, the example daemon) load the compiled
// package, and must see the sources under test, not an older build.
const { execFileSync } = require('child_process');
const path = require('path');

module.exports = async function globalSetup() {
  const root = path.join(__dirname, '..');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], {
    cwd: root,
    stdio: 'inherit',
  });
};
