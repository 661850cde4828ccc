/**
 * What `define` checks against the domains already on the node, recorded
 * from libvirtd 9.0's test driver: a name is bound to one UUID and a UUID
 * to one name; a definition with both the same replaces the persistent
 * definition of that domain (a running one keeps its live definition until
 * it stops, which is the caller's business).
 */
import type { DomainDef } from './domain-def';
import { nameTaken, uuidTaken } from './domain-xml-errors';

/**
 * The index in `existing` of the domain `def` redefines, or null when it
 * is a new domain. Throws libvirtd's error when the name or the UUID is
 * taken by another domain. The UUID is looked at first, as the driver
 * finds domains by UUID.
 */
export function checkDefine(existing: ReadonlyArray<{ def: DomainDef; active: boolean }>, def: DomainDef): { replaces: number | null } {
  const byUuid = existing.findIndex((d) => d.def.uuid.equals(def.uuid));
  if (byUuid >= 0) {
    const other = existing[byUuid]!.def;
    if (other.name !== def.name) throw uuidTaken(other.name, other.uuid);
    return { replaces: byUuid };
  }
  const byName = existing.find((d) => d.def.name === def.name);
  if (byName !== undefined) throw nameTaken(byName.def.name, byName.def.uuid);
  return { replaces: null };
}
