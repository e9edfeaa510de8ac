/** A reply to a recalled message (230011, 231003) goes out as a new message in its chat, once. */
import { describe, expect, test } from "bun:test";
import { useFakeFeishu } from "../fakes/use-fake-feishu.ts";
import { clientStack } from "./client-stack.ts";

const fake = await useFakeFeishu();

describe("reply to a recalled message", () => {
  for (const code of [230011, 231003] as const) {
    test(`${code}: a new top-level message in the same chat, same uuid, every part`, async () => {
      const { sender, lines } = clientStack(fake);
      fake.recallMessage("om_gone0001", code);
      const ids = await sender.reply({
        messageId: "om_gone0001",
        chatId: "oc_team",
        replyInThread: true,
        text: "answer",
        uuid: "u-recalled",
      });
      expect(fake.sent).toHaveLength(1);
      expect(fake.sent[0]).toMatchObject({
        messageId: ids[0],
        kind: "create",
        receiveIdType: "chat_id",
        receiveId: "oc_team",
        uuid: "u-recalled",
      });
      expect(lines.some((l) => l.includes("feishu_reply_target_recalled"))).toBe(true);
      // A retry of the whole send (the outbox's) posts nothing new.
      expect(
        await sender.reply({
          messageId: "om_gone0001",
          chatId: "oc_team",
          text: "answer",
          uuid: "u-recalled",
        }),
      ).toEqual(ids);
      expect(fake.sent).toHaveLength(1);
    });
  }

  test("without the chat id, or for another error, the failure stands", async () => {
    const { sender } = clientStack(fake);
    fake.recallMessage("om_gone0002");
    await expect(sender.reply({ messageId: "om_gone0002", text: "x", retry: "once" })).rejects.toMatchObject({
      code: 230011,
    });
    fake.failNext(1, { kind: "code", code: 230002 });
    await expect(
      sender.reply({ messageId: "om_there0003", chatId: "oc_team", text: "x", retry: "once" }),
    ).rejects.toMatchObject({ code: 230002 });
    expect(fake.sent).toHaveLength(0);
  });
});
