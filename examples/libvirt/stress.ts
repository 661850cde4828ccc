/**
 * The libvirt example as a user module of `xdrd stress` (npm run
 * stress:libvirt, and under memcheck in CI): setup() serves the REMOTE
 * program on the driver's server; `calls` are valid calls of every kind the
 * example serves. The driver sends them pipelined and shuffled on several
 * connections, so most land before or after the CONNECT_OPEN that would
 * make them succeed, on a domain in whatever state the others left it:
 * each must still get exactly one reply or error reply, and the shared
 * node, the sessions and the event callbacks must survive clients that
 * leave mid-call.
 */
import type { Server } from 'xdrd';
import { xdr } from 'xdrd';

import { uuidFromString } from './uuid';
import { remote } from './remote';
import { installLibvirt } from './server';

export function setup(server: Server): void {
  installLibvirt(server);
}

const test = { name: 'test', uuid: uuidFromString('6695eb01-f6a4-8304-79aa-97f2502e193f'), id: 1 };
const DEFINED = "<domain type='test'><name>stress</name><uuid>0b9d4e3c-5a1f-4c2e-8d7b-6f1e2d3c4b5a</uuid><memory>65536</memory><os><type>hvm</type></os></domain>";
const stressDom = { name: 'stress', uuid: uuidFromString('0b9d4e3c-5a1f-4c2e-8d7b-6f1e2d3c4b5a'), id: -1 };

type Procedures = typeof remote.procedures;
function call<K extends keyof Procedures>(name: K, args: xdr.Infer<Procedures[K]['args']>): { program: number; version: number; procedure: number; body: Uint8Array } {
  const p = remote.procedures[name];
  return { program: remote.number, version: remote.version, procedure: p.id, body: xdr.encode(p.args, args as never) };
}

export const calls = [
  call('auth_list', undefined),
  call('connect_supports_feature', { feature: 14 }),
  call('connect_open', { name: 'test:///default', flags: 0 }),
  call('connect_open', { name: 'test:///default', flags: 1 }),
  call('connect_get_type', undefined),
  call('connect_get_hostname', undefined),
  call('node_get_info', undefined),
  call('connect_list_all_domains', { need_results: 1, flags: 0 }),
  call('domain_lookup_by_name', { name: 'test' }),
  call('domain_get_info', { dom: test }),
  call('domain_get_state', { dom: test, flags: 0 }),
  call('domain_get_xml_desc', { dom: test, flags: 0 }),
  call('domain_suspend', { dom: test }),
  call('domain_resume', { dom: test }),
  call('domain_destroy', { dom: test }),
  call('domain_create', { dom: test }),
  call('domain_shutdown', { dom: test }),
  call('domain_reboot', { dom: test, flags: 0 }),
  call('domain_undefine_flags', { dom: test, flags: 0 }),
  call('domain_define_xml', { xml: DEFINED }),
  call('domain_define_xml', { xml: '<domain type=' }),
  call('domain_create', { dom: stressDom }),
  call('domain_undefine', { dom: stressDom }),
  call('connect_domain_event_callback_register_any', { eventID: 0, dom: null }),
  call('connect_domain_event_callback_register_any', { eventID: 0, dom: test }),
  call('connect_domain_event_callback_deregister_any', { callbackID: 0 }),
  call('connect_register_close_callback', undefined),
];
