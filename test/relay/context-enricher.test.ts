import { describe, expect, test } from "bun:test";
import { FeishuApiError } from "../../src/feishu/api-error.ts";
import type { MessageItem } from "../../src/feishu/message-context.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import { ContextEnricher, type ContextEnricherDeps } from "../../src/relay/context-enricher.ts";
import type { InboundMessage } from "../../src/relay/protocol.ts";
import { textMessage } from "./inbound-fixture.ts";

const item = (id: string, text: string): MessageItem => ({
  message_id: id,
  msg_type: "text",
  create_time: "1000",
  sender: { id: "ou_peer", id_type: "open_id", sender_type: "user" },
  body: { content: JSON.stringify({ text }) },
});

function setup(over: Partial<ContextEnricherDeps> = {}) {
  const { log, lines } = memoryLogger();
  let fire: () => void = () => {};
  const chatNames = new Map<string, string>();
  const deps: ContextEnricherDeps = {
    message: async (id) => [item(id, `text of ${id}`)],
    chats: {
      cachedName: (id) => chatNames.get(id),
      isFresh: (id) => chatNames.has(id),
      name: async (id) => {
        chatNames.set(id, "Team");
        return "Team";
      },
    },
    userName: async (openId) => (openId === "ou_peer" ? "Peer" : "Member"),
    timeoutMs: 3000,
    nameTtlMs: 60_000,
    log,
    metrics: new Registry(),
    // The deadline fires when the test says so.
    setTimer: (fn) => {
      fire = fn;
      return () => {};
    },
    ...over,
  };
  return { enricher: new ContextEnricher(deps), lines, fire: () => fire(), deps };
}

const group = (over: Partial<InboundMessage> = {}): InboundMessage => ({
  ...textMessage("om_1"),
  chatType: "group",
  chatId: "oc_team",
  sender: { openId: "ou_member" },
  ...over,
});

describe("context enricher", () => {
  test("wants only what is missing; prefill fills from memory", async () => {
    const { enricher } = setup();
    expect(enricher.wants({ ...textMessage("om_1"), sender: { openId: "ou_1", name: "A" } })).toBe(false);
    expect(enricher.wants(group())).toBe(true);
    const enriched = await enricher.enrich(group({ parentId: "om_p" }), 1);
    expect(enriched).toMatchObject({
      chatName: "Team",
      sender: { openId: "ou_member", name: "Member" },
      quoted: { messageId: "om_p", text: "text of om_p", senderName: "Peer" },
    });
    const next = group({ messageId: "om_2" });
    enricher.prefill(next);
    expect(next).toMatchObject({ chatName: "Team", sender: { name: "Member" } });
    expect(enricher.wants(next)).toBe(false);
  });

  test("at the deadline what arrived is kept and the rest left out", async () => {
    let release: (items: MessageItem[]) => void = () => {};
    const s = setup({ message: () => new Promise((r) => (release = r)) });
    const pending = s.enricher.enrich(group({ parentId: "om_p" }), 1);
    await Bun.sleep(0);
    s.fire();
    const enriched = await pending;
    expect(enriched?.chatName).toBe("Team");
    expect(enriched?.quoted).toBeUndefined();
    release([item("om_p", "late")]);
  });

  test("a missing scope is logged once per lookup and code, and the message goes without", async () => {
    const denied = new FeishuApiError({
      kind: "api",
      code: 230027,
      msg: "no",
      status: 400,
      retryable: false,
    });
    const s = setup({ message: () => Promise.reject(denied) });
    for (const id of ["om_1", "om_2"]) {
      const enriched = await s.enricher.enrich(group({ messageId: id, parentId: "om_p" }), 1);
      expect(enriched?.quoted).toBeUndefined();
    }
    const warned = s.lines.filter((l) => l.includes('"warn"') && l.includes("message_context_unavailable"));
    expect(warned).toHaveLength(1);
  });
});
