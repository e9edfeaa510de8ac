/**
 * EventIngest's outcomes with a real inbox on a temp SQLite file: events that store nothing still
 * leave a dedupe mark, so a re-push reports `duplicate` (and sends no second notice).
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { EventIngest, type IngestNotices } from "../../src/feishu/event-ingest.ts";
import type { FeishuEvent } from "../../src/feishu/event-parser.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import { tempDir } from "../helpers.ts";
import { sqliteInbox } from "../relay/sqlite-inbox.ts";

function setup() {
  const { dir, cleanup } = tempDir();
  const db = openDatabase(join(dir, "o.db"));
  migrate(db);
  const { log } = memoryLogger();
  const metrics = new Registry();
  const inbox = sqliteInbox(db, { log, metrics });
  const unknown: string[] = [];
  const notices: IngestNotices = {
    unknownSender: ({ messageId }) => unknown.push(messageId),
    storedForUser: () => {},
    droppedOverCap: () => {},
  };
  const ingest = new EventIngest({
    inbox,
    userByOpenId: () => undefined,
    bot: { openId: async () => "ou_bot" },
    notices,
    log,
    metrics,
  });
  return {
    ingest,
    unknown,
    close: async () => {
      await inbox.close();
      db.$client.close();
      cleanup();
    },
  };
}

const meta = (eventId: string, eventType: string) => ({
  eventId,
  eventType,
  token: undefined,
  schema: "v2" as const,
});

const message = (eventId: string, senderType: string): Exclude<FeishuEvent, { kind: "challenge" }> => ({
  kind: "message",
  meta: meta(eventId, "im.message.receive_v1"),
  senderType,
  message: {
    messageId: `om_${eventId}`,
    chatId: "oc_1",
    chatType: "p2p",
    sender: { openId: "ou_stranger" },
    msgType: "text",
    text: "hi",
    content: { text: "hi" },
    mentions: [],
    createTime: 0,
    atOpenIds: [],
    rawContent: JSON.stringify({ text: "hi" }),
  },
});

describe("outcomes of events that store nothing", () => {
  test("a re-push of a non-message event reports duplicate", async () => {
    const s = setup();
    const other = { kind: "other" as const, meta: meta("ev_other", "im.chat.member.bot.added_v1") };
    expect(await s.ingest.ingest(other, "webhook")).toBe("ignored_type");
    expect(await s.ingest.ingest(other, "webhook")).toBe("duplicate");
    await s.close();
  });

  test("a re-push of a bot's message or an unknown sender's reports duplicate, and the sign-in link goes once", async () => {
    const s = setup();
    expect(await s.ingest.ingest(message("ev_bot", "app"), "ws")).toBe("from_bot");
    expect(await s.ingest.ingest(message("ev_bot", "app"), "webhook")).toBe("duplicate");
    expect(await s.ingest.ingest(message("ev_new", "user"), "webhook")).toBe("unknown_sender");
    expect(await s.ingest.ingest(message("ev_new", "user"), "webhook")).toBe("duplicate");
    await new Promise((r) => setImmediate(r));
    expect(s.unknown).toEqual(["om_ev_new"]);
    await s.close();
  });
});
