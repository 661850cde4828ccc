/**
 * The in-memory hypervisor: libvirt's test driver's default node
 * (`test:///default`) and its one domain, `test`. Every value is what a
 * real libvirtd 9.0 with the test driver answers (recorded; NOTES.md).
 * No wire types here: handlers.ts turns these into replies.
 */
import * as os from 'os';

import { defaultDomainDef } from './domain-def';
import type { DomainDef } from './domain-def';

/** virDomainState values. */
export const DomainState = { NOSTATE: 0, RUNNING: 1, BLOCKED: 2, PAUSED: 3, SHUTDOWN: 4, SHUTOFF: 5, CRASHED: 6, PMSUSPENDED: 7 } as const;

export interface TestDomain {
  /** The definition it runs with; when inactive, its persistent one. */
  def: DomainDef;
  /**
   * A persistent definition given (define) while it runs: `dumpxml
   * --inactive` shows it, and it replaces `def` when the domain stops.
   */
  nextDef: DomainDef | null;
  /** -1 while inactive. */
  id: number;
  state: number;
  /** The reason of the state (VIR_DOMAIN_RUNNING_UNKNOWN = 0 on a fresh node). */
  reason: number;
  persistent: boolean;
  autostart: boolean;
}

export interface NodeInfo {
  model: string;
  memoryKiB: bigint;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}

/** Raises a lifecycle event (virDomainEventType, detail) about a domain as it is now. */
export type EmitLifecycle = (d: TestDomain, event: number, detail: number) => void;

export interface TestNode {
  /** In the order the driver lists them. */
  domains: TestDomain[];
  /** Where lifecycle events go: every connection that registered for them (NodeStore). */
  emit: EmitLifecycle;
  /** The id the next started domain gets. */
  nextId: number;
  /** The id the next event callback gets, whichever connection registers it. */
  nextCallbackId: number;
  info: NodeInfo;
}

/** The connection type (`virsh version`'s "TEST"). */
export const HYPERVISOR_TYPE = 'TEST';
/** The test driver's hypervisor version: 2, printed "0.0.2". */
export const HYPERVISOR_VERSION = 2n;
/** The library version the daemon reports: libvirt 9.0.0, what the Debian 12 clients expect. */
export const LIBRARY_VERSION = 9000000n;
/** The only URI served: what virsh sends for `test+unix:///default?socket=...`. */
export const DEFAULT_URI = 'test:///default';
/** The security driver of the test node and the label of its domains. */
export const SECURITY_MODEL = 'testSecurity';
export const SECURITY_DOI = '';
export const SECURITY_LABEL = 'libvirt-test';

/** The test driver reports the daemon machine's own hostname. */
export function hostname(): string {
  return os.hostname();
}

/** A fresh default node: what the first connection to `test:///default` sees. */
export function defaultNode(emit: EmitLifecycle = () => {}): TestNode {
  return {
    emit,
    domains: [
      { def: defaultDomainDef(), nextDef: null, id: 1, state: DomainState.RUNNING, reason: 0, persistent: true, autostart: false },
    ],
    nextId: 2,
    nextCallbackId: 0,
    info: { model: 'i686', memoryKiB: 3145728n, cpus: 16, mhz: 1400, nodes: 2, sockets: 2, cores: 2, threads: 2 },
  };
}

/**
 * The test driver's cpuTime is the wall clock in nanoseconds (not a
 * counter): virsh's "CPU time" line differs on every call, for both daemons.
 */
export function cpuTimeNs(): bigint {
  return BigInt(Date.now()) * 1000000n;
}
