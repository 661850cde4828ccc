/**
 * The shared default node, as libvirt's test driver keeps it: one node for
 * every connection open at the same time; when the last one closes, the
 * next CONNECT_OPEN starts from a fresh default node (libvirt-wire.md §6.5).
 */
import { defaultNode } from './model';
import type { EmitLifecycle, TestNode } from './model';

export class NodeStore {
  #node: TestNode | null = null;
  #users = 0;

  /** `emit` receives the lifecycle events of every node this store makes. */
  constructor(private readonly emit: EmitLifecycle = () => {}) {}

  /** A connection opened: it shares the current node, or starts a fresh one. */
  acquire(): TestNode {
    if (this.#node === null) this.#node = defaultNode(this.emit);
    this.#users++;
    return this.#node;
  }

  /** An opened connection went away. */
  release(): void {
    if (this.#users === 0) return;
    this.#users--;
    if (this.#users === 0) this.#node = null;
  }

  get users(): number {
    return this.#users;
  }
}
