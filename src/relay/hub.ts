/**
 * The live plugin connections, one per user (DESIGN §4): a newer connection replaces the older one,
 * which is closed with 4002. The inbox's commits wake the owner's connection.
 */

import type { PluginConnection } from "./connection.ts";
import type { Inbox, StoredMessage } from "./inbox.ts";
import { CloseCode } from "./protocol.ts";

export class Hub {
  readonly #byUser = new Map<number, PluginConnection>();
  #closing = false;

  constructor(inbox: Inbox) {
    inbox.onStored((stored) => {
      const byUser = new Map<number, StoredMessage[]>();
      for (const m of stored) {
        const list = byUser.get(m.userId);
        if (list) list.push(m);
        else byUser.set(m.userId, [m]);
      }
      for (const [id, list] of byUser) this.#byUser.get(id)?.deliverLive(list);
    });
    // M2-4: a message held for its context (and those behind it) may now go, read from the inbox.
    inbox.onReleased((userId) => this.#byUser.get(userId)?.pump());
  }

  get size(): number {
    return this.#byUser.size;
  }

  /** True once shutdown began: new connections are turned away with 1012. */
  get closing(): boolean {
    return this.#closing;
  }

  get(userId: number): PluginConnection | undefined {
    return this.#byUser.get(userId);
  }

  isConnected(userId: number): boolean {
    return this.#byUser.has(userId);
  }

  /** Makes `conn` the user's connection; the one it replaces is closed with 4002. */
  register(conn: PluginConnection): PluginConnection | undefined {
    const old = this.#byUser.get(conn.user.id);
    this.#byUser.set(conn.user.id, conn);
    if (old && old !== conn) old.close(CloseCode.replaced, "replaced by a newer connection");
    return old;
  }

  /** Forgets `conn` if it is still the user's current one (a replaced socket closing is not). */
  unregister(conn: PluginConnection): void {
    if (this.#byUser.get(conn.user.id) === conn) this.#byUser.delete(conn.user.id);
  }

  disconnect(userId: number, code: number, reason: string): void {
    const conn = this.#byUser.get(userId);
    if (!conn) return;
    this.#byUser.delete(userId);
    conn.close(code, reason);
  }

  /** Shutdown: every socket is closed with 1012 so plugins reconnect to the next process. */
  closeAll(): void {
    this.#closing = true;
    for (const [id, conn] of this.#byUser) {
      this.#byUser.delete(id);
      conn.close(CloseCode.restarting, "relay restarting");
    }
  }
}
