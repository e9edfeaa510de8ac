/**
 * Which users are revoked: every token revoked and none issued since. Tokens themselves are not
 * stored (tokens.ts), so the revocation leaves a mark in `kv` that the next issued token clears; the
 * CLI and admin views read it to tell "revoked" from "offline".
 */
import { KvStore } from "../db/kv.ts";
import type { Db } from "../db/open.ts";

const key = (userId: number) => `user_revoked:${userId}`;

export class Revocations {
  readonly #kv: KvStore;

  constructor(
    db: Db,
    private readonly now: () => number = Date.now,
  ) {
    this.#kv = new KvStore(db, now);
  }

  mark(userId: number): void {
    this.#kv.set(key(userId), new Date(this.now()).toISOString());
  }

  /** Read first: issuing is frequent (sign-in, refresh), a revoked user rare; no write when unmarked. */
  clear(userId: number): void {
    if (this.#kv.get(key(userId)) !== undefined) this.#kv.delete(key(userId));
  }

  /** ISO 8601 time of the revocation, or undefined when the user has a token issued after it. */
  revokedAt(userId: number): string | undefined {
    return this.#kv.get(key(userId));
  }
}
