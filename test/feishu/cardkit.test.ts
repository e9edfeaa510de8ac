/**
 * The CardKit client against the fake's card entities (reference §11.5 b), over real HTTP: the
 * fake enforces what Feishu does (schema 2.0, increasing sequence, uuid idempotency, streaming closed,
 * 10 operations per second per card, an entity sent once).
 */
import { describe, expect, test } from "bun:test";
import type { FeishuApiError } from "../../src/feishu/api-error.ts";
import { CardKit, isCardGone, isStreamingClosed } from "../../src/feishu/cardkit.ts";
import { markdownElement, streamingCard } from "../../src/relay/stream-card.ts";
import { useFakeFeishu } from "../fakes/use-fake-feishu.ts";
import { clientStack, failure } from "./client-stack.ts";

const fake = await useFakeFeishu();
const opts = { priority: "update" as const, owner: "user:1" };

function cardkit() {
  const stack = clientStack(fake, { chatPerSecond: 100 });
  return { ...stack, cards: new CardKit(stack.client, stack.limiter) };
}

describe("CardKit client", () => {
  test("creates a streaming card, streams its text, replaces the element and ends streaming", async () => {
    const { cards } = cardkit();
    const id = await cards.createCard(streamingCard("Let"), opts);
    expect(id).toMatch(/^\d+$/);
    const state = fake.cardkit.cards.get(id)!;
    expect(state).toMatchObject({ streaming: true, summary: "[生成中…]", elements: { content: "Let" } });
    await cards.streamContent(id, "content", "Let me", { sequence: 1, uuid: `c_${id}_1` }, opts);
    expect(state.elements.content).toBe("Let me");
    await cards.closeStreaming(
      id,
      "Let me",
      { sequence: 2, uuid: `c_${id}_2` },
      { ...opts, priority: "final" },
    );
    expect(state).toMatchObject({ streaming: false, summary: "Let me" });
    const closed = await failure(
      cards.streamContent(id, "content", "more", { sequence: 3, uuid: "u3" }, opts),
    );
    expect(closed.code).toBe(300309);
    expect(isStreamingClosed(closed)).toBe(true);
    await cards.replaceElement(id, "content", markdownElement("Final"), { sequence: 4, uuid: "u4" }, opts);
    expect(state.elements.content).toBe("Final");
  });

  test("sequence must increase per card; a repeated step (same uuid and sequence) succeeds without effect", async () => {
    const { cards } = cardkit();
    const id = await cards.createCard(streamingCard(""), opts);
    await cards.streamContent(id, "content", "a", { sequence: 5, uuid: "s5" }, opts);
    await cards.streamContent(id, "content", "a", { sequence: 5, uuid: "s5" }, opts);
    const stale = await failure(
      cards.streamContent(id, "content", "b", { sequence: 5, uuid: "other" }, opts),
    );
    expect(stale.code).toBe(300317);
    expect(stale.retryable).toBe(false);
    expect(fake.cardkit.cards.get(id)!.elements.content).toBe("a");
  });

  test("refuses cards that are not JSON 2.0 or not shared, and unknown cards", async () => {
    const { cards } = cardkit();
    expect((await failure(cards.createCard({ config: {}, elements: [] }, opts))).code).toBe(300303);
    const unshared = { ...streamingCard(""), config: { update_multi: false } };
    expect((await failure(cards.createCard(unshared, opts))).code).toBe(300302);
    const gone = await failure(cards.streamContent("1", "content", "x", { sequence: 1, uuid: "x" }, opts));
    expect(gone.code).toBe(200740);
    expect(isCardGone(gone)).toBe(true);
  });

  test("more than 10 operations in a second on one card are refused with 230020 (the fake's choice)", async () => {
    // A limiter that lets everything through, so the fake's own limit shows.
    const stack = clientStack(fake, { appPerSecond: 1000, chatPerSecond: 1000, cardPerSecond: 1000 });
    const unlimited = new CardKit(stack.client, stack.limiter);
    const id = await unlimited.createCard(streamingCard(""), opts);
    const codes: Array<number | string> = [];
    for (let i = 1; i <= 12; i++) {
      await unlimited
        .streamContent(id, "content", `t${i}`, { sequence: i, uuid: `q${i}` }, opts)
        .then(() => codes.push(0))
        .catch((e: FeishuApiError) => codes.push(e.code));
    }
    expect(codes.slice(0, 10)).toEqual(Array(10).fill(0));
    expect(codes.slice(10)).toEqual([230020, 230020]);
  });

  test("the relay's limiter keeps one card at 10 operations per second, so the fake refuses none", async () => {
    const { cards } = cardkit();
    const id = await cards.createCard(streamingCard(""), opts);
    const t0 = Date.now();
    for (let i = 1; i <= 12; i++) {
      await cards.streamContent(id, "content", `t${i}`, { sequence: i, uuid: `r${i}` }, opts);
    }
    // The creation and ten updates fill the card's first second; the last two wait for the window.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(fake.cardkit.cards.get(id)!.elements.content).toBe("t12");
  });

  test("a card message needs a card that exists and was never sent; a retried send (same uuid) is deduped", async () => {
    const { cards, sender } = cardkit();
    const id = await cards.createCard(streamingCard("hi"), opts);
    const dest = { kind: "create" as const, receiveIdType: "open_id" as const, receiveId: "ou_card" };
    const msg = { msgType: "interactive" as const, content: { type: "card", data: { card_id: id } } };
    const [first] = await sender.deliver(dest, msg, { uuid: "card-1", retry: "once" });
    const [again] = await sender.deliver(dest, msg, { uuid: "card-1", retry: "once" });
    expect(again).toBe(first);
    expect(fake.cardkit.cards.get(id)!.messageId).toBe(first);
    const twice = await failure(sender.deliver(dest, msg, { uuid: "card-2", retry: "once" }));
    expect(twice.code).toBe(230099);
    const unknown = { msgType: "interactive" as const, content: { type: "card", data: { card_id: "42" } } };
    expect((await failure(sender.deliver(dest, unknown, { uuid: "card-3", retry: "once" }))).code).toBe(
      230099,
    );
  });
});
