/** The `chat_info` port on PostgreSQL (cluster mode): the notice mark is one conditional upsert. */
import { and, eq, isNull } from "drizzle-orm";
import { chatInfo } from "../db/pg-schema.ts";
import type { PgDb } from "../db/postgres.ts";
import type { ChatFactsRow, ChatInfoStore } from "./chat-info-store.ts";

export class PostgresChatInfoStore implements ChatInfoStore {
  constructor(private readonly db: PgDb) {}

  async get(chatId: string) {
    const [row] = await this.db
      .select({ name: chatInfo.name, fetchedAt: chatInfo.fetchedAt })
      .from(chatInfo)
      .where(eq(chatInfo.chatId, chatId));
    return row;
  }

  async put(chatId: string, f: ChatFactsRow) {
    await this.db
      .insert(chatInfo)
      .values({ chatId, ...f })
      .onConflictDoUpdate({ target: chatInfo.chatId, set: f });
  }

  async claimNotice(chatId: string, at: number) {
    const rows = await this.db
      .insert(chatInfo)
      .values({ chatId, noticeAt: at })
      .onConflictDoUpdate({
        target: chatInfo.chatId,
        set: { noticeAt: at },
        setWhere: isNull(chatInfo.noticeAt),
      })
      .returning({ chatId: chatInfo.chatId });
    return rows.length > 0;
  }

  async releaseNotice(chatId: string, at: number) {
    await this.db
      .update(chatInfo)
      .set({ noticeAt: null })
      .where(and(eq(chatInfo.chatId, chatId), eq(chatInfo.noticeAt, at)));
  }
}
