/**
 * The XML of a domain (DOMAIN_GET_XML_DESC): its live definition with the
 * live id while it runs, or with VIR_DOMAIN_XML_INACTIVE its persistent
 * one (a definition given while it runs, if any) without the id.
 */
import { formatDomainXml } from './domain-def';
import { DomainState } from './model';
import type { TestDomain } from './model';

/** VIR_DOMAIN_XML_INACTIVE: the persistent definition, without the live id. */
const XML_INACTIVE = 2;

export function domainXml(dom: TestDomain, flags: number): string {
  if ((flags & XML_INACTIVE) !== 0) return formatDomainXml(dom.nextDef ?? dom.def, null);
  return formatDomainXml(dom.def, dom.state !== DomainState.SHUTOFF ? dom.id : null);
}
