/**
 * Feishu webhook security (feishu-reference.md §1.3–1.5): AES-256-CBC decryption of `{"encrypt"}`
 * bodies, the `X-Lark-Signature` check with its timestamp window, and the Verification Token check.
 * Pure: no I/O; the caller passes the current time.
 *
 * Hand-written rather than the SDK's EventDispatcher because the SDK hashes a re-serialised body
 * (not the raw bytes) and never checks the verification token.
 */
import { nodeCrypto, sha256 } from "../ops/crypto.ts";
import { secretMatcher } from "../ops/secure-compare.ts";

/** Header names, lower-cased once: `Headers.get` and plain records are both looked up with these. */
export const SIGNATURE_HEADERS = {
  timestamp: "x-lark-request-timestamp",
  nonce: "x-lark-request-nonce",
  signature: "x-lark-signature",
} as const;

export type WebhookErrorCode = "bad_signature" | "stale_timestamp" | "undecryptable" | "bad_token";

/**
 * How old `X-Lark-Request-Timestamp` may be. Feishu documents no window (feishu-reference.md §1.3) and
 * re-pushes an unanswered event for about 7.1 h (§1.6), possibly with its first timestamp, so a window
 * shorter than that could refuse a genuine late re-push. 7.5 h covers it and ends before the 8 h
 * dedupe window (DEDUPE_WINDOW_MS): every push inside the window is still caught by dedupe, every one
 * older is refused, so signed bytes can never be replayed after their dedupe rows are pruned.
 */
export const TIMESTAMP_WINDOW_SEC = 7.5 * 3600;
/**
 * How far ahead of our clock a timestamp may be (clock skew only: nobody without the Encrypt Key can
 * sign one). Age window + this stay within the 8 h dedupe window, which the replay argument needs.
 */
export const TIMESTAMP_AHEAD_SEC = 15 * 60;

/** Why a push was refused; `status` is what the webhook answers. */
export class FeishuWebhookError extends Error {
  readonly status: number;
  constructor(
    readonly code: WebhookErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "FeishuWebhookError";
    this.status = code === "undecryptable" ? 400 : 401;
  }
}

type HeaderSource = Headers | Record<string, string | undefined>;

const AES_BLOCK = 16;
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });
const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface FeishuVerifierOptions {
  encryptKey?: string;
  verificationToken?: string;
}

/**
 * One verifier per app configuration. Signed pushes must carry a timestamp within
 * TIMESTAMP_WINDOW_SEC of now: dedupe stops replays only while its rows are kept.
 */
export class FeishuWebhookVerifier {
  readonly #encryptKey: string | undefined;
  readonly #aesKey: Buffer | undefined;
  readonly #tokenMatches: ((given: string) => boolean) | undefined;

  constructor(opts: FeishuVerifierOptions) {
    this.#encryptKey = opts.encryptKey || undefined;
    this.#aesKey = this.#encryptKey ? sha256(this.#encryptKey) : undefined;
    this.#tokenMatches = opts.verificationToken ? secretMatcher(opts.verificationToken) : undefined;
  }

  /** True when an Encrypt Key is configured: bodies must be encrypted and events signed. */
  get encrypted(): boolean {
    return this.#aesKey !== undefined;
  }

