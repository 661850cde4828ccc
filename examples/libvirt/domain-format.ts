/**
 * A DomainDef as libvirtd 9.0's test driver formats it (DOMAIN_GET_XML_DESC,
 * `virsh dumpxml`): its element order, its quoting and escaping, its
 * defaults (placement, boot from hd for hvm guests, utc clock, the life
 * cycle actions). Recorded for the default domain and the fixtures in
 * test/fixtures/libvirt-domains.
 */
import type { DomainDef } from './domain-def';
import { uuidToString } from './uuid';

/** libvirt escapes the five XML specials in text and attribute values alike. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}

/** `id` is the running domain's id, or null for an inactive one and for VIR_DOMAIN_XML_INACTIVE. */
export function formatDomainXml(def: DomainDef, id: number | null): string {
  const idAttr = id === null ? '' : ` id='${id}'`;
  const machine = def.machine === null ? '' : ` machine='${escapeXml(def.machine)}'`;
  return (
    `<domain type='${escapeXml(def.virtType)}'${idAttr}>\n` +
    `  <name>${escapeXml(def.name)}</name>\n` +
    `  <uuid>${uuidToString(def.uuid)}</uuid>\n` +
    (def.title === null ? '' : `  <title>${escapeXml(def.title)}</title>\n`) +
    (def.description === null ? '' : `  <description>${escapeXml(def.description)}</description>\n`) +
    `  <memory unit='KiB'>${def.maxMemKiB}</memory>\n` +
    `  <currentMemory unit='KiB'>${def.memoryKiB}</currentMemory>\n` +
    `  <vcpu placement='static'>${def.vcpus}</vcpu>\n` +
    `  <os>\n` +
    `    <type arch='${escapeXml(def.arch)}'${machine}>${escapeXml(def.osType)}</type>\n` +
    // libvirt adds a boot device only to hvm guests (recorded: xen, linux, uml get none).
    (def.osType === 'hvm' ? `    <boot dev='hd'/>\n` : '') +
    `  </os>\n` +
    `  <clock offset='utc'/>\n` +
    `  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n  <on_crash>destroy</on_crash>\n` +
    `  <devices>\n` +
    def.devices.join('') +
    `  </devices>\n` +
    `</domain>\n`
  );
}
