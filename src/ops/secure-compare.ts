import { createHash, timingSafeEqual } from "node:crypto";

/** Constant-time string equality; hashing first hides the length of the expected value too. */
export function secureEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token from an `Authorization: Bearer <token>` value, or undefined. */
export function bearerFromHeader(value: string | null | undefined): string | undefined {
  const m = value ? /^Bearer\s+(\S+)\s*$/i.exec(value) : null;
  return m?.[1];
}

/** The token from `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(headers: Headers): string | undefined {
  return bearerFromHeader(headers.get("authorization"));
}
