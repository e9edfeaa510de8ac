import { sha256 } from "./crypto.ts";

/** Constant-time string equality; hashing first hides the length of the expected value too. */
export function secureEqual(given: string, expected: string): boolean {
  return secretMatcher(expected)(given);
}

/**
 * `secureEqual` against one fixed secret, its hash taken once: a check per request (the webhook's
 * verification token) then costs one hash, not two.
 */
export function secretMatcher(expected: string): (given: string) => boolean {
  const b = sha256(expected);
  return (given) => crypto.timingSafeEqual(sha256(given), b);
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
