/**
 * Domain event callbacks of one connection, the callback flavour of
 * libvirt's remote protocol (feature 14: CONNECT_DOMAIN_EVENT_CALLBACK_
 * REGISTER_ANY / DEREGISTER_ANY, events as DOMAIN_EVENT_CALLBACK_* MESSAGE
 * frames). Recorded from libvirtd 9.0:
 * - callback ids are the node's: one counter from 0 for every connection
 *   and event id, never reused while the node lives (python's client
 *   shows its own ids, 0 on each connection: those are not the wire's);
 * - event ids 0..26 are accepted (VIR_DOMAIN_EVENT_ID_LAST is 27 in 9.0),
 *   whether or not this daemon ever raises them; only LIFECYCLE (0) is
 *   raised here;
 * - a callback may be limited to one domain (matched by UUID; a domain that
 *   does not exist is accepted);
 * - the MESSAGE frames carry serial 1.
 */
import { callbackNotRegistered } from './errors';

/** VIR_DOMAIN_EVENT_ID_LIFECYCLE. */
export const EVENT_ID_LIFECYCLE = 0;
/** VIR_DOMAIN_EVENT_ID_LAST in libvirt 9.0. */
const EVENT_ID_LAST = 27;

interface Callback {
  eventID: number;
  /** Only this domain's events; null for every domain. */
  uuid: Buffer | null;
}

export class EventCallbacks {
  readonly #callbacks = new Map<number, Callback>();

  /** True if `eventID` is one libvirt 9.0 knows; the caller words the refusal. */
  static known(eventID: number): boolean {
    return eventID >= 0 && eventID < EVENT_ID_LAST;
  }

  /** `id` comes from the node's counter (TestNode.nextCallbackId). */
  register(id: number, eventID: number, uuid: Buffer | null): number {
    this.#callbacks.set(id, { eventID, uuid: uuid === null ? null : Buffer.from(uuid) });
    return id;
  }

  deregister(id: number): void {
    if (!this.#callbacks.delete(id)) throw callbackNotRegistered(id);
  }

  /** The ids, in registration order, that want event `eventID` about the domain `uuid`. */
  matching(eventID: number, uuid: Buffer): number[] {
    const ids: number[] = [];
    for (const [id, c] of this.#callbacks) if (c.eventID === eventID && (c.uuid === null || c.uuid.equals(uuid))) ids.push(id);
    return ids;
  }

  get size(): number {
    return this.#callbacks.size;
  }
}
