/**
 * The XML of a test-driver domain (DOMAIN_GET_XML_DESC) for the domains
 * of model.ts: their values in the default domain's definition, formatted
 * by domain-format.ts. The live id shows only while the domain runs and
 * VIR_DOMAIN_XML_INACTIVE is not asked.
 */
import { defaultDomainDef, formatDomainXml } from './domain-def';
import { DomainState } from './model';
import type { TestDomain } from './model';

/** VIR_DOMAIN_XML_INACTIVE: the persistent definition, without the live id. */
const XML_INACTIVE = 2;

export function domainXml(dom: TestDomain, flags: number): string {
  const live = dom.state !== DomainState.SHUTOFF && (flags & XML_INACTIVE) === 0;
  const def = { ...defaultDomainDef(), name: dom.name, uuid: dom.uuid, maxMemKiB: dom.maxMemKiB, memoryKiB: dom.memoryKiB, vcpus: dom.vcpus };
  return formatDomainXml(def, live ? dom.id : null);
}
