/**
 * Encryption at rest for Feishu user OAuth tokens (DESIGN §5): AES-256-GCM with a random 96-bit IV,
 * key derived by HKDF-SHA256 from JWT_SECRET under a fixed label, so the database alone never reveals
 * them. Changing JWT_SECRET makes old ciphertexts unreadable (users sign in again), by design.
 */
import { nodeCrypto, randomBytes } from "../ops/crypto.ts";

const VERSION = "v1";
/** HKDF info: a different label yields an unrelated key, so this key is used for nothing else. */
const INFO = "openclaw-relay/feishu-user-tokens/v1";
const SALT = "openclaw-relay";
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** What we keep of a Feishu token exchange (times are Unix milliseconds). */
export interface FeishuUserTokens {
  accessToken: string;
  expiresAt: number;
  refreshToken?: string;
  refreshExpiresAt?: number;
  scope?: string;
}

export class TokenCipher {
  readonly #secret: string;
  #derived: Buffer | undefined;

  constructor(secret: string) {
    this.#secret = secret;
  }

  /** Derived on first use: HKDF needs node:crypto, which an idle relay does not load (ops/crypto.ts). */
  get #key(): Buffer {
    this.#derived ??= Buffer.from(nodeCrypto().hkdfSync("sha256", this.#secret, SALT, INFO, 32));
    return this.#derived;
  }

  /**
   * `v1.<iv>.<ciphertext+tag>` in base64url. `context` (the user id) is authenticated but not stored:
   * a ciphertext copied to another user's row fails to decrypt.
   */
  encrypt(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = nodeCrypto().createCipheriv("aes-256-gcm", this.#key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}.${iv.toString("base64url")}.${body.toString("base64url")}`;
  }

  /** The plaintext, or null when the value is malformed, tampered with, or from another key/context. */
  decrypt(sealed: string, context: string): string | null {
    const [version, ivText, bodyText] = sealed.split(".");
    if (version !== VERSION || !ivText || !bodyText) return null;
    const iv = Buffer.from(ivText, "base64url");
    const body = Buffer.from(bodyText, "base64url");
    if (iv.length !== IV_BYTES || body.length < TAG_BYTES) return null;
    try {
      const decipher = nodeCrypto().createDecipheriv("aes-256-gcm", this.#key, iv);
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      return Buffer.concat([
        decipher.update(body.subarray(0, body.length - TAG_BYTES)),
        decipher.final(),
      ]).toString("utf8");
    } catch {
      return null;
    }
  }

  sealTokens(tokens: FeishuUserTokens, userId: number): string {
    return this.encrypt(JSON.stringify(tokens), `user:${userId}`);
  }

  openTokens(sealed: string, userId: number): FeishuUserTokens | null {
    const text = this.decrypt(sealed, `user:${userId}`);
    return text === null ? null : (JSON.parse(text) as FeishuUserTokens);
  }
}
