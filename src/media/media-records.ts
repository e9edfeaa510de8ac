/**
 * The `media` table's port (`MediaRecords`): the metadata of uploaded media. The bytes stay in files
 * on the local disk of the node that took the upload (media-store.ts). Adapters: SQLite (statements
 * prepared once) and PostgreSQL (media-records-postgres.ts).
 */
import type { Database } from "bun:sqlite";
import type { Awaitable, Storage } from "../storage/storage.ts";

export interface MediaRecord {
  id: string;
  userId: number;
  size: number;
  mime: string;
  name: string | null;
  sha256: string;
  createdAt: number;
  expiresAt: number;
}

export interface MediaTotals {
  files: number;
  bytes: number;
}

export interface MediaRecords {
  /** Other processes share the table (cluster): a record's file may be on another node's disk. */
  readonly shared: boolean;
  byId(id: string): Promise<MediaRecord | undefined>;
  /** Gauges read this synchronously: SQLite answers at once, PostgreSQL with a promise. */
  totals(): Awaitable<MediaTotals>;
  /** Bytes the user has stored now. */
  usage(userId: number): Promise<number>;
  /**
   * Inserts the record if the user's stored bytes stay within `quotaBytes` with it, atomically
   * (two uploads of one user, on any nodes, cannot both slip under the quota); false when over.
   */
  insertWithinQuota(record: MediaRecord, quotaBytes: number): Promise<boolean>;
  /** A send that names the media waits or is being attempted. */
  pinned(id: string): Promise<boolean>;
  /** Media no waiting send uses that expired by `now`, or whose sends were sent. */
  sweepable(now: number): Promise<string[]>;
  remove(id: string): Promise<void>;
}

export function createMediaRecords(storage: Storage): MediaRecords {
  return storage.dialect === "sqlite"
    ? new SqliteMediaRecords(storage.db.$client)
    : new storage.adapters.PostgresMediaRecords(storage.db);
}

function statements(c: Database) {
  const cols = `id, user_id AS userId, size, mime, name, sha256, created_at AS createdAt, expires_at AS expiresAt`;
  // A media is pinned while a send that names it waits or is being attempted.
  const pinned = `EXISTS (SELECT 1 FROM outbox o WHERE o.media_id = m.id AND o.status IN ('pending', 'sending'))`;
  return {
    byId: c.query<MediaRecord, [string]>(`SELECT ${cols} FROM media WHERE id = ?`),
    totals: c.query<MediaTotals, []>("SELECT count(*) AS files, coalesce(sum(size), 0) AS bytes FROM media"),
    usage: c.query<{ n: number }, [number]>(
      "SELECT coalesce(sum(size), 0) AS n FROM media WHERE user_id = ?",
    ),
    insert: c.query(
      `INSERT INTO media (id, user_id, size, mime, name, sha256, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    pinned: c.query<{ one: number }, [string]>(`SELECT 1 AS one FROM media m WHERE m.id = ? AND ${pinned}`),
    sweepable: c.query<{ id: string }, [number]>(
      `SELECT id FROM media m WHERE NOT ${pinned} AND (m.expires_at <= ?
         OR EXISTS (SELECT 1 FROM outbox o WHERE o.media_id = m.id AND o.status = 'sent'))`,
    ),
    remove: c.query("DELETE FROM media WHERE id = ?"),
  };
}

export class SqliteMediaRecords implements MediaRecords {
  readonly shared = false;
  readonly #q;

  constructor(c: Database) {
    this.#q = statements(c);
  }

  async byId(id: string) {
    return this.#q.byId.get(id) ?? undefined;
  }
  totals() {
    return this.#q.totals.get() ?? { files: 0, bytes: 0 };
  }
  async usage(userId: number) {
    return this.#q.usage.get(userId)?.n ?? 0;
  }
  async insertWithinQuota(r: MediaRecord, quotaBytes: number) {
    // One process, synchronous statements: the check and the insert run in one turn.
    if ((this.#q.usage.get(r.userId)?.n ?? 0) + r.size > quotaBytes) return false;
    this.#q.insert.run(r.id, r.userId, r.size, r.mime, r.name, r.sha256, r.createdAt, r.expiresAt);
    return true;
  }
  async pinned(id: string) {
    return this.#q.pinned.get(id) !== null;
  }
  async sweepable(now: number) {
    return this.#q.sweepable.all(now).map((r) => r.id);
  }
  async remove(id: string) {
    this.#q.remove.run(id);
  }
}
