/**
 * A domain's definition: what `virsh define` gives and `virsh dumpxml`
 * shows, kept as values so the daemon can answer for the domain and format
 * its XML back as libvirtd 9.0's test driver does. This file holds the
 * shape and the default domain; parsing, formatting and the define-time
 * checks each have their own file and are re-exported here.
 */
import { uuidFromString } from './uuid';

export interface DomainDef {
  /** <domain type=...>: 'test' for the default domain; libvirtd keeps any known hypervisor name. */
  virtType: string;
  name: string;
  /** 16 raw bytes. */
  uuid: Buffer;
  title: string | null;
  description: string | null;
  /** <memory>, in KiB after the unit is applied (rounded up, as libvirt does). */
  maxMemKiB: bigint;
  /** <currentMemory>: the maximum when absent or zero, never above it. */
  memoryKiB: bigint;
  vcpus: number;
  /** <os><type>: 'hvm' and the like, as the XML shows it. */
  osType: string;
  /**
   * What DOMAIN_GET_OS_TYPE answers: the test driver says 'linux' for
   * every domain, whatever <os><type> holds (recorded for `test` and for
   * defined domains with hvm, xen, linux, uml).
   */
  reportedOsType: string;
  /** <os><type arch=...>: the test node's i686 when not given. */
  arch: string;
  machine: string | null;
  /**
   * The <devices> children, each already formatted at libvirt's
   * indentation. Only the default domain has any: a defined domain's
   * devices are not modelled (see parseDomainXml).
   */
  devices: readonly string[];
}

/** The test driver's answer to DOMAIN_GET_OS_TYPE, for every domain. */
export const TEST_DRIVER_OS_TYPE = 'linux';
/** The test node's only guest architecture: what a definition without arch gets. */
export const DEFAULT_ARCH = 'i686';

/** The default node's devices, as libvirtd formats them. */
const DEFAULT_DEVICES: readonly string[] = [
  `    <disk type='file' device='disk'>
      <source file='/guest/diskimage1'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </disk>
`,
  `    <interface type='network'>
      <mac address='aa:bb:cc:dd:ee:ff'/>
      <source network='default'/>
      <target dev='testnet0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/>
    </interface>
`,
  `    <memballoon model='virtio'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
    </memballoon>
`,
];

/** The default node's domain `test` (values as model.ts and NOTES.md record them). */
export function defaultDomainDef(): DomainDef {
  return {
    virtType: 'test',
    name: 'test',
    uuid: uuidFromString('6695eb01-f6a4-8304-79aa-97f2502e193f'),
    title: null,
    description: null,
    maxMemKiB: 8388608n,
    memoryKiB: 2097152n,
    vcpus: 2,
    osType: 'hvm',
    reportedOsType: TEST_DRIVER_OS_TYPE,
    arch: DEFAULT_ARCH,
    machine: null,
    devices: DEFAULT_DEVICES,
  };
}

export { parseDomainXml } from './domain-parse';
export { formatDomainXml } from './domain-format';
export { checkDefine } from './domain-define';
