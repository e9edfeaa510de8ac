/** The group_bindings port on PostgreSQL (cluster mode): Drizzle over pg-schema.ts. */
import { and, asc, eq } from "drizzle-orm";
import { chatInfo, groupBindings, users } from "../db/pg-schema.ts";
import type { PgDb } from "../db/postgres.ts";
import {
  type BindingStore,
  type BindRequest,
  bindOrExisting,
  type GroupBinding,
  type GroupBindingView,
} from "./binding-store.ts";

const columns = {
  chatId: groupBindings.chatId,
  ownerUserId: groupBindings.ownerUserId,
  requireMention: groupBindings.requireMention,
  boundBy: groupBindings.boundBy,
  createdAt: groupBindings.createdAt,
  updatedAt: groupBindings.updatedAt,
};

export class PostgresBindingStore implements BindingStore {
  constructor(
    private readonly db: PgDb,
    private readonly now: () => number,
  ) {}

  async get(chatId: string): Promise<GroupBinding | undefined> {
    const [row] = await this.db.select(columns).from(groupBindings).where(eq(groupBindings.chatId, chatId));
    return row;
  }

  async view(chatId: string) {
    const [row] = await this.#views().where(eq(groupBindings.chatId, chatId));
    return row && view(row);
  }

  async list() {
    const rows = await this.#views().orderBy(asc(groupBindings.createdAt), asc(groupBindings.chatId));
    return rows.map(view);
  }

  async bind(req: BindRequest): Promise<GroupBinding> {
    const row = this.#row(req);
    const { createdAt: _kept, chatId: _key, ...set } = row;
    const [bound] = await this.db
      .insert(groupBindings)
      .values(row)
      .onConflictDoUpdate({ target: groupBindings.chatId, set })
      .returning(columns);
    return bound!;
  }

  bindIfUnbound(req: BindRequest) {
    return bindOrExisting(this, req, async () => {
      const [row] = await this.db
        .insert(groupBindings)
        .values(this.#row(req))
        .onConflictDoNothing({ target: groupBindings.chatId })
        .returning(columns);
      return row;
    });
  }

  async unbind(chatId: string, ownerUserId?: number) {
    const owned = ownerUserId === undefined ? undefined : eq(groupBindings.ownerUserId, ownerUserId);
    const rows = await this.db
      .delete(groupBindings)
      .where(and(eq(groupBindings.chatId, chatId), owned))
      .returning({ chatId: groupBindings.chatId });
    return rows.length > 0;
  }

  #views() {
    return this.db
      .select({ ...columns, ownerOpenId: users.openId, ownerName: users.name, name: chatInfo.name })
      .from(groupBindings)
      .innerJoin(users, eq(users.id, groupBindings.ownerUserId))
      .leftJoin(chatInfo, eq(chatInfo.chatId, groupBindings.chatId))
      .$dynamic();
  }

  #row(req: BindRequest) {
    const now = this.now();
    return {
      chatId: req.chatId,
      ownerUserId: req.ownerUserId,
      requireMention: req.requireMention !== false,
      boundBy: req.boundBy,
      createdAt: now,
      updatedAt: now,
    };
  }
}

function view(
  r: GroupBinding & { ownerOpenId: string; ownerName: string; name: string | null },
): GroupBindingView {
  const { name, ...rest } = r;
  return { ...rest, ...(name ? { name } : {}) };
}
