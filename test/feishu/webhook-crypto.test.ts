import { describe, expect, test } from "bun:test";
import { createDecipheriv, createHash, randomBytes } from "node:crypto";
import {
  decryptFeishu,
  FeishuWebhookError,
  FeishuWebhookVerifier,
  isFresh,
  signature,
  TIMESTAMP_AHEAD_SEC,
  TIMESTAMP_WINDOW_SEC,
} from "../../src/feishu/webhook-crypto.ts";
import { DEDUPE_WINDOW_MS } from "../../src/relay/inbox.ts";
import { encryptFeishu, signFeishu } from "../fakes/feishu.ts";

const KEY = "test key";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof FeishuWebhookError) return err.code;
    throw err;
  }
  return undefined;
}

describe("decryption", () => {
  test("decrypts the official test vector", () => {
    expect(decryptFeishu("P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=", KEY)).toBe("hello world");
  });

  test("round-trips what the fake platform encrypts, including multi-block UTF-8", () => {
    const plain = JSON.stringify({ text: "你好 ".repeat(50) });
    const verifier = new FeishuWebhookVerifier({ encryptKey: "k" });
    expect(verifier.decrypt(encryptFeishu(plain, "k"))).toBe(plain);
  });

  test("refuses garbage, truncated input and the wrong key as undecryptable", () => {
    const verifier = new FeishuWebhookVerifier({ encryptKey: KEY });
    const good = encryptFeishu("hello world", KEY);
    expect(codeOf(() => verifier.decrypt("not base64 at all!"))).toBe("undecryptable");
    expect(codeOf(() => verifier.decrypt(good.slice(0, 20)))).toBe("undecryptable");
    expect(codeOf(() => verifier.decrypt(""))).toBe("undecryptable");
    expect(codeOf(() => decryptFeishu(good, "other key"))).toBe("undecryptable");
    expect(codeOf(() => new FeishuWebhookVerifier({}).decrypt(good))).toBe("undecryptable");
  });

  test("a wrong key whose padding happens to check out (about one body in 256) is still undecryptable", () => {
    // One block whose plaintext under the wrong key ends in a valid PKCS#7 byte (0x01) and starts with
    // a byte UTF-8 never uses: what a random IV gives now and then, built here on purpose.
    const wrongKey = createHash("sha256").update("other key").digest();
    const block = randomBytes(16);
    const ecb = createDecipheriv("aes-256-ecb", wrongKey, null).setAutoPadding(false);
    const raw = Buffer.concat([ecb.update(block), ecb.final()]);
    const wanted = Buffer.concat([Buffer.from([0xff]), randomBytes(14), Buffer.from([0x01])]);
    const iv = Buffer.from(raw.map((b, i) => b ^ wanted[i]!));
    const body = Buffer.concat([iv, block]).toString("base64");
    const cbc = createDecipheriv("aes-256-cbc", wrongKey, iv);
    expect(Buffer.concat([cbc.update(block), cbc.final()])).toHaveLength(15);
    expect(codeOf(() => decryptFeishu(body, "other key"))).toBe("undecryptable");
  });
});

