import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { ChatInfo, FAILURE_RETRY_MS } from "../../src/feishu/chat-info.ts";
import { SqliteChatInfoStore } from "../../src/feishu/chat-info-store.ts";
import type { ChatFacts } from "../../src/feishu/message-lookup.ts";
import { tempDir } from "../helpers.ts";

function setup() {
  const { dir, cleanup } = tempDir();
  const db = openDatabase(join(dir, "chat.db"));
  migrate(db);
  let now = 1_000_000;
  const calls: string[] = [];
  let answer: () => Promise<ChatFacts> = async () => ({ name: "产品周会", chatMode: "group" });
  const make = () =>
    new ChatInfo(new SqliteChatInfoStore(db), {
      fetchChat: (chatId) => {
        calls.push(chatId);
        return answer();
      },
      ttlMs: 3_600_000,
      now: () => now,
    });
  return {
    db,
    calls,
    make,
    advance: (ms: number) => (now += ms),
    answer: (fn: () => Promise<ChatFacts>) => {
      answer = fn;
    },
    close: () => {
      db.$client.close();
      cleanup();
    },
  };
}

describe("chat names", () => {
  test("fetched once per TTL, one call for concurrent askers, kept in chat_info across restarts", async () => {
    const s = setup();
    const chats = s.make();
    expect(chats.cachedName("oc_1")).toBeUndefined();
    expect(await Promise.all([chats.name("oc_1"), chats.name("oc_1")])).toEqual(["产品周会", "产品周会"]);
    expect(s.calls).toEqual(["oc_1"]);
    expect([chats.cachedName("oc_1"), chats.isFresh("oc_1")]).toEqual(["产品周会", true]);
    // A new process reads the table instead of asking Feishu.
    expect(await s.make().name("oc_1")).toBe("产品周会");
    expect(s.calls).toEqual(["oc_1"]);
    s.advance(3_600_000);
    expect(chats.cachedName("oc_1")).toBeUndefined();
    await chats.name("oc_1");
    expect(s.calls).toEqual(["oc_1", "oc_1"]);
    s.close();
  });

  test("a failed refresh keeps the older name; with none the error comes through", async () => {
    const s = setup();
    const chats = s.make();
    await chats.name("oc_1");
    s.advance(3_600_000);
    s.answer(() => Promise.reject(new Error("232011")));
    expect(await chats.name("oc_1")).toBe("产品周会");
    await expect(chats.name("oc_2")).rejects.toThrow("232011");
    // Not asked again for a while: its messages are not held for a failing lookup each.
    expect([chats.isFresh("oc_2"), s.calls.length]).toEqual([true, 3]);
    expect(await chats.name("oc_2")).toBeUndefined();
    s.advance(FAILURE_RETRY_MS);
    await expect(chats.name("oc_2")).rejects.toThrow("232011");
    expect(s.calls.length).toBe(4);
    s.close();
  });

  test("writes name, chat_mode and fetched_at only: the bot-added notice time is left alone", async () => {
    const s = setup();
    s.db.$client.run("INSERT INTO chat_info (chat_id, notice_at) VALUES ('oc_1', 42)");
    await s.make().name("oc_1");
    const row = s.db.$client
      .query("SELECT name, chat_mode AS mode, fetched_at AS at, notice_at AS notice FROM chat_info")
      .get();
    expect(row).toEqual({ name: "产品周会", mode: "group", at: 1_000_000, notice: 42 });
    s.close();
  });

  test("a chat without a name is remembered as such", async () => {
    const s = setup();
    s.answer(async () => ({ chatMode: "group" }));
    const chats = s.make();
    expect(await chats.name("oc_1")).toBeUndefined();
    expect(chats.isFresh("oc_1")).toBe(true);
    await chats.name("oc_1");
    expect(s.calls).toEqual(["oc_1"]);
    s.close();
  });
});
