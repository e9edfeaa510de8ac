/** Pure pieces of the plugin: back-off, ack bookkeeping, targets, config, reply text, redaction. */
import { describe, expect, test } from "bun:test";
import { backoffDelay, DEFAULT_BACKOFF } from "../src/backoff.ts";
import { createFeishuRelayPlugin } from "../src/channel.ts";
import { listAccountIds, normalizeRelayUrl, resolveAccount } from "../src/config.ts";
import { DeliveryTracker } from "../src/delivery-tracker.ts";
import { displayUrl, eventLog, redact } from "../src/log.ts";
import { payloadUrls } from "../src/payload-send.ts";
import { splitText, stableUuid } from "../src/reply-text.ts";
import { normalizeTarget, qualifiedTarget, targetChatType } from "../src/targets.ts";

describe("backoffDelay", () => {
  test("doubles from the initial delay and caps at the maximum", () => {
    const p = { ...DEFAULT_BACKOFF, jitter: 0 };
    expect([1, 2, 3, 4, 7, 20].map((n) => backoffDelay(n, p))).toEqual([
      1000, 2000, 4000, 8000, 60000, 60000,
    ]);
  });

  test("jitter spreads ±20 % and never exceeds the cap", () => {
    expect(backoffDelay(1, DEFAULT_BACKOFF, () => 0)).toBe(800);
    expect(backoffDelay(1, DEFAULT_BACKOFF, () => 0.999999)).toBe(1200);
    expect(backoffDelay(30, DEFAULT_BACKOFF, () => 0.999999)).toBe(60000);
    expect(backoffDelay(30, DEFAULT_BACKOFF, () => 0)).toBe(48000);
  });
});

describe("DeliveryTracker", () => {
  const make = () => {
    const acks: number[] = [];
    return { t: new DeliveryTracker((s) => acks.push(s)), acks };
  };

  test("acks the contiguous finished prefix only", async () => {
    const { t, acks } = make();
    t.newConnection();
    const gates: Array<() => void> = [];
    const done: Promise<void>[] = [];
    for (const seq of [1, 2, 3]) {
      expect(t.accept(seq, `om_${seq}`)).toBe("dispatch");
      done.push(t.track(seq, `om_${seq}`, new Promise<void>((r) => gates.push(r))));
    }
    gates[2]!();
    await done[2];
    expect(acks).toEqual([]);
    gates[0]!();
    await done[0];
    expect(acks).toEqual([1]);
    gates[1]!();
    await done[1];
    expect(acks).toEqual([1, 3]);
  });

  test("a failed handling still counts as finished", async () => {
    const { t, acks } = make();
    t.newConnection();
    t.accept(1, "om_1");
    await t.track(1, "om_1", Promise.reject(new Error("boom")));
    expect(acks).toEqual([1]);
  });

  test("replays: known ids are acked at once, repeated seqs ignored, gaps in seqs are fine", async () => {
    const { t, acks } = make();
    t.newConnection();
    t.accept(5, "om_a");
    await t.track(5, "om_a", Promise.resolve());
    expect(t.accept(5, "om_a")).toBe("duplicate-seq");
    t.newConnection();
    expect(t.accept(5, "om_a")).toBe("already-done");
    expect(t.accept(9, "om_b")).toBe("dispatch");
    expect(acks).toEqual([5, 5]);
  });

  test("an ack for an old connection is not sent on the new one", async () => {
    const { t, acks } = make();
    t.newConnection();
    t.accept(1, "om_1");
    let release!: () => void;
    const p = t.track(1, "om_1", new Promise<void>((r) => (release = r)));
    t.newConnection();
    expect(t.accept(1, "om_1")).toBe("in-flight");
    release();
    await p;
    await Promise.resolve();
    expect(acks).toEqual([1]);
  });

  test("skip acks past an unreadable frame", () => {
    const { t, acks } = make();
    t.newConnection();
    t.skip(1);
    expect(acks).toEqual([1]);
  });
});

describe("targets", () => {
  test("normalizes prefixed, kind-qualified and bare ids", () => {
    expect(normalizeTarget("feishu-relay:user:ou_abc")).toBe("user:ou_abc");
    expect(normalizeTarget("FEISHU-RELAY:chat:oc_1")).toBe("chat:oc_1");
    expect(normalizeTarget(" ou_abc ")).toBe("user:ou_abc");
    expect(normalizeTarget("oc_1")).toBe("chat:oc_1");
    expect(normalizeTarget("open_id:ou_abc")).toBe("user:ou_abc");
    expect(normalizeTarget("chat_id:oc_1")).toBe("chat:oc_1");
  });

  test("rejects mismatched kinds and foreign ids", () => {
    for (const bad of ["user:oc_1", "chat:ou_1", "bob", "telegram:123", "user:", "ou_a b", "user:ou_x:y"]) {
      expect(normalizeTarget(bad)).toBeUndefined();
    }
  });

  test("qualified form and chat type", () => {
    expect(qualifiedTarget("user:ou_a")).toBe("feishu-relay:user:ou_a");
    expect(targetChatType("feishu-relay:chat:oc_1")).toBe("group");
    expect(targetChatType("ou_a")).toBe("direct");
  });
});

