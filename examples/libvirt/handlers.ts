/**
 * The REMOTE program's handlers: libvirtd's dispatch for the procedures in
 * remote.x, answered from the model of the test driver's default node.
 * Procedures not here answer "unknown procedure: N" (the server does that),
 * which libvirt's clients turn into NO_SUPPORT and fall back from.
 */
import type { CallContext, Handlers } from 'xdrd';

import { domainXml } from './domain-xml';
import { alreadyOpen, lookupFailed, noDefaultDriver, noDriver, noSuchDomain, noTestFile, unsupportedEventId } from './errors';
import { EventCallbacks } from './events';
import * as lifecycle from './lifecycle';
import { REBOOT_FLAGS, SNAPSHOT_LIST_FLAGS, UNDEFINE_FLAGS, checkFlags } from './lifecycle';
import { matchesListFlags } from './list-filter';
import {
  DEFAULT_URI,
  DomainState,
  HYPERVISOR_TYPE,
  HYPERVISOR_VERSION,
  LIBRARY_VERSION,
  SECURITY_DOI,
  SECURITY_LABEL,
  SECURITY_MODEL,
  cpuTimeNs,
  hostname,
} from './model';
import type { TestDomain, TestNode } from './model';
import { remote } from './remote';
import type { remote_nonnull_domain } from './remote';
import type { Sessions } from './session';

/** virConnectFlags: VIR_CONNECT_RO. */
const CONNECT_RO = 1;

// virDrvFeature numbers the daemon itself answers (libvirt-wire.md §5).
const FEATURE_FD_PASSING = 8;
const FEATURE_PROGRAM_KEEPALIVE = 10;
/** What the real daemon answers 1 for, with the test driver: all others 0. */
const FEATURES_SUPPORTED = new Set([9, 10, 14, 15, 16]);

/** A C string as rpcgen's `char x<N>`: one word per character, the NUL counted. */
function cChars(s: string): number[] {
  return [...Buffer.from(s + '\0', 'latin1')];
}

/** A fixed `char x[len]`: the string, then NULs. */
function fixedChars(s: string, len: number): number[] {
  const out = new Array<number>(len).fill(0);
  Buffer.from(s, 'latin1').subarray(0, len - 1).forEach((c, i) => (out[i] = c));
  return out;
}

function wireDomain(d: TestDomain): remote_nonnull_domain {
  return { name: d.def.name, uuid: d.def.uuid, id: d.state === DomainState.SHUTOFF ? -1 : d.id };
}

/** The domain a per-domain call names: by UUID, as the test driver finds it. */
function domainOf(node: TestNode, dom: remote_nonnull_domain): TestDomain {
  const d = node.domains.find((x) => x.def.uuid.equals(dom.uuid));
  if (d === undefined) throw noSuchDomain(dom.uuid, dom.name);
  return d;
}

