/**
 * The node registry: in a cluster (PostgreSQL) each relay process keeps its row in `nodes` fresh with
 * a heartbeat and deletes it on a graceful stop; a node not seen for NODE_ALIVE_MS is dead (its
 * sockets are gone, its outbox claims expire with their lease). /health, /metrics and the admin
 * console read the cluster's view from here. One process (SQLite) is a cluster of one: this node.
 */
import type { Logger } from "../ops/logger.ts";
import type { Storage } from "../storage/storage.ts";

export const NODE_HEARTBEAT_MS = 2000;
/** Five missed heartbeats: long enough for a GC pause or a slow commit, short enough for failover views. */
export const NODE_ALIVE_MS = 10_000;

export interface NodeInfo {
  id: string;
  version: string;
  startedAt: number;
  seenAt: number;
}

export interface UserLocation {
  userId: number;
  nodeId: string;
}

export interface ClusterView {
  nodes: Array<NodeInfo & { connections: number }>;
  /** Where each connected user's socket is (open sessions of alive nodes), by user id. */
  users: UserLocation[];
}

/**
 * The `nodes` table and the open sessions' node ids: PostgreSQL only (nodes-postgres.ts), since SQLite
 * has no other node.
 */
export interface NodeStore {
  /** Inserts or refreshes the node's row. */
  heartbeat(node: NodeInfo): Promise<void>;
  remove(id: string): Promise<void>;
  /** Nodes seen at or after `since`, by id. */
  aliveSince(since: number): Promise<NodeInfo[]>;
  /** Open sessions on the given nodes. */
  openSessions(nodeIds: string[]): Promise<UserLocation[]>;
}

export interface Timers {
  every(ms: number, fn: () => void): () => void;
}

const realTimers: Timers = {
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return () => clearInterval(t);
  },
};

export interface NodeRegistryDeps {
  now: () => number;
  log: Logger;
  /** Users with a socket on this node (the hub): the whole view on SQLite. */
  localUsers: () => number[];
  timers?: Timers;
  heartbeatMs?: number;
}

export class NodeRegistry {
  readonly #self: Omit<NodeInfo, "seenAt">;
  #alive: NodeInfo[] = [];
  #cancel: (() => void) | undefined;
  #beating: Promise<void> | undefined;

  constructor(
    private readonly store: NodeStore | undefined,
    self: { id: string; version: string; startedAt: number },
    private readonly deps: NodeRegistryDeps,
  ) {
    this.#self = self;
  }

  get nodeId(): string {
    return this.#self.id;
  }

  /** Nodes alive at the last heartbeat or view (this one at least), for gauges that cannot await. */
  get aliveCount(): number {
    return this.store ? Math.max(1, this.#alive.length) : 1;
  }

  /** First heartbeat (awaited: a node is listed before it serves), then one every heartbeatMs. */
  async start(): Promise<void> {
    if (!this.store) return;
    await this.beat();
    const timers = this.deps.timers ?? realTimers;
    this.#cancel = timers.every(this.deps.heartbeatMs ?? NODE_HEARTBEAT_MS, () => {
      // One heartbeat at a time: a slow database must not pile them up.
      this.#beating ??= this.beat()
        .catch((err) => this.deps.log.warn("cluster_heartbeat_failed", { err: err as Error }))
        .finally(() => {
          this.#beating = undefined;
        });
    });
  }

  /** Refreshes this node's row and the cached list of alive nodes. */
  async beat(): Promise<void> {
    if (!this.store) return;
    const now = this.deps.now();
    await this.store.heartbeat({ ...this.#self, seenAt: now });
    this.#alive = await this.store.aliveSince(now - NODE_ALIVE_MS);
  }

  /** Graceful stop: this node leaves the list at once instead of after NODE_ALIVE_MS. */
  async stop(): Promise<void> {
    this.#cancel?.();
    this.#cancel = undefined;
    await this.#beating;
    if (!this.store) return;
    await this.store
      .remove(this.#self.id)
      .catch((err) => this.deps.log.warn("cluster_leave_failed", { err: err as Error }));
  }

  /** The cluster as the database sees it now (SQLite: this node and its sockets). */
  async view(): Promise<ClusterView> {
    const now = this.deps.now();
    if (!this.store) {
      const users = this.deps.localUsers().sort((a, b) => a - b);
      return {
        nodes: [{ ...this.#self, seenAt: now, connections: users.length }],
        users: users.map((userId) => ({ userId, nodeId: this.#self.id })),
      };
    }
    const alive = await this.store.aliveSince(now - NODE_ALIVE_MS);
    this.#alive = alive;
    const users = await this.store.openSessions(alive.map((n) => n.id));
    const count = new Map<string, number>();
    for (const u of users) count.set(u.nodeId, (count.get(u.nodeId) ?? 0) + 1);
    return { nodes: alive.map((n) => ({ ...n, connections: count.get(n.id) ?? 0 })), users };
  }
}

export function createNodeRegistry(
  storage: Storage,
  self: { id: string; version: string; startedAt: number },
  deps: NodeRegistryDeps,
): NodeRegistry {
  return new NodeRegistry(
    storage.dialect === "postgres" ? new storage.adapters.PostgresNodeStore(storage.db) : undefined,
    self,
    deps,
  );
}
