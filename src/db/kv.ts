/**
 * The `kv` port: small settings and caches with an optional expiry (JWT secret, tenant token, OAuth
 * state, admin sessions, notice marks). Adapters: SQLite (statements prepared once) and PostgreSQL
 * (kv-postgres.ts).
 */
import type { Storage } from "../storage/storage.ts";
import type { Db } from "./open.ts";

export interface KvEntry {
  value: string;
  expiresAt: number | null;
}

export interface Kv {
  /** The entry, or undefined when absent or expired. */
  getEntry(key: string): Promise<KvEntry | undefined>;
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, expiresAt?: number | null): Promise<void>;
  delete(key: string): Promise<void>;
  /** Reads and deletes atomically: single-use values such as OAuth state. */
  take(key: string): Promise<string | undefined>;
  /** Sets the key only if it is absent or expired, atomically; true when this call set it. */
  setIfAbsent(key: string, value: string, expiresAt: number | null): Promise<boolean>;
  pruneExpired(): Promise<number>;
}

export function createKv(storage: Storage, now: () => number = Date.now): Kv {
  return storage.dialect === "sqlite"
    ? new SqliteKv(storage.db, now)
    : new storage.adapters.PostgresKv(storage.db, now);
}

export const live = (row: KvEntry | undefined, now: number) =>
  row && (row.expiresAt === null || row.expiresAt > now) ? row : undefined;

export class SqliteKv implements Kv {
  readonly #get;
  readonly #put;
  readonly #del;
  readonly #take;
  readonly #claim;
  readonly #prune;

  constructor(
    db: Db,
    private readonly now: () => number = Date.now,
  ) {
    const c = db.$client;
    this.#get = c.query<KvEntry, [string]>("SELECT value, expires_at AS expiresAt FROM kv WHERE key = ?");
    this.#put = c.query(
      `INSERT INTO kv (key, value, expires_at, updated_at) VALUES (?1, ?2, ?3, ?4)
       ON CONFLICT(key) DO UPDATE SET value = ?2, expires_at = ?3, updated_at = ?4`,
    );
    this.#del = c.query("DELETE FROM kv WHERE key = ?");
    this.#take = c.query<KvEntry, [string]>(
      "DELETE FROM kv WHERE key = ? RETURNING value, expires_at AS expiresAt",
    );
    this.#claim = c.query(
      `INSERT INTO kv (key, value, expires_at, updated_at) VALUES (?1, ?2, ?3, ?4)
       ON CONFLICT(key) DO UPDATE SET value = ?2, expires_at = ?3, updated_at = ?4
       WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?4`,
    );
    this.#prune = c.query("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?");
  }

  async getEntry(key: string) {
    return live(this.#get.get(key) ?? undefined, this.now());
  }
  async get(key: string) {
    return (await this.getEntry(key))?.value;
  }
  async set(key: string, value: string, expiresAt: number | null = null) {
    this.#put.run(key, value, expiresAt, this.now());
  }
  async delete(key: string) {
    this.#del.run(key);
  }
  async take(key: string) {
    return live(this.#take.get(key) ?? undefined, this.now())?.value;
  }
  async setIfAbsent(key: string, value: string, expiresAt: number | null) {
    return this.#claim.run(key, value, expiresAt, this.now()).changes > 0;
  }
  async pruneExpired() {
    return this.#prune.run(this.now()).changes;
  }
}
