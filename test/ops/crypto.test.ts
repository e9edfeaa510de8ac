import { describe, expect, test } from "bun:test";
import * as node from "node:crypto";
import { nodeCrypto, randomBytes, randomToken, sha256, sha256Text } from "../../src/ops/crypto.ts";

describe("crypto without node:crypto at start-up", () => {
  test("sha256 agrees with node:crypto for text (UTF-8) and bytes, in every encoding used", () => {
    for (const input of ["", "abc", "飞书 Feishu ✓", Buffer.from([0, 255, 7])]) {
      const expected = node.createHash("sha256").update(input).digest();
      expect(sha256(input).equals(expected)).toBe(true);
      expect(Buffer.isBuffer(sha256(input))).toBe(true);
      for (const enc of ["hex", "base64", "base64url"] as const)
        expect(sha256Text(input, enc)).toBe(expected.toString(enc));
    }
  });

  test("randomBytes gives a Buffer of the length asked, different each time", () => {
    const a = randomBytes(18);
    expect(Buffer.isBuffer(a)).toBe(true);
    expect(a.length).toBe(18);
    expect(a.equals(randomBytes(18))).toBe(false);
    expect(randomBytes(0).length).toBe(0);
  });

  test("randomToken is n random bytes in base64url", () => {
    const t = randomToken(48);
    expect(t).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(Buffer.from(t, "base64url").length).toBe(48);
    expect(randomToken(48)).not.toBe(t);
  });

  test("nodeCrypto is node:crypto itself", () => {
    expect(nodeCrypto().createCipheriv).toBe(node.createCipheriv);
    expect(nodeCrypto().hkdfSync).toBe(node.hkdfSync);
  });
});
