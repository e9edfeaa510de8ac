/**
 * Hashes, random bytes and node:crypto's ciphers, without loading node:crypto at start-up.
 *
 * node:crypto's Hash and Cipher are streams: importing it loads Node's stream modules, ~4 MB of RSS
 * and a few ms of every start (bench/startup.ts), for ciphers an idle relay never runs. Bun's native
 * hasher and Web Crypto's random source cover everything per request; the ciphers (token sealing,
 * Feishu's encrypted events) load node:crypto on first use.
 */
import type * as NodeCrypto from "node:crypto";

type Bytes = string | NodeJS.TypedArray | ArrayBuffer;

/** SHA-256 of `data` (strings as UTF-8). */
export function sha256(data: Bytes): Buffer {
  return Bun.CryptoHasher.hash("sha256", data) as Buffer;
}

/** SHA-256 of `data` (strings as UTF-8), encoded. */
export function sha256Text(data: Bytes, encoding: "hex" | "base64" | "base64url"): string {
  return Bun.CryptoHasher.hash("sha256", data, encoding);
}

/** `n` bytes from the system's CSPRNG. */
export function randomBytes(n: number): Buffer {
  return crypto.getRandomValues(Buffer.alloc(n));
}

/** `n` random bytes as base64url: session ids, OAuth state, generated secrets, file ids. */
export function randomToken(n: number): string {
  return randomBytes(n).toString("base64url");
}

/** node:crypto itself, loaded the first time a caller needs a cipher or HKDF. */
export function nodeCrypto(): typeof NodeCrypto {
  return process.getBuiltinModule("node:crypto");
}
