/**
 * The test driver's domain life cycle: what each operation needs, what it
 * changes (state, reason, id, persistence) and the lifecycle event it
 * raises — recorded from libvirtd 9.0 (NOTES.md, "Life cycle"). No wire
 * types and no sessions here: handlers.ts checks access and turns the
 * results into replies; the events go to `node.emit`.
 */
import { checkDefine, parseDomainXml } from './domain-def';
import { alreadyRunning, domainNotIn, notRunning, unsupportedFlags } from './errors';
import { DomainState } from './model';
import type { TestDomain, TestNode } from './model';

/** virDomainEventType, and the details the test driver uses. */
export const LifecycleEvent = {
  DEFINED: 0,
  UNDEFINED: 1,
  STARTED: 2,
  SUSPENDED: 3,
  RESUMED: 4,
  STOPPED: 5,
} as const;
export const Detail = {
  DEFINED_ADDED: 0,
  DEFINED_UPDATED: 1,
  UNDEFINED_REMOVED: 0,
  STARTED_BOOTED: 0,
  SUSPENDED_PAUSED: 0,
  RESUMED_UNPAUSED: 0,
  STOPPED_SHUTDOWN: 0,
  STOPPED_DESTROYED: 1,
} as const;

/** The state reasons these operations leave (virDomain*Reason). */
export const Reason = {
  RUNNING_BOOTED: 1,
  RUNNING_UNPAUSED: 5,
  PAUSED_USER: 1,
  SHUTOFF_UNKNOWN: 0,
  SHUTOFF_SHUTDOWN: 1,
  SHUTOFF_DESTROYED: 2,
} as const;

/** VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | SNAPSHOTS_METADATA: what the test driver accepts. */
export const UNDEFINE_FLAGS = 0x3;
/** virDomainRebootFlagValues: DEFAULT..PARAVIRT (0x1f). */
export const REBOOT_FLAGS = 0x1f;
/** virDomainSnapshotListFlags, every one (0x7ff). */
export const SNAPSHOT_LIST_FLAGS = 0x7ff;

export function isActive(d: TestDomain): boolean {
  return d.state !== DomainState.SHUTOFF;
}

/**
 * libvirt's drivers check flags before they look the domain up: handlers
 * call this first, then find the domain, then run the operation.
 */
export function checkFlags(flags: number, allowed: number, fn: string): void {
  if ((flags & ~allowed) !== 0) throw unsupportedFlags(flags & ~allowed, fn);
}

function setState(d: TestDomain, state: number, reason: number): void {
  d.state = state;
  d.reason = reason;
}

/**
 * A domain stops: a transient one is gone (no UNDEFINED event: STOPPED
 * says it); a persistent one given a new definition while it ran takes it
 * up now.
 */
function stopped(node: TestNode, d: TestDomain, reason: number, detail: number): void {
  setState(d, DomainState.SHUTOFF, reason);
  d.id = -1;
  node.emit(d, LifecycleEvent.STOPPED, detail);
  if (!d.persistent) node.domains.splice(node.domains.indexOf(d), 1);
  else if (d.nextDef !== null) {
    d.def = d.nextDef;
    d.nextDef = null;
  }
}

export function create(node: TestNode, d: TestDomain): void {
  if (isActive(d)) throw alreadyRunning(d.def.name);
  d.id = node.nextId++;
  setState(d, DomainState.RUNNING, Reason.RUNNING_BOOTED);
  node.emit(d, LifecycleEvent.STARTED, Detail.STARTED_BOOTED);
}

export function destroy(node: TestNode, d: TestDomain): void {
  if (!isActive(d)) throw notRunning();
  stopped(node, d, Reason.SHUTOFF_DESTROYED, Detail.STOPPED_DESTROYED);
}

/** The test driver "shuts down" at once; a paused domain may be shut down too. */
export function shutdown(node: TestNode, d: TestDomain): void {
  if (d.state !== DomainState.RUNNING && d.state !== DomainState.PAUSED) throw domainNotIn('running', d.def.name);
  stopped(node, d, Reason.SHUTOFF_SHUTDOWN, Detail.STOPPED_SHUTDOWN);
}

/** Running again at once, with its id; no lifecycle event (not even from paused). */
export function reboot(_node: TestNode, d: TestDomain): void {
  if (!isActive(d)) throw notRunning();
  setState(d, DomainState.RUNNING, Reason.RUNNING_BOOTED);
}

export function suspend(node: TestNode, d: TestDomain): void {
  if (d.state !== DomainState.RUNNING) throw domainNotIn('running', d.def.name);
  setState(d, DomainState.PAUSED, Reason.PAUSED_USER);
  node.emit(d, LifecycleEvent.SUSPENDED, Detail.SUSPENDED_PAUSED);
}

export function resume(node: TestNode, d: TestDomain): void {
  if (d.state !== DomainState.PAUSED) throw domainNotIn('paused', d.def.name);
  setState(d, DomainState.RUNNING, Reason.RUNNING_UNPAUSED);
  node.emit(d, LifecycleEvent.RESUMED, Detail.RESUMED_UNPAUSED);
}

/**
 * An inactive domain is removed; an active one runs on as a transient
 * domain. Either way UNDEFINED is raised — also for a domain already
 * transient, as the test driver does (recorded).
 */
export function undefine(node: TestNode, d: TestDomain): void {
  node.emit(d, LifecycleEvent.UNDEFINED, Detail.UNDEFINED_REMOVED);
  if (isActive(d)) d.persistent = false;
  else node.domains.splice(node.domains.indexOf(d), 1);
}


/**
 * DEFINE_XML: a new domain is added shut off; the same name and UUID as a
 * domain already there replaces its persistent definition — at once when
 * it is inactive, when it stops otherwise. A malformed or incomplete
 * document, or a clash of name or UUID with another domain, is refused
 * with libvirtd's error (domain-parse.ts, domain-define.ts) and changes
 * nothing. DEFINED is raised: ADDED for a new domain, UPDATED for one
 * already there, even a transient one made persistent again (recorded).
 */
export function define(node: TestNode, xml: string): TestDomain {
  const def = parseDomainXml(xml);
  const { replaces } = checkDefine(node.domains.map((d) => ({ def: d.def, active: isActive(d) })), def);
  if (replaces === null) {
    const d: TestDomain = { def, nextDef: null, id: -1, state: DomainState.SHUTOFF, reason: Reason.SHUTOFF_UNKNOWN, persistent: true, autostart: false };
    node.domains.push(d);
    node.emit(d, LifecycleEvent.DEFINED, Detail.DEFINED_ADDED);
    return d;
  }
  const d = node.domains[replaces]!;
  if (isActive(d)) d.nextDef = def;
  else d.def = def;
  d.persistent = true;
  node.emit(d, LifecycleEvent.DEFINED, Detail.DEFINED_UPDATED);
  return d;
}
