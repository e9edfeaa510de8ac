/**
 * The `chat_info` port: what Feishu told us about a chat (its name, for frames) and when the bot's
 * "how to /bind" notice was posted there. The two halves never write each other's columns. Adapters:
 * SQLite (statements prepared once) and PostgreSQL; the notice mark is one conditional write in both,
 * so the notice goes out once per group even when several nodes see the "bot added" event.
 */
import type { Db } from "../db/open.ts";
import type { Storage } from "../storage/storage.ts";

export interface StoredChat {
  name: string | null;
  /** When the name was fetched (ms); null: never (the row holds only a notice mark). */
  fetchedAt: number | null;
}

export interface ChatFactsRow {
  name: string | null;
  chatMode: string | null;
  fetchedAt: number;
}

export interface ChatInfoStore {
  get(chatId: string): Promise<StoredChat | undefined>;
  /** Stores fetched facts; the notice mark is left alone. */
  put(chatId: string, facts: ChatFactsRow): Promise<void>;
  /** True for the one caller that may post the notice in this group (and marks it posted at `at`). */
  claimNotice(chatId: string, at: number): Promise<boolean>;
  /** The notice could not be sent: the next "bot added" may try again (only the claim made at `at`). */
  releaseNotice(chatId: string, at: number): Promise<void>;
}

export function createChatInfoStore(storage: Storage): ChatInfoStore {
  return storage.dialect === "sqlite"
    ? new SqliteChatInfoStore(storage.db)
    : new storage.adapters.PostgresChatInfoStore(storage.db);
}

export class SqliteChatInfoStore implements ChatInfoStore {
  readonly #s;

  constructor(db: Db) {
    const q = db.$client;
    this.#s = {
      get: q.query<StoredChat, [string]>(
        "SELECT name, fetched_at AS fetchedAt FROM chat_info WHERE chat_id = ?",
      ),
      put: q.query(
        `INSERT INTO chat_info (chat_id, name, chat_mode, fetched_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(chat_id) DO UPDATE SET name = ?2, chat_mode = ?3, fetched_at = ?4`,
      ),
      claim: q.query<{ chatId: string }, [string, number]>(
        `INSERT INTO chat_info (chat_id, notice_at) VALUES (?1, ?2)
         ON CONFLICT (chat_id) DO UPDATE SET notice_at = excluded.notice_at WHERE chat_info.notice_at IS NULL
         RETURNING chat_id AS chatId`,
      ),
      release: q.query("UPDATE chat_info SET notice_at = NULL WHERE chat_id = ? AND notice_at = ?"),
    };
  }

  async get(chatId: string) {
    return this.#s.get.get(chatId) ?? undefined;
  }
  async put(chatId: string, f: ChatFactsRow) {
    this.#s.put.run(chatId, f.name, f.chatMode, f.fetchedAt);
  }
  async claimNotice(chatId: string, at: number) {
    return this.#s.claim.get(chatId, at) !== null;
  }
  async releaseNotice(chatId: string, at: number) {
    this.#s.release.run(chatId, at);
  }
}
