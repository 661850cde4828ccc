/**
 * The domain XML of the libvirt example (examples/libvirt/domain-def.ts)
 * against what a real libvirtd 9.0 answered for the documents in
 * test/fixtures/libvirt-domains (recorded there; README.md): parse then
 * format gives its dumpxml byte for byte, a refused document gets its
 * error (message, code, domain, and virsh's stderr built from them), and
 * define's conflicts with the default domain get its errors. Runs without
 * libvirtd.
 */
import * as fs from 'fs';
import * as path from 'path';

import { isRpcError } from 'xdrd';
import type { RpcError } from 'xdrd';

import { checkDefine, defaultDomainDef, formatDomainXml, parseDomainXml } from '../examples/libvirt/domain-def';
import type { DomainDef } from '../examples/libvirt/domain-def';
import { domainXml } from '../examples/libvirt/domain-xml';
import { DomainState, defaultNode } from '../examples/libvirt/model';

const DIR = path.join(__dirname, 'fixtures', 'libvirt-domains');
const read = (f: string) => fs.readFileSync(path.join(DIR, f), 'utf8');
const files = fs.readdirSync(DIR).sort();
const valid = files.filter((f) => f.endsWith('.xml') && !f.startsWith('invalid-') && !f.startsWith('define-'));
const invalid = files.filter((f) => f.endsWith('.xml') && f.startsWith('invalid-'));
const conflicts = files.filter((f) => f.endsWith('.xml') && f.startsWith('define-conflict-'));

/** virsh prints the document and then an empty line. */
const asPrinted = (xml: string) => `${xml}\n`;
/** The recordings of documents without a UUID hold a placeholder: put it in ours too. */
const placeholderUuid = (xml: string) => xml.replace(/<uuid>[0-9a-f-]{36}<\/uuid>/, '<uuid><UUID></uuid>');

/** The RpcError `fn` throws; fails the test when it throws nothing or something else. */
function thrown(fn: () => unknown): RpcError {
  try {
    fn();
  } catch (e) {
    if (isRpcError(e)) return e;
    throw e;
  }
  throw new Error('expected an RpcError, nothing was thrown');
}

interface Recorded {
  code: number;
  domain: number;
  str1: string | null;
  message: string;
}

function expectRecorded(err: RpcError, base: string, file: string): void {
  const rec = JSON.parse(read(`${base}.error.json`)) as Recorded;
  expect({ code: err.code, domain: err.domain, str1: err.str1, message: err.message }).toEqual(rec);
  expect(err.level).toBe(2);
  // virsh: its own line, then the daemon's message verbatim.
  expect(`error: Failed to define domain from ${file}\nerror: ${err.message}\n`).toBe(read(`${base}.virsh-stderr`));
}

test('the fixtures are all there: at least 6 valid, 6 invalid, and each recording next to its document', () => {
  expect(valid.length).toBeGreaterThanOrEqual(6);
  expect(invalid.length).toBeGreaterThanOrEqual(6);
  for (const f of valid) for (const ext of ['.dumpxml', '.dumpxml-inactive']) expect(files).toContain(f.replace(/\.xml$/, ext));
  for (const f of [...invalid, ...conflicts]) for (const ext of ['.virsh-stderr', '.error.json']) expect(files).toContain(f.replace(/\.xml$/, ext));
});

describe.each(valid)('valid %s', (file) => {
  const base = file.replace(/\.xml$/, '');
  const xml = read(file);
  const hasUuid = xml.includes('<uuid>');

  test('parse then format is what libvirtd dumps, with and without --inactive', () => {
    const def = parseDomainXml(xml);
    const ours = (s: string) => asPrinted(hasUuid ? s : placeholderUuid(s));
    // A defined domain is inactive: no id either way.
    expect(ours(formatDomainXml(def, null))).toBe(read(`${base}.dumpxml`));
    expect(ours(formatDomainXml(def, null))).toBe(read(`${base}.dumpxml-inactive`));
  });

  test('GET_OS_TYPE answers linux, as the test driver does for every domain', () => {
    expect(parseDomainXml(xml).reportedOsType).toBe('linux');
  });

  if (!hasUuid) {
    test('without <uuid>, each define draws a new random UUID', () => {
      const a = parseDomainXml(xml).uuid;
      const b = parseDomainXml(xml).uuid;
      expect(a.length).toBe(16);
      expect(a.equals(b)).toBe(false);
      // Version 4, variant 1: what libvirt generates too.
      expect(a[6]! >> 4).toBe(4);
      expect(a[8]! >> 6).toBe(2);
    });
  }
});

describe.each(invalid)('invalid %s', (file) => {
  test('refused with the recorded error', () => {
    expectRecorded(thrown(() => parseDomainXml(read(file))), file.replace(/\.xml$/, ''), file);
  });
});

