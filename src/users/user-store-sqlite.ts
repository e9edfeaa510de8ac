/** The users port on SQLite: today's statements, prepared once per process. */
import type { Db } from "../db/open.ts";
import {
  type Identity,
  IdentityCache,
  isUserId,
  profileValues,
  summary,
  type UserProfile,
  type UserRecord,
  type UserStore,
} from "./user-store.ts";

const COLUMNS = `id, open_id AS openId, union_id AS unionId, user_id AS userId, name,
  avatar_url AS avatarUrl, token_version AS tokenVersion, llm_provider AS llmProvider,
  created_at AS createdAt, updated_at AS updatedAt, last_seen_at AS lastSeenAt`;

/**
 * Pending = inbox rows not yet acked. The ack is cumulative (users.acked_seq), and
 * `user_id = ? AND seq > ?` walks the unique (user_id, seq) index.
 */
const PENDING = `(SELECT count(*) FROM inbox i WHERE i.user_id = u.id AND i.seq > u.acked_seq)`;

type Profile = [string, string, string | null, string | null, string | null, number];

export class SqliteUserStore implements UserStore {
  readonly #byId;
  readonly #byOpenId;
  readonly #identity;
  readonly #identities: IdentityCache;
  readonly #update;
  readonly #insert;
  readonly #list;
  readonly #pending;
  readonly #bump;
  readonly #versions;
  readonly #setLlm;
  readonly #setFeishuTokens;
  readonly #getFeishuTokens;
  readonly #touch;

  constructor(
    db: Db,
    private readonly now: () => number = Date.now,
  ) {
    this.#identities = new IdentityCache(now);
    const c = db.$client;
    this.#byId = c.query<UserRecord, [number]>(`SELECT ${COLUMNS} FROM users WHERE id = ?`);
    this.#byOpenId = c.query<UserRecord, [string]>(`SELECT ${COLUMNS} FROM users WHERE open_id = ?`);
    this.#identity = c.query<Identity, [string]>("SELECT id, name FROM users WHERE open_id = ?");
    // Updates go through UPDATE: an upsert that hits the conflict still burns an AUTOINCREMENT id.
    const merge = `name = CASE WHEN ?2 <> '' THEN ?2 ELSE name END,
         union_id = COALESCE(?3, union_id), user_id = COALESCE(?4, user_id),
         avatar_url = COALESCE(?5, avatar_url), updated_at = ?6`;
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
    this.#versions = c.query<{ id: number; ver: number }, []>("SELECT id, token_version AS ver FROM users");
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

  async byId(id: number) {
    return this.#byId.get(id) ?? undefined;
  }

  async byOpenId(openId: string) {
    return this.#byOpenId.get(openId) ?? undefined;
  }

  identity(openId: string): Identity | undefined {
    const hit = this.#identities.get(openId);
    if (hit) return hit;
    const row = this.#identity.get(openId);
    return row ? this.#identities.put(openId, row) : undefined;
  }

  find(ref: string) {
    return isUserId(ref) ? this.byId(Number(ref)) : this.byOpenId(ref);
  }

  async upsert(p: UserProfile) {
    const v = profileValues(p);
    const args: Profile = [v.openId, v.name, v.unionId, v.userId, v.avatarUrl, this.now()];
    this.#identities.drop(p.openId);
    const updated = this.#update.get(...args);
    if (updated) return { user: updated, created: false };
    return { user: this.#insert.get(...args)!, created: true };
  }

  async list(isConnected: (userId: number) => boolean) {
    return this.#list.all().map((row) => summary(row, isConnected));
  }

  async pendingCount(userId: number) {
    return this.#pending.get(userId)?.n ?? 0;
  }

  async bumpTokenVersion(userId: number) {
    return this.#bump.get(userId, this.now())?.tokenVersion;
  }

  async tokenVersions() {
    return this.#versions.all();
  }

  async setLlmProvider(userId: number, provider: string | null) {
    return this.#setLlm.get(userId, provider, this.now()) !== null;
  }

  async setFeishuTokensEnc(userId: number, enc: string | null) {
    return this.#setFeishuTokens.get(userId, enc, this.now()) !== null;
  }

  async feishuTokensEnc(userId: number) {
    return this.#getFeishuTokens.get(userId)?.enc ?? null;
  }

  async touch(userId: number, at: number = this.now()) {
    this.#touch.run(userId, at);
  }
}
