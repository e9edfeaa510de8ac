import { describe, expect, test } from "bun:test";
import { TokenCipher } from "../../src/users/token-crypto.ts";

const SECRET = "s".repeat(48);

describe("TokenCipher", () => {
  test("round-trips Feishu user tokens and never shows them in the ciphertext", () => {
    const cipher = new TokenCipher(SECRET);
    const tokens = { accessToken: "u-secret-access", expiresAt: 1, refreshToken: "ur-secret-refresh" };
    const sealed = cipher.sealTokens(tokens, 7);
    expect(sealed.startsWith("v1.")).toBe(true);
    expect(sealed).not.toContain("u-secret-access");
    expect(cipher.openTokens(sealed, 7)).toEqual(tokens);
    // A fresh random IV every time.
    expect(cipher.sealTokens(tokens, 7)).not.toBe(sealed);
  });

  test("refuses another user's row, another key and tampered bytes", () => {
    const cipher = new TokenCipher(SECRET);
    const sealed = cipher.encrypt("hello", "user:1");
    expect(cipher.decrypt(sealed, "user:1")).toBe("hello");
    expect(cipher.decrypt(sealed, "user:2")).toBeNull();
    expect(new TokenCipher("t".repeat(48)).decrypt(sealed, "user:1")).toBeNull();
    const [v, iv, body] = sealed.split(".");
    const flipped = Buffer.from(body!, "base64url");
    flipped[0] = flipped[0]! ^ 1;
    expect(cipher.decrypt(`${v}.${iv}.${flipped.toString("base64url")}`, "user:1")).toBeNull();
    expect(cipher.decrypt("garbage", "user:1")).toBeNull();
    expect(cipher.decrypt("v1.AAAA.BBBB", "user:1")).toBeNull();
  });
});
