/** The users port on PostgreSQL (cluster mode): Drizzle over pg-schema.ts. */
import { and, asc, eq, gt, sql } from "drizzle-orm";
import { inbox, users } from "../db/pg-schema.ts";
import type { PgDb } from "../db/postgres.ts";
import {
  type Identity,
  IdentityCache,
  isUserId,
  profileValues,
  summary,
  type UserProfile,
  type UserStore,
} from "./user-store.ts";

const record = {
  id: users.id,
  openId: users.openId,
  unionId: users.unionId,
  userId: users.userId,
  name: users.name,
  avatarUrl: users.avatarUrl,
  tokenVersion: users.tokenVersion,
  llmProvider: users.llmProvider,
  createdAt: users.createdAt,
  updatedAt: users.updatedAt,
  lastSeenAt: users.lastSeenAt,
};

/**
 * True when the upsert inserted the row, false when it updated an existing one: a row written by this
 * very statement's INSERT has no deleting/locking transaction yet (xmax = 0). The query builder has no
 * word for a system column; test/storage/user-store.test.ts covers both answers and the race.
 */
const INSERTED = sql<boolean>`(xmax = 0)`;

/** Known facts win, unknown ones (empty name, null ids) keep what is stored. */
const MERGE = {
  name: sql`CASE WHEN excluded.name <> '' THEN excluded.name ELSE ${users.name} END`,
  unionId: sql`COALESCE(excluded.union_id, ${users.unionId})`,
  userId: sql`COALESCE(excluded.user_id, ${users.userId})`,
  avatarUrl: sql`COALESCE(excluded.avatar_url, ${users.avatarUrl})`,
  updatedAt: sql`excluded.updated_at`,
};

export class PostgresUserStore implements UserStore {
  readonly #identities: IdentityCache;

  constructor(
    private readonly db: PgDb,
    private readonly now: () => number = Date.now,
  ) {
    this.#identities = new IdentityCache(now);
  }

  /** Pending = inbox rows past the cumulative ack, counted on the (user_id, seq) index. */
  #pending() {
    return this.db.$count(inbox, and(eq(inbox.userId, users.id), gt(inbox.seq, users.ackedSeq)));
  }

  async byId(id: number) {
    const [row] = await this.db.select(record).from(users).where(eq(users.id, id));
    return row;
  }

  async byOpenId(openId: string) {
    const [row] = await this.db.select(record).from(users).where(eq(users.openId, openId));
    return row;
  }

  async identity(openId: string): Promise<Identity | undefined> {
    const hit = this.#identities.get(openId);
    if (hit) return hit;
    const [row] = await this.db
      .select({ id: users.id, name: users.name })
      .from(users)
      .where(eq(users.openId, openId));
    return row ? this.#identities.put(openId, row) : undefined;
  }

  find(ref: string) {
    return isUserId(ref) ? this.byId(Number(ref)) : this.byOpenId(ref);
  }

  /**
   * UPDATE first, as on SQLite: a conflicting INSERT still burns an identity value, and ids are what
   * users see (the JWT `sub`). A user created by another node between the two statements is met by
   * the INSERT's ON CONFLICT (open_id) DO UPDATE, so racing nodes still make one row.
   */
  async upsert(p: UserProfile) {
    const now = this.now();
    const values = { ...profileValues(p), createdAt: now, updatedAt: now };
    this.#identities.drop(p.openId);
    const { openId: _key, createdAt: _kept, ...known } = values;
    const [updated] = await this.db
      .update(users)
      .set({
        ...known,
        name: sql`CASE WHEN ${known.name} <> '' THEN ${known.name} ELSE ${users.name} END`,
        unionId: sql`COALESCE(${known.unionId}, ${users.unionId})`,
        userId: sql`COALESCE(${known.userId}, ${users.userId})`,
        avatarUrl: sql`COALESCE(${known.avatarUrl}, ${users.avatarUrl})`,
      })
      .where(eq(users.openId, p.openId))
      .returning(record);
    if (updated) return { user: updated, created: false };
    const [row] = await this.db
      .insert(users)
      .values(values)
      .onConflictDoUpdate({ target: users.openId, set: MERGE })
      .returning({ ...record, created: INSERTED });
    const { created, ...user } = row!;
    return { user, created };
  }

  async list(isConnected: (userId: number) => boolean) {
    const rows = await this.db
      .select({ ...record, pending: this.#pending() })
      .from(users)
      .orderBy(asc(users.id));
    return rows.map((row) => summary(row, isConnected));
  }

  async pendingCount(userId: number) {
    const [row] = await this.db.select({ n: this.#pending() }).from(users).where(eq(users.id, userId));
    return row?.n ?? 0;
  }

  async bumpTokenVersion(userId: number) {
    const [row] = await this.db
      .update(users)
      .set({ tokenVersion: sql`${users.tokenVersion} + 1`, updatedAt: this.now() })
      .where(eq(users.id, userId))
      .returning({ tokenVersion: users.tokenVersion });
    return row?.tokenVersion;
  }

  tokenVersions() {
    return this.db.select({ id: users.id, ver: users.tokenVersion }).from(users);
  }

  async setLlmProvider(userId: number, provider: string | null) {
    return this.#set(userId, { llmProvider: provider });
  }

  async setFeishuTokensEnc(userId: number, enc: string | null) {
    return this.#set(userId, { feishuTokensEnc: enc });
  }

  async feishuTokensEnc(userId: number) {
    const [row] = await this.db
      .select({ enc: users.feishuTokensEnc })
      .from(users)
      .where(eq(users.id, userId));
    return row?.enc ?? null;
  }

  async touch(userId: number, at: number = this.now()) {
    await this.db.update(users).set({ lastSeenAt: at }).where(eq(users.id, userId));
  }

  async #set(userId: number, values: Partial<typeof users.$inferInsert>): Promise<boolean> {
    const rows = await this.db
      .update(users)
      .set({ ...values, updatedAt: this.now() })
      .where(eq(users.id, userId))
      .returning({ id: users.id });
    return rows.length > 0;
  }
}
