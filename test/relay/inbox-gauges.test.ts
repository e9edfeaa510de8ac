import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import { registerInboxGauges } from "../../src/relay/inbox-gauges.ts";
import { tempDir } from "../helpers.ts";
import { textMessage } from "./inbound-fixture.ts";
import { sqliteInbox } from "./sqlite-inbox.ts";

function setup() {
  const { dir, cleanup } = tempDir();
  const db = openDatabase(join(dir, "g.db"));
  migrate(db);
  db.$client.run("INSERT INTO users (id, open_id) VALUES (1, 'ou_1'), (2, 'ou_2')");
  let now = 1_000_000;
  const metrics = new Registry();
  const inbox = sqliteInbox(db, { now: () => now, log: memoryLogger().log, metrics });
  registerInboxGauges(metrics, inbox.store, () => now);
  const sample = (name: string) => {
    const line = metrics
      .render()
      .split("\n")
      .find((l) => l.startsWith(`${name} `));
    return Number(line?.split(" ")[1]);
  };
  const store = (userId: number, id: string) =>
    inbox.accept({ userId, eventId: `e_${id}`, message: textMessage(id, { chatId: "oc_1" }) });
  return {
    inbox,
    sample,
    store,
    advance: (ms: number) => (now += ms),
    close: () => {
      db.$client.close();
      cleanup();
    },
  };
}

describe("inbox gauges", () => {
  test("pending messages of all users, and the age of the oldest, fall to 0 once acked", async () => {
    const s = setup();
    expect(s.sample("inbox_pending_messages")).toBe(0);
    expect(s.sample("inbox_oldest_pending_age_seconds")).toBe(0);
    await s.store(1, "om_1");
    s.advance(30_000);
    await Promise.all([s.store(1, "om_2"), s.store(2, "om_3")]);
    s.advance(60_000);
    expect(s.sample("inbox_pending_messages")).toBe(3);
    expect(s.sample("inbox_oldest_pending_age_seconds")).toBe(90);
    s.inbox.ack(1, 1);
    s.inbox.flushAcks();
    expect(s.sample("inbox_pending_messages")).toBe(2);
    expect(s.sample("inbox_oldest_pending_age_seconds")).toBe(60);
    s.inbox.ack(1, 2);
    s.inbox.ack(2, 1);
    s.inbox.flushAcks();
    expect(s.sample("inbox_pending_messages")).toBe(0);
    expect(s.sample("inbox_oldest_pending_age_seconds")).toBe(0);
    s.close();
  });

  test("a scrape after the database closed reports NaN instead of failing", () => {
    const s = setup();
    s.close();
    expect(s.sample("inbox_pending_messages")).toBeNaN();
  });
});
