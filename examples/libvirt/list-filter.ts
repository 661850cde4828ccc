/**
 * CONNECT_LIST_ALL_DOMAINS' flags (virConnectListAllDomainsFlags). They
 * come in groups; within a group the bits are alternatives (ACTIVE |
 * INACTIVE is "both"), a group with no bit set does not filter, and a
 * domain is listed when it passes every group.
 */
import { DomainState } from './model';
import type { TestDomain } from './model';

const ACTIVE = 1, INACTIVE = 2;
const PERSISTENT = 4, TRANSIENT = 8;
const RUNNING = 16, PAUSED = 32, SHUTOFF = 64, OTHER = 128;
const MANAGEDSAVE = 256, NO_MANAGEDSAVE = 512;
const AUTOSTART = 1024, NO_AUTOSTART = 2048;
const HAS_SNAPSHOT = 4096, NO_SNAPSHOT = 8192;
const HAS_CHECKPOINT = 16384, NO_CHECKPOINT = 32768;

/** [bits of the group, the bit this domain has in it]. */
function groups(d: TestDomain): [number, number][] {
  const active = d.state !== DomainState.SHUTOFF;
  const stateBit = d.state === DomainState.RUNNING ? RUNNING : d.state === DomainState.PAUSED ? PAUSED : d.state === DomainState.SHUTOFF ? SHUTOFF : OTHER;
  return [
    [ACTIVE | INACTIVE, active ? ACTIVE : INACTIVE],
    [PERSISTENT | TRANSIENT, d.persistent ? PERSISTENT : TRANSIENT],
    [RUNNING | PAUSED | SHUTOFF | OTHER, stateBit],
    // The test node has no managed saves, snapshots or checkpoints.
    [MANAGEDSAVE | NO_MANAGEDSAVE, NO_MANAGEDSAVE],
    [AUTOSTART | NO_AUTOSTART, d.autostart ? AUTOSTART : NO_AUTOSTART],
    [HAS_SNAPSHOT | NO_SNAPSHOT, NO_SNAPSHOT],
    [HAS_CHECKPOINT | NO_CHECKPOINT, NO_CHECKPOINT],
  ];
}

export function matchesListFlags(d: TestDomain, flags: number): boolean {
  return groups(d).every(([group, bit]) => (flags & group) === 0 || (flags & bit) !== 0);
}