export function remoteHandlers(sessions: Sessions): Partial<Handlers<typeof remote, CallContext>> {
  const node = (ctx: CallContext): TestNode => sessions.node(ctx);
  const dom = (ctx: CallContext, d: remote_nonnull_domain): TestDomain => domainOf(node(ctx), d);
  /**
   * A procedure that changes the node: open, then read-write (the refusal
   * names libvirt's API function `api`), then the flags, then the domain —
   * the order libvirt checks them in.
   */
  const change = (ctx: CallContext, api: string, d: remote_nonnull_domain, flags?: [number, number, string]): [TestNode, TestDomain] => {
    const n = sessions.writableNode(ctx, api);
    if (flags !== undefined) checkFlags(...flags);
    return [n, domainOf(n, d)];
  };

  return {
    // One method, none: the socket's permissions are the access control.
    auth_list: () => ({ types: ['REMOTE_AUTH_NONE'] }),

    connect_supports_feature: ({ feature }, ctx) => {
      const session = sessions.get(ctx);
      if (feature === FEATURE_PROGRAM_KEEPALIVE) {
        // libvirtd starts its own PINGs when a client asks about keepalive:
        // only a client with an event loop asks, and only it can answer them.
        if (!session.keepaliveStarted) {
          session.keepaliveStarted = true;
          ctx.client.startKeepalive();
        }
        return { supported: 1 };
      }
      node(ctx);  // every other feature needs an open connection
      // xdrd does not pass descriptors: say so instead of libvirtd's 1.
      if (feature === FEATURE_FD_PASSING) return { supported: 0 };
      return { supported: FEATURES_SUPPORTED.has(feature) ? 1 : 0 };
    },

    connect_open: ({ name, flags }, ctx) => {
      const session = sessions.get(ctx);
      if (session.node !== null) {
        // libvirtd's failure path drops the connection it had: after a
        // second CONNECT_OPEN every call is "not open" again (recorded).
        session.node = null;
        sessions.store.release();
        throw alreadyOpen();
      }
      if (name === null) throw noDefaultDriver();
      if (name !== DEFAULT_URI) {
        if (name.startsWith('test://')) throw noTestFile(name.replace(/^test:\/\/[^/]*/, ''));
        throw noDriver(name);
      }
      session.readOnly = (flags & CONNECT_RO) !== 0;
      session.node = sessions.store.acquire();
    },

    connect_close: (_args, ctx) => {
      // libvirtd answers, then closes its end.
      ctx.client.close({ afterReply: true });
    },

    connect_register_close_callback: (_args, ctx) => void node(ctx),
    connect_unregister_close_callback: (_args, ctx) => void node(ctx),

    connect_get_type: (_args, ctx) => (node(ctx), { type: HYPERVISOR_TYPE }),
    connect_get_version: (_args, ctx) => (node(ctx), { hv_ver: HYPERVISOR_VERSION }),
    connect_get_lib_version: (_args, ctx) => (node(ctx), { lib_ver: LIBRARY_VERSION }),
    connect_get_hostname: (_args, ctx) => (node(ctx), { hostname: hostname() }),
    connect_get_uri: (_args, ctx) => (node(ctx), { uri: DEFAULT_URI }),

    node_get_info: (_args, ctx) => {
      const i = node(ctx).info;
      return { model: fixedChars(i.model, 32), memory: i.memoryKiB, cpus: i.cpus, mhz: i.mhz, nodes: i.nodes, sockets: i.sockets, cores: i.cores, threads: i.threads };
    },
    node_get_security_model: (_args, ctx) => (node(ctx), { model: cChars(SECURITY_MODEL), doi: cChars(SECURITY_DOI) }),

    connect_list_all_domains: ({ need_results, flags }, ctx) => {
      const found = node(ctx).domains.filter((d) => matchesListFlags(d, flags));
      return { domains: need_results !== 0 ? found.map(wireDomain) : [], ret: found.length };
    },

    domain_lookup_by_id: ({ id }, ctx) => {
      const d = node(ctx).domains.find((x) => x.state !== DomainState.SHUTOFF && x.id === id);
      if (d === undefined) throw lookupFailed();
      return { dom: wireDomain(d) };
    },
    domain_lookup_by_name: ({ name }, ctx) => {
      const d = node(ctx).domains.find((x) => x.def.name === name);
      if (d === undefined) throw lookupFailed();
      return { dom: wireDomain(d) };
    },
    domain_lookup_by_uuid: ({ uuid }, ctx) => {
      const d = node(ctx).domains.find((x) => x.def.uuid.equals(uuid));
      if (d === undefined) throw lookupFailed();
      return { dom: wireDomain(d) };
    },

    domain_get_info: (a, ctx) => {
      const d = dom(ctx, a.dom);
      return { state: d.state, maxMem: d.def.maxMemKiB, memory: d.def.memoryKiB, nrVirtCpu: d.def.vcpus, cpuTime: cpuTimeNs() };
    },
    domain_get_state: (a, ctx) => {
      const d = dom(ctx, a.dom);
      return { state: d.state, reason: d.reason };
    },
    domain_get_xml_desc: (a, ctx) => ({ xml: domainXml(dom(ctx, a.dom), a.flags) }),
    domain_get_os_type: (a, ctx) => ({ type: dom(ctx, a.dom).def.reportedOsType }),
    domain_is_active: (a, ctx) => ({ active: dom(ctx, a.dom).state !== DomainState.SHUTOFF ? 1 : 0 }),
    domain_is_persistent: (a, ctx) => ({ persistent: dom(ctx, a.dom).persistent ? 1 : 0 }),
    domain_get_autostart: (a, ctx) => ({ autostart: dom(ctx, a.dom).autostart ? 1 : 0 }),
    domain_has_managed_save_image: (a, ctx) => (dom(ctx, a.dom), { result: 0 }),
    // Only a running domain has a label; an inactive one answers "" and 0 (recorded).
    domain_get_security_label: (a, ctx) =>
      lifecycle.isActive(dom(ctx, a.dom)) ? { label: cChars(SECURITY_LABEL), enforcing: 1 } : { label: cChars(''), enforcing: 0 },
    domain_get_messages: (a, ctx) => (dom(ctx, a.dom), { msgs: [] }),
    domain_snapshot_num: (a, ctx) => {
      const n = node(ctx);
      checkFlags(a.flags, SNAPSHOT_LIST_FLAGS, 'testDomainSnapshotNum');
      domainOf(n, a.dom);
      return { num: 0 };  // the test node keeps no snapshots
    },

    // Life cycle (lifecycle.ts): each raises its event before it answers.
    domain_create: (a, ctx) => lifecycle.create(...change(ctx, 'virDomainCreate', a.dom)),
    domain_destroy: (a, ctx) => lifecycle.destroy(...change(ctx, 'virDomainDestroy', a.dom)),
    domain_shutdown: (a, ctx) => lifecycle.shutdown(...change(ctx, 'virDomainShutdown', a.dom)),
    domain_reboot: (a, ctx) => lifecycle.reboot(...change(ctx, 'virDomainReboot', a.dom, [a.flags, REBOOT_FLAGS, 'testDomainReboot'])),
    domain_suspend: (a, ctx) => lifecycle.suspend(...change(ctx, 'virDomainSuspend', a.dom)),
    domain_resume: (a, ctx) => lifecycle.resume(...change(ctx, 'virDomainResume', a.dom)),
    domain_undefine: (a, ctx) => lifecycle.undefine(...change(ctx, 'virDomainUndefine', a.dom)),
    domain_define_xml: ({ xml }, ctx) => ({ dom: wireDomain(lifecycle.define(sessions.writableNode(ctx, 'virDomainDefineXML'), xml)) }),
    domain_undefine_flags: (a, ctx) =>
      lifecycle.undefine(...change(ctx, 'virDomainUndefineFlags', a.dom, [a.flags, UNDEFINE_FLAGS, 'testDomainUndefineFlags'])),

    // Events: allowed on read-only connections too.
    connect_domain_event_callback_register_any: ({ eventID, dom: only }, ctx) => {
      const n = node(ctx);
      if (!EventCallbacks.known(eventID)) throw unsupportedEventId(eventID);
      return { callbackID: sessions.get(ctx).callbacks.register(n.nextCallbackId++, eventID, only === null ? null : only.uuid) };
    },
    connect_domain_event_callback_deregister_any: ({ callbackID }, ctx) => {
      node(ctx);
      sessions.get(ctx).callbacks.deregister(callbackID);
    },
  };
}
