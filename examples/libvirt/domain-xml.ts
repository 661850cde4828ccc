/**
 * The XML of a test-driver domain (DOMAIN_GET_XML_DESC), laid out as the
 * real test driver formats its default domain: the values come from the
 * model, the devices are the default node's fixed ones.
 */
import { DomainState, uuidToString } from './model';
import type { TestDomain } from './model';

/** VIR_DOMAIN_XML_INACTIVE: the persistent definition, without the live id. */
const XML_INACTIVE = 2;

const DEVICES = `  <devices>
    <disk type='file' device='disk'>
      <source file='/guest/diskimage1'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </disk>
    <interface type='network'>
      <mac address='aa:bb:cc:dd:ee:ff'/>
      <source network='default'/>
      <target dev='testnet0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/>
    </interface>
    <memballoon model='virtio'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
    </memballoon>
  </devices>
`;

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}

export function domainXml(dom: TestDomain, flags: number): string {
  const live = dom.state !== DomainState.SHUTOFF && (flags & XML_INACTIVE) === 0;
  const id = live ? ` id='${dom.id}'` : '';
  return (
    `<domain type='test'${id}>\n` +
    `  <name>${escape(dom.name)}</name>\n` +
    `  <uuid>${uuidToString(dom.uuid)}</uuid>\n` +
    `  <memory unit='KiB'>${dom.maxMemKiB}</memory>\n` +
    `  <currentMemory unit='KiB'>${dom.memoryKiB}</currentMemory>\n` +
    `  <vcpu placement='static'>${dom.vcpus}</vcpu>\n` +
    `  <os>\n    <type arch='i686'>hvm</type>\n    <boot dev='hd'/>\n  </os>\n` +
    `  <clock offset='utc'/>\n` +
    `  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n  <on_crash>destroy</on_crash>\n` +
    DEVICES +
    `</domain>\n`
  );
}