describe("signature", () => {
  const raw = '{"encrypt":"abc"}';
  /** The signed time, in ms: the relay's clock agrees with the platform's. */
  const NOW = 1752346850_000;
  const headers = (sig: string) => ({
    "X-Lark-Request-Timestamp": "1752346850",
    "X-Lark-Request-Nonce": "950646929",
    "X-Lark-Signature": sig,
  });

  test("matches the platform's formula over the raw body", () => {
    expect(signature("1", "2", KEY, raw)).toBe(signFeishu("1", "2", KEY, raw));
    const verifier = new FeishuWebhookVerifier({ encryptKey: KEY });
    const sig = signFeishu("1752346850", "950646929", KEY, raw);
    expect(codeOf(() => verifier.verifySignature(raw, headers(sig), NOW))).toBeUndefined();
    expect(
      codeOf(() => verifier.verifySignature(raw, new Headers(headers(sig.toUpperCase())), NOW)),
    ).toBeUndefined();
  });

  test("a re-serialised body, a changed byte or a missing header is a bad signature", () => {
    const verifier = new FeishuWebhookVerifier({ encryptKey: KEY });
    const sig = signFeishu("1752346850", "950646929", KEY, raw);
    expect(codeOf(() => verifier.verifySignature('{ "encrypt": "abc" }', headers(sig), NOW))).toBe(
      "bad_signature",
    );
    const flipped = sig.slice(0, -1) + (sig.endsWith("0") ? "1" : "0");
    expect(codeOf(() => verifier.verifySignature(raw, headers(flipped), NOW))).toBe("bad_signature");
    expect(codeOf(() => verifier.verifySignature(raw, headers("short"), NOW))).toBe("bad_signature");
    const { "X-Lark-Request-Nonce": _, ...noNonce } = headers(sig);
    expect(codeOf(() => verifier.verifySignature(raw, noNonce, NOW))).toBe("bad_signature");
  });

  test("the window covers Feishu's 7.1 h of re-pushes and ends inside the dedupe window", () => {
    // Older than the window: refused; inside it: a replay still meets its dedupe row (kept 8 h).
    expect(TIMESTAMP_WINDOW_SEC).toBeGreaterThan(7.1 * 3600);
    expect((TIMESTAMP_WINDOW_SEC + TIMESTAMP_AHEAD_SEC) * 1000).toBeLessThan(DEDUPE_WINDOW_MS);
  });

  test("a signed timestamp older than the window, or ahead of the clock by more than the skew, is stale", () => {
    const verifier = new FeishuWebhookVerifier({ encryptKey: KEY });
    const at = (seconds: number) => {
      const ts = String(seconds);
      const sig = signFeishu(ts, "950646929", KEY, raw);
      return { ...headers(sig), "X-Lark-Request-Timestamp": ts };
    };
    const nowSec = NOW / 1000;
    expect(
      codeOf(() => verifier.verifySignature(raw, at(nowSec - TIMESTAMP_WINDOW_SEC), NOW)),
    ).toBeUndefined();
    expect(
      codeOf(() => verifier.verifySignature(raw, at(nowSec + TIMESTAMP_AHEAD_SEC), NOW)),
    ).toBeUndefined();
    expect(codeOf(() => verifier.verifySignature(raw, at(nowSec - TIMESTAMP_WINDOW_SEC - 1), NOW))).toBe(
      "stale_timestamp",
    );
    expect(codeOf(() => verifier.verifySignature(raw, at(nowSec + TIMESTAMP_AHEAD_SEC + 1), NOW))).toBe(
      "stale_timestamp",
    );
    // Milliseconds instead of seconds, or not a number at all: never fresh.
    expect(isFresh(String(NOW), NOW)).toBe(false);
    expect(isFresh("1752346850.5", NOW)).toBe(false);
    expect(isFresh("", NOW)).toBe(false);
    const err = new FeishuWebhookError("stale_timestamp", "x");
    expect(err.status).toBe(401);
  });

  test("nothing to verify without an Encrypt Key", () => {
    expect(codeOf(() => new FeishuWebhookVerifier({}).verifySignature(raw, {}, NOW))).toBeUndefined();
  });
});

describe("verification token", () => {
  test("must match when configured; anything goes when not", () => {
    const verifier = new FeishuWebhookVerifier({ verificationToken: "vt" });
    expect(codeOf(() => verifier.checkToken("vt"))).toBeUndefined();
    expect(codeOf(() => verifier.checkToken("vx"))).toBe("bad_token");
    expect(codeOf(() => verifier.checkToken(undefined))).toBe("bad_token");
    expect(codeOf(() => new FeishuWebhookVerifier({}).checkToken(undefined))).toBeUndefined();
  });

  test("errors carry the status the webhook answers", () => {
    expect(new FeishuWebhookError("undecryptable", "x").status).toBe(400);
    expect(new FeishuWebhookError("bad_signature", "x").status).toBe(401);
    expect(new FeishuWebhookError("bad_token", "x").status).toBe(401);
  });
});
