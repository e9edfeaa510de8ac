/**
 * The typing indicator's record of held reactions (`typing_reactions`), so a restart can remove what
 * a crash left. Two adapters:
 * - SQLite: in memory for every decision (delivery and ack stay free of database reads), and written
 *   behind: all the claims, updates and drops of one turn of the event loop go in one transaction
 *   (one fsync), not one each on the delivery path.
 * - PostgreSQL (cluster): the table is the record, written directly, because the reply that ends
 *   a reaction may be sent by another node than the one that added it.
 */
import type { Database } from "bun:sqlite";
import type { Awaitable, Storage } from "../storage/storage.ts";

export interface TypingRow {
  messageId: string;
  userId: number;
  seq: number;
  /** Null while the add call is in flight (or when a crash cut it short). */
  reactionId: string | null;
  addedAt: number;
}

/**
 * The port. Reads and the claim return `Awaitable`: SQLite answers from memory synchronously (the
 * delivery path), PostgreSQL asks the table.
 */
export interface TypingStore {
  /** Reactions held by this process (SQLite) or the cluster (PostgreSQL) as last known. */
  readonly size: number;
  /** At start-up: the rows the last run left (cluster: rows this node cannot tell from live ones are not loaded). */
  loadLeftovers(): Promise<TypingRow[]>;
  get(messageId: string): Awaitable<TypingRow | undefined>;
  /** Records a reaction about to be added; false when one is already held for the message. */
  claim(messageId: string, userId: number, seq: number, now: number): Awaitable<boolean>;
  /** The add answered; false when the row is gone meanwhile (a removal was asked for elsewhere). */
  added(messageId: string, reactionId: string): Awaitable<boolean>;
  drop(messageId: string): Awaitable<void>;
  /** The user's rows with a seq up to `seq`. */
  ackedBy(userId: number, seq: number): Awaitable<TypingRow[]>;
  /** Rows added at or before `cutoff`. */
  olderThan(cutoff: number): Awaitable<TypingRow[]>;
  /** Resolves once the writes so far are committed: true, or false when a write failed. */
  durable(): Promise<boolean>;
  /** Commits what is queued now (shutdown, before the database closes). */
  flush(): Promise<boolean>;
}

export function createTypingStore(storage: Storage, onError: (err: unknown) => void): TypingStore {
  return storage.dialect === "sqlite"
    ? new SqliteTypingStore(storage.db.$client, onError)
    : new storage.adapters.PostgresTypingStore(storage.db, onError);
}

const COLS =
  "message_id AS messageId, user_id AS userId, seq, reaction_id AS reactionId, added_at AS addedAt";

function statements(c: Database) {
  return {
    claim: c.query<never, [string, number, number, number]>(
      "INSERT OR IGNORE INTO typing_reactions (message_id, user_id, seq, reaction_id, added_at) VALUES (?, ?, ?, NULL, ?)",
    ),
    added: c.query<never, [string, string]>(
      "UPDATE typing_reactions SET reaction_id = ?2 WHERE message_id = ?1",
    ),
    drop: c.query<never, [string]>("DELETE FROM typing_reactions WHERE message_id = ?"),
    all: c.query<TypingRow, []>(`SELECT ${COLS} FROM typing_reactions`),
  };
}

export class SqliteTypingStore implements TypingStore {
  readonly #db: Database;
  readonly #q: ReturnType<typeof statements>;
  readonly #onError: (err: unknown) => void;
  readonly #rows = new Map<string, TypingRow>();
  readonly #byUser = new Map<number, Set<string>>();
  #writes: Array<() => void> = [];
  #waiters: Array<(ok: boolean) => void> = [];
  #scheduled = false;

  constructor(db: Database, onError: (err: unknown) => void) {
    this.#db = db;
    this.#q = statements(db);
    this.#onError = onError;
  }

  get size(): number {
    return this.#rows.size;
  }

  /** At start-up: the rows the last run left, now held in memory like any other. */
  async loadLeftovers(): Promise<TypingRow[]> {
    let rows: TypingRow[] = [];
    try {
      rows = this.#q.all.all();
    } catch (err) {
      this.#onError(err);
    }
    for (const row of rows) this.#hold(row);
    return rows;
  }

  get(messageId: string): TypingRow | undefined {
    return this.#rows.get(messageId);
  }

  /** Records a reaction about to be added; false when one is already held for the message. */
  claim(messageId: string, userId: number, seq: number, now: number): boolean {
    if (this.#rows.has(messageId)) return false;
    this.#hold({ messageId, userId, seq, reactionId: null, addedAt: now });
    this.#queue(() => this.#q.claim.run(messageId, userId, seq, now));
    return true;
  }

  added(messageId: string, reactionId: string): boolean {
    const row = this.#rows.get(messageId);
    if (!row) return false;
    row.reactionId = reactionId;
    this.#queue(() => this.#q.added.run(messageId, reactionId));
    return true;
  }

  drop(messageId: string): void {
    const row = this.#rows.get(messageId);
    if (!row) return;
    this.#rows.delete(messageId);
    const ids = this.#byUser.get(row.userId);
    ids?.delete(messageId);
    if (ids?.size === 0) this.#byUser.delete(row.userId);
    this.#queue(() => this.#q.drop.run(messageId));
  }

  /** The user's rows with a seq up to `seq`. */
  ackedBy(userId: number, seq: number): TypingRow[] {
    const out: TypingRow[] = [];
    for (const id of this.#byUser.get(userId) ?? []) {
      const row = this.#rows.get(id);
      if (row && row.seq <= seq) out.push(row);
    }
    return out;
  }

  /** Rows added at or before `cutoff`. */
  olderThan(cutoff: number): TypingRow[] {
    return [...this.#rows.values()].filter((r) => r.addedAt <= cutoff);
  }

  durable(): Promise<boolean> {
    if (this.#writes.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Commits the queued writes now, in one transaction (also on shutdown, before the database closes). */
  async flush(): Promise<boolean> {
    return this.flushNow();
  }

  flushNow(): boolean {
    this.#scheduled = false;
    const writes = this.#writes;
    const waiters = this.#waiters;
    this.#writes = [];
    this.#waiters = [];
    let ok = true;
    if (writes.length > 0) {
      try {
        this.#db.transaction(() => {
          for (const write of writes) write();
        })();
      } catch (err) {
        ok = false;
        this.#onError(err);
      }
    }
    for (const resolve of waiters) resolve(ok);
    return ok;
  }

  #hold(row: TypingRow): void {
    this.#rows.set(row.messageId, row);
    let ids = this.#byUser.get(row.userId);
    if (!ids) {
      ids = new Set();
      this.#byUser.set(row.userId, ids);
    }
    ids.add(row.messageId);
  }

  #queue(write: () => void): void {
    this.#writes.push(write);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.flushNow());
  }
}
