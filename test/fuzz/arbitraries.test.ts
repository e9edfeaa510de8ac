/** The fuzzers' own pure parts: request builders, the frame oracle, failure grouping. */
import { describe, expect, test } from "bun:test";
import { signFeishu } from "../fakes/feishu-events.ts";
import {
  type BuildEnv,
  buildWebhookRequest,
  deepJson,
  describeCase,
  FailureLog,
  padObject,
  type WebhookCase,
} from "./arbitraries.ts";
import { frameVerdict, isValidClientFrame } from "./frame-oracle.ts";

const NOW = Date.UTC(2026, 11, 2, 12, 0, 0);
const env = (encryptKey?: string): BuildEnv => {
  let n = 0;
  return {
    app: { appId: "cli_a1b2c3d4e5f60718", tenantKey: "t", verificationToken: "vt", encryptKey },
    senderOpenId: "ou_owner",
    nextId: () => String(++n),
    nowMs: NOW,
  };
};
const validCase = (over: Partial<WebhookCase> = {}): WebhookCase => ({
  body: { kind: "valid", text: "hi" },
  layer: { kind: "ok" },
  iv: new Uint8Array(16),
  nonce: "n1",
  padTo: null,
  contentType: null,
  ...over,
});

describe("webhook request builder", () => {
  test("a valid plaintext event is a well-formed v2 envelope from the owner", () => {
    const built = buildWebhookRequest(env(), validCase());
    const body = JSON.parse(built.body);
    expect(body.header).toMatchObject({ event_type: "im.message.receive_v1", token: "vt" });
    expect(body.event.sender.sender_id.open_id).toBe("ou_owner");
    expect(JSON.parse(body.event.message.content)).toEqual({ text: "hi" });
    expect(built.validMessageId).toBe(body.event.message.message_id);
    expect(built.headers["content-type"]).toBe("application/json");
  });

  test("encrypted cases are signed with the current time over the exact body", () => {
    const built = buildWebhookRequest(env("key"), validCase());
    const ts = built.headers["x-lark-request-timestamp"] as string;
    expect(Number(ts)).toBe(NOW / 1000);
    expect(built.headers["x-lark-signature"]).toBe(signFeishu(ts, "n1", "key", built.body));
    expect(built.validMessageId).toStartWith("om_fuzz_");
  });

  test("an old timestamp is signed correctly but not counted as a valid event", () => {
    const built = buildWebhookRequest(
      env("key"),
      validCase({ layer: { kind: "oldTimestamp", ageSec: 7200 } }),
    );
    const ts = built.headers["x-lark-request-timestamp"] as string;
    expect(Number(ts)).toBe(NOW / 1000 - 7200);
    expect(built.headers["x-lark-signature"]).toBe(signFeishu(ts, "n1", "key", built.body));
    expect(built.validMessageId).toBeUndefined();
  });

  test("a padded body has exactly the requested size and stays JSON", () => {
    const built = buildWebhookRequest(env(), validCase({ padTo: 1024 * 1024 + 1 }));
    expect(Buffer.byteLength(built.body)).toBe(1024 * 1024 + 1);
    expect(() => JSON.parse(built.body)).not.toThrow();
    expect(built.validMessageId).toBeUndefined();
    expect(padObject("[1]", 100)).toBe("[1]");
  });

  test("deep JSON has the requested depth", () => {
    let depth = 0;
    for (let v: unknown = JSON.parse(deepJson(100, "object")); typeof v === "object"; depth++)
      v = (v as { a: unknown }).a;
    expect(depth).toBe(100);
    expect(deepJson(3, "array")).toBe("[[[]]]");
    expect(deepJson(4, "mixed")).toBe('{"a":[{"a":[1]}]}');
  });
});

describe("frame oracle", () => {
  test("reads frames as the contract does, and never throws", () => {
    expect(isValidClientFrame('{"type":"ping"}')).toBe(true);
    expect(isValidClientFrame('{"type":"ack","seq":3}')).toBe(true);
    expect(isValidClientFrame('{"type":"send","id":"a","text":"hi"}')).toBe(true);
    expect(isValidClientFrame('{"type":"send","id":"a"}')).toBe(false);
    expect(isValidClientFrame('{"type":{"toString":1}}')).toBe(false);
    expect(isValidClientFrame("not json")).toBe(false);
  });

  test("a malformed frame needs a bad_frame error; answers must be server frames", () => {
    const c = { kind: "text" as const, text: '{"type":1}' };
    expect(frameVerdict(c, false, [{ type: "pong" }])).toContain("not answered with bad_frame");
    const badFrame = { type: "error", code: "bad_frame", message: "m", retryable: false };
    expect(frameVerdict(c, false, [badFrame, { type: "pong" }])).toBeUndefined();
    expect(frameVerdict(c, true, [{ type: "pong" }])).toBeUndefined();
    expect(frameVerdict(c, true, [{ type: "bogus" }])).toContain("invalid server frame");
  });
});

describe("failure log", () => {
  test("groups failures that differ only in numbers, and cuts long cases short", () => {
    const log = new FailureLog();
    log.add("status 500 after 12 ms", { text: "x".repeat(10_000) });
    log.add("status 500 after 40 ms", { text: "y" });
    log.add("no answer", {});
    expect(log.total).toBe(3);
    const summary = log.summary();
    expect(summary).toHaveLength(2);
    expect(summary[0]).toStartWith("2× status 500 after 12 ms");
    expect(summary[0]).toContain("(10000 chars)");
    expect(describeCase({ s: "a".repeat(5000) }).length).toBeLessThan(300);
  });
});
