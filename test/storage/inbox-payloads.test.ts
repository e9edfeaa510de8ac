import { afterEach, beforeEach, expect, test } from "bun:test";
import { createInboxPayloads, type InboxPayloads } from "../../src/media/inbox-attachment.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { eachDialect, freshStorage } from "./databases.ts";
import { addUser } from "./users.ts";

/** An inbox row written as ingest would (SQL per dialect: the inbox port is another module's). */
async function addMessage(storage: Storage, userId: number, seq: number, messageId: string, payload: object) {
  const row = [userId, seq, `ev_${messageId}`, messageId, "oc_1", JSON.stringify(payload), 1000] as const;
  if (storage.dialect === "sqlite")
    storage.db.$client.run(
      "INSERT INTO inbox (user_id, seq, event_id, message_id, chat_id, payload, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      [...row],
    );
  else
    await storage.db
      .$client`INSERT INTO inbox (user_id, seq, event_id, message_id, chat_id, payload, received_at)
      VALUES (${row[0]}, ${row[1]}, ${row[2]}, ${row[3]}, ${row[4]}, ${row[5]}, ${row[6]})`;
}

eachDialect("inbox payloads (attachment lookups)", (dialect) => {
  let close: () => Promise<void>;
  let payloads: InboxPayloads;
  let a: number;
  let b: number;
  beforeEach(async () => {
    const fresh = await freshStorage(dialect);
    close = fresh.close;
    payloads = createInboxPayloads(fresh.storage);
    a = await addUser(fresh.storage, "ou_a");
    b = await addUser(fresh.storage, "ou_b");
    await addMessage(fresh.storage, a, 1, "om_own", { messageId: "om_own" });
    await addMessage(fresh.storage, a, 2, "om_q1", { messageId: "om_q1", quoted: { messageId: "om_orig" } });
    await addMessage(fresh.storage, a, 3, "om_q2", { messageId: "om_q2", quoted: { messageId: "om_orig" } });
    await addMessage(fresh.storage, b, 1, "om_b", { messageId: "om_b", quoted: { messageId: "om_other" } });
  });
  afterEach(() => close());

  test("a user's own message is found; another user's is not", async () => {
    expect(JSON.parse((await payloads.payload(a, "om_own"))!)).toEqual({ messageId: "om_own" });
    expect(await payloads.payload(b, "om_own")).toBeUndefined();
  });

  test("the user's newest message quoting an id is found; other users' quotes are not", async () => {
    expect(JSON.parse((await payloads.quoting(a, "om_orig"))!).messageId).toBe("om_q2");
    expect(await payloads.quoting(a, "om_other")).toBeUndefined();
    expect(await payloads.quoting(b, "om_orig")).toBeUndefined();
  });
});
