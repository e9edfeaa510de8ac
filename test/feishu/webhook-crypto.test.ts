import { describe, expect, test } from "bun:test";
import {
  decryptFeishu,
  FeishuWebhookError,
  FeishuWebhookVerifier,
  signature,
} from "../../src/feishu/webhook-crypto.ts";
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
});

describe("signature", () => {
  const raw = '{"encrypt":"abc"}';
  const headers = (sig: string) => ({
    "X-Lark-Request-Timestamp": "1752346850",
    "X-Lark-Request-Nonce": "950646929",
    "X-Lark-Signature": sig,
  });

  test("matches the platform's formula over the raw body", () => {
    expect(signature("1", "2", KEY, raw)).toBe(signFeishu("1", "2", KEY, raw));
    const verifier = new FeishuWebhookVerifier({ encryptKey: KEY });
    const sig = signFeishu("1752346850", "950646929", KEY, raw);
    expect(codeOf(() => verifier.verifySignature(raw, headers(sig)))).toBeUndefined();
    expect(
      codeOf(() => verifier.verifySignature(raw, new Headers(headers(sig.toUpperCase())))),
    ).toBeUndefined();
  });

  test("a re-serialised body, a changed byte or a missing header is a bad signature", () => {
    const verifier = new FeishuWebhookVerifier({ encryptKey: KEY });
    const sig = signFeishu("1752346850", "950646929", KEY, raw);
    expect(codeOf(() => verifier.verifySignature('{ "encrypt": "abc" }', headers(sig)))).toBe(
      "bad_signature",
    );
    const flipped = sig.slice(0, -1) + (sig.endsWith("0") ? "1" : "0");
    expect(codeOf(() => verifier.verifySignature(raw, headers(flipped)))).toBe("bad_signature");
    expect(codeOf(() => verifier.verifySignature(raw, headers("short")))).toBe("bad_signature");
    const { "X-Lark-Request-Nonce": _, ...noNonce } = headers(sig);
    expect(codeOf(() => verifier.verifySignature(raw, noNonce))).toBe("bad_signature");
  });

  test("nothing to verify without an Encrypt Key", () => {
    expect(codeOf(() => new FeishuWebhookVerifier({}).verifySignature(raw, {}))).toBeUndefined();
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