describe("config", () => {
  test("resolves a configured account", () => {
    const cfg = { channels: { "feishu-relay": { relayUrl: " wss://r.example/openclaw ", token: "t" } } };
    expect(resolveAccount(cfg)).toMatchObject({
      accountId: "default",
      enabled: true,
      configured: true,
      relayUrl: "wss://r.example/openclaw",
      token: "t",
    });
    expect(listAccountIds(cfg)).toEqual(["default"]);
  });

  test("explains what is missing", () => {
    expect(resolveAccount({}).problem).toContain("relayUrl");
    expect(listAccountIds({})).toEqual([]);
    expect(resolveAccount({ channels: { "feishu-relay": { relayUrl: "ftp://x" } } }).problem).toContain(
      "ws://",
    );
    expect(
      resolveAccount({ channels: { "feishu-relay": { relayUrl: "ws://x/openclaw" } } }).problem,
    ).toContain("token");
    expect(resolveAccount({ channels: { "feishu-relay": { enabled: false } } }).enabled).toBe(false);
  });

  test("maps http(s) to ws(s) and drops a pasted token", () => {
    expect(normalizeRelayUrl("https://r.example/openclaw?token=abc&x=1")).toBe(
      "wss://r.example/openclaw?x=1",
    );
    expect(normalizeRelayUrl("http://127.0.0.1:5178/openclaw")).toBe("ws://127.0.0.1:5178/openclaw");
    expect(normalizeRelayUrl("not a url")).toBeUndefined();
  });
});

describe("status snapshot", () => {
  test("the gateway's runtime state plus the account, without the token (older hosts show only this)", async () => {
    const cfg = {
      channels: { "feishu-relay": { relayUrl: "wss://r.example/openclaw", token: "secret-tok" } },
    };
    const snapshot = await createFeishuRelayPlugin().status!.buildAccountSnapshot!({
      account: resolveAccount(cfg),
      cfg: cfg as never,
      runtime: { accountId: "default", running: true, connected: true, lastError: null, lastInboundAt: 5 },
    });
    expect(snapshot).toMatchObject({
      accountId: "default",
      running: true,
      connected: true,
      lastError: null,
      lastInboundAt: 5,
      configured: true,
      tokenStatus: "configured",
    });
    expect(JSON.stringify(snapshot)).not.toContain("secret-tok");
  });
});

describe("reply text", () => {
  test("payload media URLs: mediaUrl then mediaUrls, trimmed and deduplicated (sent by payload-send.ts)", () => {
    expect(
      payloadUrls({ mediaUrl: "https://x/a.png", mediaUrls: ["https://x/a.png", " /tmp/b.png ", 3, ""] }),
    ).toEqual(["https://x/a.png", "/tmp/b.png"]);
    expect(payloadUrls(undefined)).toEqual([]);
  });

  test("splits long text at line breaks, each frame within the relay's cap", () => {
    const line = `${"字".repeat(99)}\n`;
    const text = line.repeat(300);
    const pieces = splitText(text);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join("\n")).toBe(text);
    for (const p of pieces) {
      expect(Buffer.byteLength(JSON.stringify({ type: "send", id: "x", text: p }))).toBeLessThan(64 * 1024);
    }
  });

  test("never splits a surrogate pair", () => {
    const pieces = splitText("😀".repeat(10), 8);
    expect(pieces.join("")).toBe("😀".repeat(10));
    for (const p of pieces) expect(p.length % 2).toBe(0);
  });

  test("stable uuids fit 50 characters", () => {
    expect(stableUuid("om_dc13264520392913993dd051dba21dcf", 0, 0)).toBe(
      "om_dc13264520392913993dd051dba21dcf:0:0",
    );
    const long = stableUuid("q", "x".repeat(80), 1, 2);
    expect(long.length).toBeLessThanOrEqual(50);
    expect(long).toBe(stableUuid("q", "x".repeat(80), 1, 2));
    expect(long).not.toBe(stableUuid("q", "x".repeat(80), 1, 3));
  });
});

describe("logging", () => {
  test("redacts secrets and token query values; shows URLs without the query", () => {
    expect(redact("wss://r/openclaw?token=abc.def&x=1")).toBe("wss://r/openclaw?token=***&x=1");
    expect(redact("bad abc.def here", ["abc.def"])).toBe("bad *** here");
    expect(displayUrl("wss://r.example:443/openclaw?token=abc")).toBe("wss://r.example/openclaw");
    const lines: string[] = [];
    const log = eventLog({ info: (m) => lines.push(m), warn: () => {}, error: () => {} }, ["s3cret"]);
    log.info("evt", { a: "has space", b: 1, c: "s3cret" });
    expect(lines).toEqual(['feishu-relay: evt a="has space" b=1 c=***']);
  });
});