describe('the default domain', () => {
  const dom = defaultNode().domains[0]!;

  test('formats as libvirtd dumps it, live and --inactive', () => {
    expect(asPrinted(formatDomainXml(defaultDomainDef(), dom.id))).toBe(read('default-test.dumpxml'));
    expect(asPrinted(formatDomainXml(defaultDomainDef(), null))).toBe(read('default-test.dumpxml-inactive'));
  });

  test("domainXml (DOMAIN_GET_XML_DESC's answer) is unchanged: flags 0 and INACTIVE, and a shut-off domain has no id", () => {
    expect(asPrinted(domainXml(dom, 0))).toBe(read('default-test.dumpxml'));
    expect(asPrinted(domainXml(dom, 2))).toBe(read('default-test.dumpxml-inactive'));
    expect(asPrinted(domainXml({ ...dom, state: DomainState.SHUTOFF }, 0))).toBe(read('default-test.dumpxml-inactive'));
  });

  test("the model's domain `test` runs the default definition", () => {
    expect(dom.def).toEqual(defaultDomainDef());
    expect(dom.nextDef).toBeNull();
  });
});

describe('checkDefine against the default node', () => {
  const node = () => [{ def: defaultDomainDef(), active: true }];

  test.each(conflicts)('%s is refused with the recorded error', (file) => {
    const def = parseDomainXml(read(file));
    expectRecorded(thrown(() => checkDefine(node(), def)), file.replace(/\.xml$/, ''), file);
  });

  test('a new name and UUID is a new domain', () => {
    expect(checkDefine(node(), parseDomainXml(read('uuid-mib.xml')))).toEqual({ replaces: null });
    expect(checkDefine([], parseDomainXml(read('minimal.xml')))).toEqual({ replaces: null });
  });

  test('the same name and UUID replaces that domain; a running one keeps its live XML (recorded)', () => {
    const existing: { def: DomainDef; active: boolean }[] = [{ def: parseDomainXml(read('uuid-mib.xml')), active: false }, ...node()];
    const def = parseDomainXml(read('define-redefine-test.xml'));
    expect(checkDefine(existing, def)).toEqual({ replaces: 1 });
    // What libvirtd shows afterwards: the old definition live, the new one with --inactive.
    const running = { ...defaultNode().domains[0]!, nextDef: def };
    expect(asPrinted(domainXml(running, 0))).toBe(read('define-redefine-test.dumpxml'));
    expect(asPrinted(domainXml(running, 2))).toBe(read('define-redefine-test.dumpxml-inactive'));
  });

  test('an inactive domain holds its name and UUID as a running one does', () => {
    const idle = [{ def: defaultDomainDef(), active: false }];
    expect(() => checkDefine(idle, parseDomainXml(read('define-conflict-uuid-of-test.xml')))).toThrow(/is already defined with uuid/);
    expect(() => checkDefine(idle, parseDomainXml(read('define-conflict-name-of-test.xml')))).toThrow(/already exists with uuid/);
  });
});

describe('documents cut off inside a tag', () => {
  // Recorded from libvirtd 9.0 (python defineXML): code 35, domain 20, and libxml2's report.
  const cases: [string, string][] = [
    ['<domain', "(domain_definition):1: Couldn't find end of Start Tag domain line 1\n<domain\n-------^"],
    ["<domain type='test'", "(domain_definition):1: attributes construct error\n<domain type='test'\n-------------------^"],
    ["<domain type='test' ", "(domain_definition):1: Couldn't find end of Start Tag domain line 1\n<domain type='test' \n--------------------^"],
    ["<domain type='te", "(domain_definition):1: AttValue: ' expected\n<domain type='te\n----------------^"],
    ["<domain type='test'><name", "(domain_definition):1: Couldn't find end of Start Tag name line 1\n<domain type='test'><name\n-------------------------^"],
    ["<domain type='test'><name>x</name", "(domain_definition):1: expected '>'\n<domain type='test'><name>x</name\n---------------------------------^"],
    ['\n<domain\n', "(domain_definition):3: Couldn't find end of Start Tag domain line 2\n(null)\n^"],
  ];
  test.each(cases)('%j is refused as libvirtd refuses it', (xml, message) => {
    const e = thrown(() => parseDomainXml(xml));
    expect({ code: e.code, domain: e.domain, message: e.message }).toEqual({ code: 35, domain: 20, message });
  });
});

describe('deep nesting', () => {
  // libxml2 without XML_PARSE_HUGE: an element that would start with 257 open is refused there (recorded).
  const deep = (pre: string, n: number) => `${pre}${'<x>'.repeat(n)}</description></domain>`;
  test.each([
    ["<domain type='test'><name>big</name><description>", 300, 814],
    ['<domain>', 300, 776],
    ["<domain><a b='1'>", 258, 782],
    ["<domain type='test'><name>big</name><description>", 1 << 20, 814],
  ])('%j + %d levels: refused where libvirtd refuses it', (pre, n, at) => {
    const xml = deep(pre, n);
    const e = thrown(() => parseDomainXml(xml));
    const [head, context, caret] = e.message.split('\n');
    expect([e.code, e.domain, head]).toEqual([35, 20, '(domain_definition):1: Excessive depth in document: 256 use XML_PARSE_HUGE option']);
    expect(context).toBe(xml);
    expect(caret).toBe(`${'-'.repeat(at)}^`);
  });

  test('256 levels under the root are still parsed', () => {
    expect(thrown(() => parseDomainXml(`<domain>\n${'<x>'.repeat(256)}</description></domain>`)).message).toMatch(/^\(domain_definition\):2: Opening and ending tag mismatch: x line 2 and description\n/);
  });
});
