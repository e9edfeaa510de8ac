/**
 * The users repository: one row per Feishu identity (`open_id`), statements prepared once.
 * Rows stay internal; what leaves the process goes through `publicUser` (one JSON shape everywhere).
 */
import type { RelayContext } from "../context.ts";
import type { Db } from "../db/open.ts";

/** A `users` row as this module reads it (times are Unix milliseconds). */
export interface UserRecord {
  id: number;
  openId: string;
  unionId: string | null;
  userId: string | null;
  name: string;
  avatarUrl: string | null;
  tokenVersion: number;
  llmProvider: string | null;
  createdAt: number;
  updatedAt: number;
  lastSeenAt: number | null;
}

/** The user as every API, page and CLI shows it. `id` is a string, like the JWT `sub`. */
export interface PublicUser {
  id: string;
  openId: string;
  name: string;
  unionId?: string;
  avatarUrl?: string;
}

export interface UserSummary extends PublicUser {
  connected: boolean;
  pending: number;
  /** ISO 8601, or null when the plugin never connected. */
  lastSeenAt: string | null;
}

/** What we learn about a person; absent or empty fields never erase what is already known. */
export interface UserProfile {
  openId: string;
  name?: string;
  unionId?: string;
  userId?: string;
  avatarUrl?: string;
}

const IDENTITY_TTL_MS = 60_000;
const IDENTITY_CACHE_MAX = 100_000;

const COLUMNS = `id, open_id AS openId, union_id AS unionId, user_id AS userId, name,
  avatar_url AS avatarUrl, token_version AS tokenVersion, llm_provider AS llmProvider,
  created_at AS createdAt, updated_at AS updatedAt, last_seen_at AS lastSeenAt`;

/**
 * Pending = inbox rows not yet acked. The ack is cumulative (users.acked_seq), and
 * `user_id = ? AND seq > ?` walks the unique (user_id, seq) index.
 */
const PENDING = `(SELECT count(*) FROM inbox i WHERE i.user_id = u.id AND i.seq > u.acked_seq)`;

export function publicUser(u: UserRecord): PublicUser {
  return {
    id: String(u.id),
    openId: u.openId,
    name: u.name,
    ...(u.unionId ? { unionId: u.unionId } : {}),
    ...(u.avatarUrl ? { avatarUrl: u.avatarUrl } : {}),
  };
}

export const isoOrNull = (ms: number | null): string | null =>
  ms === null ? null : new Date(ms).toISOString();

export class UserStore {
  readonly #byId;
  readonly #byOpenId;
  readonly #identity;
  /** open_id → id and name for the ingest path, which needs them for every event. */
  readonly #identities = new Map<string, { id: number; name: string; at: number }>();
  readonly #update;
  readonly #insert;
  readonly #list;
  readonly #pending;
  readonly #bump;
  readonly #setLlm;
  readonly #setFeishuTokens;
  readonly #getFeishuTokens;
  readonly #touch;

