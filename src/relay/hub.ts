/**
 * The live plugin connections of this node, one per user (DESIGN §4): a newer connection replaces the
 * older one, which is closed with 4002 — on this node directly, on another node through the cluster's
 * `connected` signal. The inbox's commits wake the owner's connection: on this node from memory (the
 * user's topic), on the others through an `inbox` signal that makes the connection read the inbox.
 *
 * Cross-node replace: every `connected` signal carries when its socket was registered, and each node
 * closes its socket for the user when the signal's is newer (later time, then the larger session id).
 * Every node applies the same order whatever order the signals arrive in, so of two sockets exactly
 * one is closed, once, by its own node. (Across hosts the times are as good as their clocks: two
 * connects within the clock skew may keep the one that connected first, but never both go.)
 * After the listener lost signals, each node announces its sockets again, which the same rule makes
 * harmless for newer sockets and final for older ones.
 */

import type { Signal, Signals } from "../cluster/signals.ts";
import type { Logger } from "../ops/logger.ts";
import type { PluginConnection } from "./connection.ts";
import type { Inbox, StoredMessage } from "./inbox.ts";
import { CloseCode } from "./protocol.ts";

/** How often `drain` looks whether the last acks came in. */
const DRAIN_POLL_MS = 10;

/** The Bun pub/sub topic of a user's socket (one subscriber per node). */
export const userTopic = (userId: number) => `user:${userId}`;

export interface HubDeps {
  /** This node's id, named in its `connected` signals. */
  nodeId: string;
  signals: Signals;
  log: Logger;
  now?: () => number;
}

/** When a socket was registered here, in the order every node applies. */
interface Registered {
  at: number;
  sessionId: string;
}

const newer = (a: Registered, b: Registered) => a.at > b.at || (a.at === b.at && a.sessionId > b.sessionId);

export class Hub {
  readonly #byUser = new Map<number, PluginConnection>();
  readonly #registeredAt = new WeakMap<PluginConnection, number>();
  readonly #now: () => number;
  readonly #signals: Signals;
  readonly #log: Logger;
  readonly #nodeId: string;
  #closing = false;

  constructor(inbox: Inbox, deps: HubDeps) {
    this.#signals = deps.signals;
    this.#log = deps.log;
    this.#nodeId = deps.nodeId;
    this.#now = deps.now ?? Date.now;
    inbox.onStored((stored) => {
      const byUser = new Map<number, StoredMessage[]>();
      for (const m of stored) {
        const list = byUser.get(m.userId);
        if (list) list.push(m);
        else byUser.set(m.userId, [m]);
      }
      for (const [id, list] of byUser) {
        this.#byUser.get(id)?.deliverLive(list);
        // The user's socket may be on another node (or about to open there): wake it.
        if (this.#signals.shared) this.#publish({ type: "inbox", userId: id });
      }
    });
    // M2-4: a message held for its context (and those behind it) may now go, read from the inbox.
    inbox.onReleased((userId) => {
      this.#byUser.get(userId)?.pump();
      if (this.#signals.shared) this.#publish({ type: "inbox", userId });
    });
    this.#signals.onSignal((signal, fromSelf) => this.#received(signal, fromSelf));
    // Signals sent while the listener was away are lost: every socket reads the inbox once, and is
    // announced again (an older socket elsewhere that missed the first announcement goes now).
    this.#signals.onResubscribed(() => {
      for (const conn of this.#byUser.values()) {
        conn.pump();
        this.#announce(conn);
      }
    });
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

  /** Users with a socket on this node. */
  userIds(): number[] {
    return [...this.#byUser.keys()];
  }

  /**
   * Makes `conn` the user's connection; the one it replaces here is closed with 4002, and the other
   * nodes are told (`connected`) so that one there is closed too.
   */
  register(conn: PluginConnection): PluginConnection | undefined {
    const old = this.#byUser.get(conn.user.id);
    this.#byUser.set(conn.user.id, conn);
    if (old && old !== conn) old.close(CloseCode.replaced, "replaced by a newer connection");
    conn.subscribe(userTopic(conn.user.id));
    this.#registeredAt.set(conn, this.#now());
    this.#announce(conn);
    return old;
  }

  /** Forgets `conn` if it is still the user's current one (a replaced socket closing is not). */
  unregister(conn: PluginConnection): void {
    if (this.#byUser.get(conn.user.id) === conn) this.#byUser.delete(conn.user.id);
  }

  /** Closes the user's socket on this node only (the revocation sweep, which runs on every node). */
  disconnect(userId: number, code: number, reason: string): void {
    const conn = this.#byUser.get(userId);
    if (!conn) return;
    this.#byUser.delete(userId);
    conn.close(code, reason);
  }

  /**
   * A revoked token: the user's socket is closed with 4001 here at once, and on whichever node holds
   * it as soon as the `revoked` signal arrives there (well within a second on a healthy cluster).
   */
  revoke(userId: number, reason = "revoked"): void {
    this.disconnect(userId, CloseCode.unauthorized, reason);
    if (this.#signals.shared) this.#publish({ type: "revoked", userId });
  }

  /**
   * Shutdown, before `closeAll`: new connections are turned away, nothing more is sent, and the acks
   * of what was sent are awaited (up to `deadlineMs`). Bun drops what a socket receives once the
   * server closed it, so an ack still on the wire then would be lost and the plugin, reconnected to
   * another node, would get that message again.
   */
  async drain(deadlineMs: number): Promise<void> {
    this.#closing = true;
    const conns = [...this.#byUser.values()];
    for (const conn of conns) conn.hold();
    const until = Date.now() + deadlineMs;
    while (conns.some((c) => !c.settled) && Date.now() < until) await Bun.sleep(DRAIN_POLL_MS);
  }

  /** Shutdown: every socket is closed with 1012 so plugins reconnect to the next process. */
  closeAll(): void {
    this.#closing = true;
    for (const [id, conn] of this.#byUser) {
      this.#byUser.delete(id);
      conn.close(CloseCode.restarting, "relay restarting");
    }
  }

  #received(signal: Signal, fromSelf: boolean): void {
    switch (signal.type) {
      case "inbox":
        // This node's own commits were delivered from memory already.
        if (!fromSelf) this.#byUser.get(signal.userId)?.pump();
        return;
      case "connected": {
        const conn = this.#byUser.get(signal.userId);
        if (fromSelf || !conn || conn.sessionId === signal.sessionId) return;
        const at = this.#registeredAt.get(conn) ?? 0;
        if (newer({ at, sessionId: conn.sessionId }, signal)) return; // the other node closes its own
        this.#byUser.delete(signal.userId);
        conn.close(CloseCode.replaced, "replaced by a newer connection");
        this.#log.info("plugin_replaced_remotely", {
          userId: signal.userId,
          sessionId: conn.sessionId,
          by: signal.nodeId,
        });
        return;
      }
      case "revoked":
        if (!fromSelf) this.disconnect(signal.userId, CloseCode.unauthorized, "revoked");
        return;
    }
  }

  #announce(conn: PluginConnection): void {
    if (!this.#signals.shared) return;
    this.#publish({
      type: "connected",
      userId: conn.user.id,
      nodeId: this.#nodeId,
      sessionId: conn.sessionId,
      at: this.#registeredAt.get(conn) ?? this.#now(),
    });
  }

  #publish(signal: Signal): void {
    this.#signals.publish(signal).catch((err) => {
      this.#log.warn("cluster_signal_lost", { type: signal.type, err: err as Error });
    });
  }
}
