/**
 * The libvirt-compatible daemon's Server: xdrd's threads, the REMOTE
 * program's handlers, and the per-connection sessions sharing one node.
 */
import { Server } from 'xdrd';

import { remoteHandlers } from './handlers';
import { NodeStore } from './node-store';
import { remote } from './remote';
import { Sessions } from './session';

export function createLibvirtServer(): { server: Server; store: NodeStore } {
  const store = new NodeStore();
  const sessions = new Sessions(store);
  // libvirtd's default: at most 5 calls of one client in progress.
  const server = new Server({ maxRequestsPerClient: 5 });
  server.handle(remote, remoteHandlers(sessions));
  server.on('disconnect', (client) => sessions.disconnected(client));
  return { server, store };
}