  constructor(
    db: Db,
    private readonly now: () => number = Date.now,
  ) {
    const c = db.$client;
    this.#byId = c.query<UserRecord, [number]>(`SELECT ${COLUMNS} FROM users WHERE id = ?`);
    this.#byOpenId = c.query<UserRecord, [string]>(`SELECT ${COLUMNS} FROM users WHERE open_id = ?`);
    this.#identity = c.query<{ id: number; name: string }, [string]>(
      "SELECT id, name FROM users WHERE open_id = ?",
    );
    // Updates go through UPDATE: an upsert that hits the conflict still burns an AUTOINCREMENT id.
    const merge = `name = CASE WHEN ?2 <> '' THEN ?2 ELSE name END,
         union_id = COALESCE(?3, union_id), user_id = COALESCE(?4, user_id),
         avatar_url = COALESCE(?5, avatar_url), updated_at = ?6`;
    type Profile = [string, string, string | null, string | null, string | null, number];
    this.#update = c.query<UserRecord, Profile>(
      `UPDATE users SET ${merge} WHERE open_id = ?1 RETURNING ${COLUMNS}`,
    );
    // ON CONFLICT only for a race with another process (the CLI) creating the same user.
    this.#insert = c.query<UserRecord, Profile>(
      `INSERT INTO users (open_id, name, union_id, user_id, avatar_url, created_at, updated_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
       ON CONFLICT(open_id) DO UPDATE SET ${merge}
       RETURNING ${COLUMNS}`,
    );
    this.#list = c.query<UserRecord & { pending: number }, []>(
      `SELECT ${COLUMNS}, ${PENDING} AS pending FROM users u ORDER BY u.id`,
    );
    this.#pending = c.query<{ n: number }, [number]>(`SELECT ${PENDING} AS n FROM users u WHERE u.id = ?`);
    this.#bump = c.query<{ tokenVersion: number }, [number, number]>(
      `UPDATE users SET token_version = token_version + 1, updated_at = ?2 WHERE id = ?1
       RETURNING token_version AS tokenVersion`,
    );
    this.#setLlm = c.query<{ id: number }, [number, string | null, number]>(
      "UPDATE users SET llm_provider = ?2, updated_at = ?3 WHERE id = ?1 RETURNING id",
    );
    this.#setFeishuTokens = c.query<{ id: number }, [number, string | null, number]>(
      "UPDATE users SET feishu_tokens_enc = ?2, updated_at = ?3 WHERE id = ?1 RETURNING id",
    );
    this.#getFeishuTokens = c.query<{ enc: string | null }, [number]>(
      "SELECT feishu_tokens_enc AS enc FROM users WHERE id = ?",
    );
    this.#touch = c.query("UPDATE users SET last_seen_at = ?2 WHERE id = ?1");
  }

  byId(id: number): UserRecord | undefined {
    return this.#byId.get(id) ?? undefined;
  }

  byOpenId(openId: string): UserRecord | undefined {
    return this.#byOpenId.get(openId) ?? undefined;
  }

  /**
   * The user's id and name by open_id, cached: ids never change, and a name changed by this process
   * (sign-in) drops the entry; one changed by another process (the CLI) shows within IDENTITY_TTL_MS.
   */
  identity(openId: string): { id: number; name: string } | undefined {
    const now = this.now();
    const hit = this.#identities.get(openId);
    if (hit && now - hit.at < IDENTITY_TTL_MS) return hit;
    const row = this.#identity.get(openId);
    if (!row) return undefined;
    if (this.#identities.size >= IDENTITY_CACHE_MAX) this.#identities.clear();
    const entry = { id: row.id, name: row.name, at: now };
    this.#identities.set(openId, entry);
    return entry;
  }

  /** `42` → by id, anything else (`ou_…`) → by open_id: how the CLI and admins name a user. */
  find(ref: string): UserRecord | undefined {
    return /^\d+$/.test(ref) ? this.byId(Number(ref)) : this.byOpenId(ref);
  }

  /** Creates the user or updates what is newly known; returns the row and whether it is new. */
  upsert(p: UserProfile): { user: UserRecord; created: boolean } {
    const args = [
      p.openId,
      p.name?.trim() ?? "",
      p.unionId || null,
      p.userId || null,
      p.avatarUrl || null,
      this.now(),
    ] as const;
    this.#identities.delete(p.openId);
    const updated = this.#update.get(...args);
    if (updated) return { user: updated, created: false };
    return { user: this.#insert.get(...args)!, created: true };
  }

  /** Every user with live status; `isConnected` comes from the gateway hub. */
  list(isConnected: (userId: number) => boolean): UserSummary[] {
    return this.#list.all().map((row) => ({
      ...publicUser(row),
      connected: isConnected(row.id),
      pending: row.pending,
      lastSeenAt: isoOrNull(row.lastSeenAt),
    }));
  }

  pendingCount(userId: number): number {
    return this.#pending.get(userId)?.n ?? 0;
  }

  /** Revocation: every token carrying an older `ver` stops working. Undefined for an unknown user. */
  bumpTokenVersion(userId: number): number | undefined {
    return this.#bump.get(userId, this.now())?.tokenVersion;
  }

  setLlmProvider(userId: number, provider: string | null): boolean {
    return this.#setLlm.get(userId, provider, this.now()) !== null;
  }

  /** Stores the already encrypted Feishu user tokens (token-crypto.ts); never plain text. */
  setFeishuTokensEnc(userId: number, enc: string | null): boolean {
    return this.#setFeishuTokens.get(userId, enc, this.now()) !== null;
  }

  feishuTokensEnc(userId: number): string | null {
    return this.#getFeishuTokens.get(userId)?.enc ?? null;
  }

  /** For the gateway: the plugin was seen now (connect, disconnect, frames). */
  touch(userId: number, at: number = this.now()): void {
    this.#touch.run(userId, at);
  }
}

const stores = new WeakMap<Pick<RelayContext, "db">, UserStore>();

/** The relay's one UserStore (statements are prepared once per process, not per request). */
export function usersOf(ctx: Pick<RelayContext, "db" | "now">): UserStore {
  let s = stores.get(ctx);
  if (!s) {
    s = new UserStore(ctx.db, ctx.now);
    stores.set(ctx, s);
  }
  return s;
}
