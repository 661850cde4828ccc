/**
 * `virsh define`'s document read into a DomainDef, refused the way
 * libvirtd 9.0's test driver refuses it: the same checks in the same
 * order, so that a document with several mistakes gets the error libvirtd
 * gives first (the order was recorded with documents carrying two
 * mistakes each).
 *
 * Kept: the domain type, name, uuid, title, description, memory,
 * currentMemory, vcpu, and os/type with its arch and machine. Everything
 * else a document may hold (devices, features, clock, boot order, vcpu
 * current=...) is not modelled and not kept: libvirtd would keep it and
 * show it in dumpxml.
 */
import { randomUUID } from 'crypto';

import { DEFAULT_ARCH, TEST_DRIVER_OS_TYPE } from './domain-def';
import type { DomainDef } from './domain-def';
import * as E from './domain-xml-errors';
import { memoryKiB } from './memory-units';
import { uuidFromString } from './uuid';
import { parseXmlDocument } from './xml-syntax';
import type { XmlElement } from './xml-syntax';

/** The name libvirt gives the document in libxml2's reports. */
const DOC_NAME = 'domain_definition';

/** virDomainVirtType's names: libvirtd's test driver stores any of them. */
const VIRT_TYPES = new Set(['none', 'qemu', 'kqemu', 'kvm', 'xen', 'lxc', 'uml', 'openvz', 'test', 'vmware', 'hyperv', 'vbox', 'phyp', 'parallels', 'bhyve', 'vz', 'hvf']);
/** virDomainOSType's names (case matters). */
const OS_TYPES = new Set(['hvm', 'xen', 'linux', 'exe', 'uml', 'xenpvh']);
/** virArch's names in libvirt 9.0 (loongarch64 came later: refused, recorded). */
const ARCHES = new Set([
  'i686', 'x86_64', 'alpha', 'armv6l', 'armv7l', 'armv7b', 'aarch64', 'cris', 'm68k', 'microblaze', 'microblazeel', 'mips', 'mipsel', 'mips64',
  'mips64el', 'openrisc', 'parisc', 'parisc64', 'ppc', 'ppcle', 'ppc64', 'ppc64le', 'ppcemb', 'riscv32', 'riscv64', 's390', 's390x', 'sh4', 'sh4eb',
  'sparc', 'sparc64', 'unicore32', 'xtensa', 'xtensaeb',
]);

const UINT_MAX = 2 ** 32 - 1;

/** The first child named `name`, as libvirt's `./name[1]` XPath picks it. */
function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

/**
 * libvirt's UUID reading: leading blanks, then 32 hex digits with any
 * dashes between pairs, then only blanks.
 */
function parseUuid(text: string): Buffer | null {
  const m = /^\s*((?:-*[0-9a-fA-F]{2}){16})\s*$/.exec(text);
  return m === null ? null : Buffer.from(m[1]!.replace(/-/g, ''), 'hex');
}

/**
 * An unsigned count as C's strtoul reads it: leading blanks, a sign,
 * decimal digits, nothing after. A negative count wraps in libvirtd (and
 * -1 then makes it try to allocate 2^32 vCPUs and die, recorded); here it
 * is refused like any other unreadable count.
 */
function parseCount(text: string): number | null {
  const m = /^\s*([+-]?)([0-9]+)$/.exec(text);
  if (m === null) return null;
  const n = Number(m[2]);
  if (n > UINT_MAX) return null;
  if (m[1] === '-' && n !== 0) return null;
  return n;
}

export function parseDomainXml(xml: string): DomainDef {
  const root = parseXmlDocument(xml, DOC_NAME);
  if (root.name !== 'domain') throw E.notDomainRoot(root.name);

  const name = child(root, 'name')?.text ?? '';
  if (name === '') throw E.missingName();

  const uuidText = child(root, 'uuid')?.text ?? '';
  let uuid: Buffer;
  if (uuidText === '') uuid = uuidFromString(randomUUID());
  else {
    const parsed = parseUuid(uuidText);
    if (parsed === null) throw E.malformedUuid();
    uuid = parsed;
  }

  const virtType = root.attrs['type'] ?? '';
  if (virtType === '') throw E.missingVirtType();
  if (!VIRT_TYPES.has(virtType)) throw E.unknownVirtType(virtType);

  const typeEl = child(child(root, 'os'), 'type');
  const osType = typeEl?.text ?? '';
  if (osType === '') throw E.missingOsType();
  if (!OS_TYPES.has(osType)) throw E.unknownOsType(osType);
  const arch = typeEl?.attrs['arch'] || DEFAULT_ARCH;
  if (!ARCHES.has(arch)) throw E.unknownArch(arch);
  if (osType === 'exe') throw E.missingInit();
  const machine = typeEl?.attrs['machine'] || null;

  const memEl = child(root, 'memory');
  // An empty <memory/> is as good as none: refused below as missing.
  const maxMemKiB = memEl === undefined || memEl.text === '' ? 0n : memoryKiB(memEl.text, memEl.attrs['unit'], './memory[1]');
  const curEl = child(root, 'currentMemory');
  const curKiB = curEl === undefined || curEl.text === '' ? 0n : memoryKiB(curEl.text, curEl.attrs['unit'], './currentMemory[1]');

  const vcpuEl = child(root, 'vcpu');
  let vcpus = 1;
  if (vcpuEl !== undefined) {
    const n = parseCount(vcpuEl.text);
    if (n === null) throw E.vcpusNotInteger();
    vcpus = n;
  }
  if (vcpus === 0) throw E.zeroVcpus();

  if (maxMemKiB === 0n) throw E.noMemory();
  if (name.includes('/')) throw E.nameWithSlash(name);

  return {
    virtType,
    name,
    uuid,
    title: child(root, 'title')?.text || null,
    description: child(root, 'description')?.text || null,
    maxMemKiB,
    // No current size, or a larger one than the maximum: the maximum.
    memoryKiB: curKiB === 0n || curKiB > maxMemKiB ? maxMemKiB : curKiB,
    vcpus,
    osType,
    reportedOsType: TEST_DRIVER_OS_TYPE,
    arch,
    machine,
    devices: [],
  };
}
