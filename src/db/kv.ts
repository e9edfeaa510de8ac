/**
 * The `kv` table: small settings and caches with an optional expiry. Statements prepared once.
 */
import type { Db } from "./open.ts";

export interface KvEntry {
  value: string;
  expiresAt: number | null;
}

export class KvStore {
  readonly #get;
  readonly #put;
  readonly #del;
  readonly #take;
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
    this.#prune = c.query("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?");
  }

  /** The entry, or undefined when absent or expired. */
  getEntry(key: string): KvEntry | undefined {
    const row = this.#get.get(key);
    if (!row) return undefined;
    if (row.expiresAt !== null && row.expiresAt <= this.now()) return undefined;
    return row;
  }

  get(key: string): string | undefined {
    return this.getEntry(key)?.value;
  }

  set(key: string, value: string, expiresAt: number | null = null): void {
    this.#put.run(key, value, expiresAt, this.now());
  }

  delete(key: string): void {
    this.#del.run(key);
  }

  /** Reads and deletes atomically: single-use values such as OAuth state. */
  take(key: string): string | undefined {
    const row = this.#take.get(key);
    if (!row || (row.expiresAt !== null && row.expiresAt <= this.now())) return undefined;
    return row.value;
  }

  /** Sets the key only if it is absent or expired; true when this call set it (rate-limit marks). */
  setIfAbsent(key: string, value: string, expiresAt: number | null): boolean {
    if (this.getEntry(key)) return false;
    this.set(key, value, expiresAt);
    return true;
  }

  pruneExpired(): number {
    return this.#prune.run(this.now()).changes;
  }
}
