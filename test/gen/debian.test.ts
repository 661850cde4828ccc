/**
 * Every .x file Debian ships in rpcsvc-proto, libtirpc-dev and libnsl-dev
 * generates a module that compiles under tsc --strict and loads (its
 * schemas are built). The files are read where the packages put them;
 * .ci/run installs the packages, and a missing one fails this suite.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { FIXTURES, checkDir, runCli } from './helpers';

const DIRS = ['/usr/include/rpcsvc', '/usr/include/tirpc/rpcsvc', '/usr/include/tirpc/rpc'];
const PACKAGES = 'apt-get install -y rpcsvc-proto libtirpc-dev libnsl-dev';

/** Files we know the packages ship: a sanity check that the glob found them. */
const EXPECTED = [
  'bootparam_prot', 'key_prot', 'klm_prot', 'mount', 'nfs_prot', 'nis', 'nis_callback', 'nis_object', 'nlm_prot',
  'rex', 'rquota', 'rstat', 'rusers', 'sm_inter', 'spray', 'yp', 'yppasswd', 'crypt', 'rpcb_prot',
];

const netobj = path.join(FIXTURES, 'netobj.x');
const desBlock = path.join(FIXTURES, 'des_block.x');
const rpcTypes = path.join(FIXTURES, 'rpc_types.x');

/**
 * The arguments some files need, and why: each uses a type or constant that
 * rpcgen's C takes from a C header (or from a `%#define` only C sees).
 */
const NEEDS: Record<string, { args: string[]; why: string }> = {
  klm_prot: { args: ['--include', netobj], why: 'netobj comes from <rpc/xdr.h>' },
  nlm_prot: {
    args: ['--include', netobj, '-D', 'LM_MAXSTRLEN=1024', '-D', 'MAXNAMELEN=1025'],
    why: 'netobj comes from <rpc/xdr.h>; LM_MAXSTRLEN and MAXNAMELEN are %#define lines, seen by C only',
  },
  key_prot: {
    args: ['--include', netobj, '--include', desBlock, '-D', 'MAXNETNAMELEN=255'],
    why: 'netobj and des_block come from <rpc/xdr.h> and <rpc/auth.h>, MAXNETNAMELEN from <rpc/auth.h>',
  },
  nis: { args: ['--include', netobj], why: 'nis_object.x (which it #includes) uses netobj from <rpc/xdr.h>' },
  nis_object: { args: ['--include', netobj], why: 'netobj comes from <rpc/xdr.h>' },
  nis_callback: {
    args: ['--include', netobj, '--include', '/usr/include/rpcsvc/nis.x'],
    why: "it uses nis.x's types (nis_object, nis_error) without including nis.x",
  },
  rpcb_prot: { args: ['--include', rpcTypes], why: 'rpcprog_t, rpcvers_t, rpcproc_t come from <rpc/types.h>, netbuf from libtirpc' },
};

const files = DIRS.flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.endsWith('.x')).sort().map((f) => path.join(d, f)) : []));
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'xdrd-gen-debian-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

test(`Debian's .x files are installed (${PACKAGES})`, () => {
  expect(files.map((f) => path.basename(f, '.x'))).toEqual(expect.arrayContaining(EXPECTED));
});

describe('each file generates', () => {
  beforeAll(() => {
    // The helper modules the --include arguments import from.
    for (const f of [netobj, desBlock, rpcTypes]) {
      const r = runCli(['gen', f, '-o', path.join(out, `${path.basename(f, '.x')}.ts`)]);
      if (r.code !== 0) throw new Error(r.stderr);
    }
  });

  test.each(files.map((f) => [path.basename(f, '.x'), f]))('%s', (name, file) => {
    const need = NEEDS[name];
    const r = runCli(['gen', file, '-o', path.join(out, `${name}.ts`), ...(need?.args ?? [])]);
    expect(r.stderr.split('\n').filter((l) => l && !l.includes(': warning: '))).toEqual([]);
    expect(r.code).toBe(0);
  });
});

test('every generated module compiles under tsc --strict', () => {
  const r = checkDir(out);
  expect(r.stdout + r.stderr).toBe('');
  expect(r.code).toBe(0);
});

test('every generated module loads: its schemas and programs are built', () => {
  const loaded = files.map((f) => path.basename(f, '.x')).map((name) => {
    const mod = require(path.join(out, `${name}.ts`)) as Record<string, unknown>;
    return [name, Object.keys(mod).length] as const;
  });
  for (const [name, n] of loaded) expect([name, n > 0]).toEqual([name, true]);
  const mount = require(path.join(out, 'mount.ts')) as typeof import('../fixtures/gen/all');
  expect(Object.keys(mount)).toEqual(expect.arrayContaining(['MOUNTPROG', 'MOUNTVERS', 'exports_', 'fhandle']));
});
