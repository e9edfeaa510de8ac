/**
 * Group names for the `chatName` of frames (M2-4), cached in memory and in the `chat_info` table
 * (columns name, chat_mode, fetched_at; `notice_at` belongs to the bot-added notice and is never
 * written here). A name is trusted for CHAT_INFO_TTL, then fetched again; one call per chat at a
 * time. When a refresh fails the older name is kept: a stale name beats a raw `oc_` id. A chat
 * that cannot be read at all (232011 not a member, a missing scope) is not asked about again for
 * FAILURE_RETRY_MS, so its messages are not held for a lookup each.
 */
import type { ChatInfoStore } from "./chat-info-store.ts";
import type { ChatFacts } from "./message-lookup.ts";

export interface ChatInfoOptions {
  /** GET im/v1/chats/:id (message-lookup.ts); rejects on failure. */
  fetchChat(chatId: string, signal?: AbortSignal): Promise<ChatFacts>;
  ttlMs: number;
  now?: () => number;
  /** Chats kept in memory (default 10,000); the least recently fetched go first. */
  maxEntries?: number;
}

/** How long a chat whose info could not be had is left alone (memory only). */
export const FAILURE_RETRY_MS = 5 * 60_000;

interface Entry {
  name: string | undefined;
  /** Fresh until then (ms). */
  until: number;
}

export class ChatInfo {
  readonly #o: ChatInfoOptions;
  readonly #now: () => number;
  readonly #max: number;
  readonly #memory = new Map<string, Entry>();
  readonly #calls = new Map<string, Promise<string | undefined>>();

  constructor(
    private readonly store: Pick<ChatInfoStore, "get" | "put">,
    opts: ChatInfoOptions,
  ) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#max = opts.maxEntries ?? 10_000;
  }

  /** The name if memory holds a fresh one; no I/O (the hot path asks this before storing). */
  cachedName(chatId: string): string | undefined {
    const hit = this.#memory.get(chatId);
    return hit && this.#fresh(hit) ? hit.name : undefined;
  }

  /** Whether memory holds a fresh answer (a name, or "this chat has none"). */
  isFresh(chatId: string): boolean {
    const hit = this.#memory.get(chatId);
    return hit !== undefined && this.#fresh(hit);
  }

  /** The chat's name: from memory, the table, or Feishu; undefined when it has none or none can be had. */
  name(chatId: string, signal?: AbortSignal): Promise<string | undefined> {
    const hit = this.#memory.get(chatId);
    if (hit && this.#fresh(hit)) return Promise.resolve(hit.name);
    // One lookup per chat at a time, the table read included.
    const running = this.#calls.get(chatId);
    if (running) return running;
    const call = this.#lookup(chatId, hit, signal).finally(() => this.#calls.delete(chatId));
    this.#calls.set(chatId, call);
    return call;
  }

  async #lookup(chatId: string, known: Entry | undefined, signal?: AbortSignal): Promise<string | undefined> {
    const hit = known ?? (await this.#load(chatId));
    if (hit && this.#fresh(hit)) return hit.name;
    let facts: ChatFacts;
    try {
      facts = await this.#o.fetchChat(chatId, signal);
    } catch (err) {
      const retry = Math.min(FAILURE_RETRY_MS, this.#o.ttlMs);
      this.#remember(chatId, { name: hit?.name, until: this.#now() + retry });
      if (hit?.name !== undefined) return hit.name;
      throw err;
    }
    const now = this.#now();
    this.#remember(chatId, { name: facts.name, until: now + this.#o.ttlMs });
    await this.store.put(chatId, {
      name: facts.name ?? null,
      chatMode: facts.chatMode ?? null,
      fetchedAt: now,
    });
    return facts.name;
  }

  #fresh(entry: Entry): boolean {
    return this.#now() < entry.until;
  }

  async #load(chatId: string): Promise<Entry | undefined> {
    const row = await this.store.get(chatId);
    if (!row || row.fetchedAt === null) return undefined;
    const entry = { name: row.name ?? undefined, until: row.fetchedAt + this.#o.ttlMs };
    this.#remember(chatId, entry);
    return entry;
  }

  #remember(chatId: string, entry: Entry): void {
    this.#memory.delete(chatId);
    this.#memory.set(chatId, entry);
    // Map order is insertion order: the first key is the least recently written.
    while (this.#memory.size > this.#max) this.#memory.delete(this.#memory.keys().next().value!);
  }
}
