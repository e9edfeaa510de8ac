/** The reaction client against the fake's reaction endpoints (reference §11.3), over real HTTP. */
import { describe, expect, test } from "bun:test";
import { FeishuApiError } from "../../src/feishu/api-error.ts";
import { isReactionThrottle, ReactionClient, TYPING_EMOJI } from "../../src/feishu/reactions.ts";
import { useFakeFeishu } from "../fakes/use-fake-feishu.ts";
import { clientStack, failure } from "./client-stack.ts";

const fake = await useFakeFeishu();

function reactions() {
  const stack = clientStack(fake);
  return { ...stack, reactions: new ReactionClient(stack.client, stack.limiter) };
}

/** A message the fake knows, as if a user had sent it. */
function userMessage(): string {
  const envelope = fake.messageEvent({ senderOpenId: "ou_reacting", text: "hi" });
  return (envelope.event as { message: { message_id: string } }).message.message_id;
}

describe("reaction client", () => {
  test("adds Typing with the app as operator and removes it again", async () => {
    const { reactions: rc, metrics } = reactions();
    const messageId = userMessage();
    const id = await rc.add(messageId, TYPING_EMOJI);
    expect(fake.reactions.on(messageId)).toMatchObject([
      { reactionId: id, emojiType: "Typing", operatorType: "app", operatorId: fake.appId },
    ]);
    await rc.remove(messageId, id);
    expect(fake.reactions.on(messageId)).toEqual([]);
    expect(fake.reactions.calls.items.map((c) => [c.action, c.code])).toEqual([
      ["add", 0],
      ["delete", 0],
    ]);
    expect(metrics.render()).toContain('feishu_api_calls_total{kind="reaction",result="ok"} 2');
  });

  test("Feishu's refusals come back with their codes, tried once", async () => {
    const { reactions: rc } = reactions();
    const recalled = userMessage();
    fake.reactions.recall(recalled);
    expect((await failure(rc.add(recalled, TYPING_EMOJI))).code).toBe(231003);
    expect((await failure(rc.add("om_never_seen", TYPING_EMOJI))).code).toBe(231003);
    expect((await failure(rc.add(userMessage(), "typing"))).code).toBe(231001);
    const m = userMessage();
    expect((await failure(rc.remove(m, "no_such_reaction"))).code).toBe(231011);
    const theirs = fake.reactions.addByUser(m, "OK", "ou_someone");
    expect((await failure(rc.remove(m, theirs.reactionId))).code).toBe(231007);
    const elsewhere = await rc.add(userMessage(), TYPING_EMOJI);
    expect((await failure(rc.remove(m, elsewhere))).code).toBe(231010);
  });

  test("429 and the monthly quota trip the throttle check; a 429 pauses reactions only", async () => {
    const { reactions: rc, limiter, metrics } = reactions();
    fake.reactions.failNext(1, { kind: "rate_limit", resetSec: 30 });
    const throttled = await failure(rc.add(userMessage(), TYPING_EMOJI));
    expect([throttled.status, throttled.code, isReactionThrottle(throttled)]).toEqual([429, 99991400, true]);
    expect(fake.reactions.calls.items).toHaveLength(1);
    // Sends still go at once; another reaction waits for the pause.
    await limiter.acquire("chat:oc_any");
    let reacted = false;
    void limiter.acquire("reaction", { kind: "reaction", priority: "reaction" }).then(() => {
      reacted = true;
    });
    await Bun.sleep(30);
    expect(reacted).toBe(false);
    expect(metrics.render()).toContain('feishu_api_calls_total{kind="reaction",result="throttled"} 1');
    fake.reactions.failNext(1, { kind: "code", code: 99991403, msg: "quota exceeded" });
    const quota = await failure(reactions().reactions.add(userMessage(), TYPING_EMOJI));
    expect(isReactionThrottle(quota)).toBe(true);
    expect(
      isReactionThrottle(
        new FeishuApiError({ kind: "api", code: 231003, msg: "", status: 400, retryable: false }),
      ),
    ).toBe(false);
  });

  test("ids that cannot be Feishu's are refused before any call", async () => {
    const { reactions: rc } = reactions();
    expect((await failure(rc.add("../../evil", TYPING_EMOJI))).code).toBe("invalid_id");
    expect((await failure(rc.remove(userMessage(), "a/b"))).code).toBe("invalid_id");
    expect(fake.reactions.calls.items).toHaveLength(0);
  });
});