  /** base64(iv ‖ ciphertext) → plaintext; throws `undecryptable`. */
  decrypt(encrypt: string): string {
    if (!this.#aesKey) throw new FeishuWebhookError("undecryptable", "no FEISHU_ENCRYPT_KEY is configured");
    return decryptFeishu(encrypt, this.#aesKey);
  }

  /**
   * Checks `X-Lark-Signature` = hex sha256(timestamp + nonce + encryptKey + raw body). `rawBody` must be
   * the body exactly as received. Throws `bad_signature` when a header is missing or the hash differs,
   * then `stale_timestamp` when the signed timestamp (unix seconds) is outside the window around `nowMs`.
   */
  verifySignature(rawBody: string, headers: HeaderSource, nowMs: number): void {
    if (!this.#encryptKey) return;
    const get = headerReader(headers);
    const timestamp = get(SIGNATURE_HEADERS.timestamp);
    const nonce = get(SIGNATURE_HEADERS.nonce);
    const given = get(SIGNATURE_HEADERS.signature)?.toLowerCase();
    if (timestamp === undefined || nonce === undefined || given === undefined) {
      throw new FeishuWebhookError(
        "bad_signature",
        "missing X-Lark-Request-Timestamp, -Nonce or X-Lark-Signature",
      );
    }
    const expected = signature(timestamp, nonce, this.#encryptKey, rawBody);
    if (!SHA256_HEX.test(given) || !crypto.timingSafeEqual(Buffer.from(given), Buffer.from(expected))) {
      throw new FeishuWebhookError("bad_signature", "X-Lark-Signature does not match the body");
    }
    // Checked after the signature, so only a genuine (signed) timestamp is ever judged stale.
    if (!isFresh(timestamp, nowMs)) {
      throw new FeishuWebhookError(
        "stale_timestamp",
        `X-Lark-Request-Timestamp is older than ${TIMESTAMP_WINDOW_SEC} s or more than ${TIMESTAMP_AHEAD_SEC} s ahead of the relay's clock`,
      );
    }
  }

  /** `header.token` (v2) or `token` (v1, challenge) against the Verification Token, when one is set. */
  checkToken(token: unknown): void {
    if (this.#tokenMatches === undefined) return;
    if (typeof token !== "string" || !this.#tokenMatches(token)) {
      throw new FeishuWebhookError("bad_token", "verification token does not match");
    }
  }
}

/**
 * True when `timestamp` is unix seconds (digits only), at most TIMESTAMP_WINDOW_SEC old and at most
 * TIMESTAMP_AHEAD_SEC in the future of `nowMs`.
 */
export function isFresh(timestamp: string, nowMs: number): boolean {
  if (!/^\d{1,12}$/.test(timestamp)) return false;
  const age = nowMs / 1000 - Number(timestamp);
  return age <= TIMESTAMP_WINDOW_SEC && age >= -TIMESTAMP_AHEAD_SEC;
}

/** Lowercase hex SHA-256 over utf8(timestamp + nonce + encryptKey) followed by the raw body. */
export function signature(timestamp: string, nonce: string, encryptKey: string, rawBody: string): string {
  return new Bun.CryptoHasher("sha256")
    .update(timestamp + nonce + encryptKey)
    .update(rawBody)
    .digest("hex");
}

/** Decrypts with key = SHA-256(encrypt key) (or that digest), IV = the first 16 bytes, PKCS#7 padding. */
export function decryptFeishu(encrypt: string, key: string | Buffer): string {
  const aesKey = typeof key === "string" ? sha256(key) : key;
  const bytes = Buffer.from(encrypt, "base64");
  // Base64 decoding is lenient: a body that is not base64 at all usually fails the size checks here.
  if (bytes.length < 2 * AES_BLOCK || bytes.length % AES_BLOCK !== 0) {
    throw new FeishuWebhookError("undecryptable", "encrypt is not base64 of IV and AES blocks");
  }
  try {
    const decipher = nodeCrypto().createDecipheriv("aes-256-cbc", aesKey, bytes.subarray(0, AES_BLOCK));
    // CBC is not authenticated: under a wrong key the padding still checks out about once in 256
    // bodies. Its plaintext is then random bytes, which strict UTF-8 decoding refuses.
    return STRICT_UTF8.decode(Buffer.concat([decipher.update(bytes.subarray(AES_BLOCK)), decipher.final()]));
  } catch {
    throw new FeishuWebhookError("undecryptable", "encrypt does not decrypt with the configured key");
  }
}

/** `Headers` are case-insensitive already; a plain record is lower-cased once here. */
function headerReader(headers: HeaderSource): (name: string) => string | undefined {
  if (headers instanceof Headers) return (name) => headers.get(name) ?? undefined;
  const lower: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
  return (name) => lower[name];
}
