/**
 * Which users are revoked: every token revoked and none issued since. Tokens themselves are not
 * stored (tokens.ts), so the revocation leaves a mark in `kv` that the next issued token clears; the
 * CLI and admin views read it to tell "revoked" from "offline".
 */
import type { Kv } from "../db/kv.ts";

const key = (userId: number) => `user_revoked:${userId}`;

export class Revocations {
  constructor(
    private readonly kv: Kv,
    private readonly now: () => number = Date.now,
  ) {}

  async mark(userId: number): Promise<void> {
    await this.kv.set(key(userId), new Date(this.now()).toISOString());
  }

  /** Read first: issuing is frequent (sign-in, refresh), a revoked user rare; no write when unmarked. */
  async clear(userId: number): Promise<void> {
    if ((await this.kv.get(key(userId))) !== undefined) await this.kv.delete(key(userId));
  }

  /** ISO 8601 time of the revocation, or undefined when the user has a token issued after it. */
  revokedAt(userId: number): Promise<string | undefined> {
    return this.kv.get(key(userId));
  }
}
