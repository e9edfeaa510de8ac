/**
 * Per-client abuse limits: a sliding window of event times per key (client IP), in memory, with a
 * bounded number of keys so a flood of distinct addresses cannot grow it without limit.
 */
import { HttpError } from "./errors.ts";

/** Keys remembered at most; beyond this the least recently active key is forgotten. */
export const MAX_KEYS = 10_000;

export class RateLimiter {
  /** Per key: times (ms) of the most recent events, oldest first, at most `limit` of them. */
  readonly #hits = new Map<string, number[]>();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys: number = MAX_KEYS,
  ) {}

  /** Seconds until `key` may act again; 0 when it is under the limit. Records nothing. */
  retryAfter(key: string): number {
    const times = this.#live(key);
    if (times.length < this.limit) return 0;
    return Math.max(1, Math.ceil((times[0]! + this.windowMs - this.now()) / 1000));
  }

  /** Records one event for `key` (a failure, or an attempt when every attempt counts). */
  hit(key: string): void {
    const times = this.#live(key);
    times.push(this.now());
    if (times.length > this.limit) times.splice(0, times.length - this.limit);
    // Re-insert so Map order is least-recently-active first: eviction takes the coldest key.
    this.#hits.delete(key);
    if (this.#hits.size >= this.maxKeys) this.#evict();
    this.#hits.set(key, times);
  }

  /** Counts an attempt and answers like `retryAfter` did before it: 0 means go ahead. */
  take(key: string): number {
    const wait = this.retryAfter(key);
    if (wait === 0) this.hit(key);
    return wait;
  }

  /** Throws 429 `rate_limited` with Retry-After when `key` is over the limit. */
  assertAllowed(key: string): void {
    const wait = this.retryAfter(key);
    if (wait > 0) throw rateLimited(wait);
  }

  get size(): number {
    return this.#hits.size;
  }

  #live(key: string): number[] {
    const times = this.#hits.get(key);
    if (!times) return [];
    const cutoff = this.now() - this.windowMs;
    let drop = 0;
    while (drop < times.length && times[drop]! <= cutoff) drop++;
    if (drop) times.splice(0, drop);
    return times;
  }

  /** Map order is least recently active first, so forgetting from the front is O(1) per key. */
  #evict(): void {
    for (const key of this.#hits.keys()) {
      if (this.#hits.size < this.maxKeys) break;
      this.#hits.delete(key);
    }
  }
}

export function rateLimited(retryAfterSec: number): HttpError {
  return new HttpError(429, "rate_limited", "too many attempts; try again later", {
    "retry-after": String(retryAfterSec),
  });
}

/** What we need of a Bun (or Elysia) server: the TCP peer of a request. */
export interface PeerSource {
  requestIP(request: Request): { address: string } | null;
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

/**
 * The client's address for rate limits, the one rule for HTTP and the plugin WebSocket: the TCP peer.
 * `X-Forwarded-For` is used only when that peer is loopback, i.e. a reverse proxy on the same host (the
 * documented deployment), and then its rightmost entry, the one that proxy appended; remote clients
 * cannot spoof it. Without a peer (`app.handle` in tests) every request shares the key "unknown".
 */
export function clientIpOf(peer: string | undefined, xForwardedFor: string | null | undefined): string {
  if (peer && LOOPBACK.test(peer)) {
    const last = xForwardedFor?.split(",").at(-1)?.trim();
    if (last) return last;
  }
  return peer || "unknown";
}

/** `clientIpOf` for a request served by Bun (or Elysia's `server`). */
export function clientIp(request: Request, server?: PeerSource | null): string {
  return clientIpOf(server?.requestIP(request)?.address, request.headers.get("x-forwarded-for"));
}
