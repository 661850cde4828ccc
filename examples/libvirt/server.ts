/**
 * The libvirt-compatible daemon's Server: xdrd's threads, the REMOTE
 * program's handlers, and the per-connection sessions sharing one node.
 */
import { Server } from 'xdrd';

import { remoteHandlers } from './handlers';
import { NodeStore } from './node-store';
import { remote } from './remote';
import { Sessions } from './session';
import type { SendLifecycle } from './session';

/** libvirtd sends its domain events with serial 1 (recorded). */
const EVENT_SERIAL = 1;

/**
 * Serves the test driver's REMOTE program on `server` (its own or, for
 * `xdrd stress`, the driver's): handlers, sessions, and events.
 */
export function installLibvirt(server: Server): NodeStore {
  const send: SendLifecycle = (client, callbackID, d, event, detail) => {
    const dom = { name: d.def.name, uuid: d.def.uuid, id: d.id };
    server.sendEvent(client, remote.events.domain_event_callback_lifecycle, { callbackID, msg: { dom, event, detail } }, { serial: EVENT_SERIAL });
  };
  // The store raises events only from handlers, after `sessions` exists.
  const store = new NodeStore((d, event, detail) => sessions.deliver(d, event, detail));
  const sessions = new Sessions(store, send);
  server.handle(remote, remoteHandlers(sessions));
  server.on('disconnect', (client) => sessions.disconnected(client));
  return store;
}

export function createLibvirtServer(): { server: Server; store: NodeStore } {
  // libvirtd's default: at most 5 calls of one client in progress.
  const server = new Server({ maxRequestsPerClient: 5 });
  return { server, store: installLibvirt(server) };
}
