/**
 * The app's tenant_access_token (feishu-reference.md §4.1, DESIGN §6): memory → database → fetch.
 *
 * - Feishu tokens live 2 h; asking again with under 30 min left yields a new one while the old one
 *   stays valid. We refresh once fewer than REFRESH_AHEAD_MS (5 min) remain: in the background while
 *   the current token is still usable, so no caller waits for it; callers wait only when the token
 *   has (nearly) expired. Any threshold under 30 min gets a fresh token from the platform.
 * - One fetch at a time: concurrent callers share the promise in flight.
 * - The token and its expiry are kept in `kv`, so a restart reuses it instead of fetching.
 * - In a cluster (`lock`, a PostgreSQL advisory lock) the token is fetched once for every node:
 *   "read kv → fetch only if still stale → write kv" runs under the lock, so nodes needing a token
 *   at the same moment make one Feishu call and the others read the stored token after it.
 * - A refused app id/secret is permanent until the operator fixes it: logged once as
 *   `feishu_auth_failed`, `health()` says "failing", callers get a non-retryable error, and the
 *   endpoint is asked again at most every AUTH_RETRY_MS instead of on every call.
 */
import { ADVISORY_LOCKS, withAdvisoryLock } from "../db/pg-locks.ts";
import type { PgDb } from "../db/postgres.ts";
import type { Logger } from "../ops/logger.ts";
import { LATENCY_BUCKETS, type Registry } from "../ops/metrics.ts";
import { FeishuApiError, isAuthFailureCode } from "./api-error.ts";
import { answerError, callJson } from "./http.ts";

export const TOKEN_KV_KEY = "feishu.tenant_token";
export const TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal";
/** Refresh when less than this is left (must stay under Feishu's 30 min "new token" threshold). */
export const REFRESH_AHEAD_MS = 5 * 60_000;
/** Below this the cached token is not handed out any more: callers wait for the new one. */
export const MIN_USABLE_MS = 30_000;
/** After a refused secret, ask again at most this often. */
export const AUTH_RETRY_MS = 60_000;
/** Background refreshes at most this often, should the platform keep answering an old token. */
const MIN_REFRESH_INTERVAL_MS = 30_000;
/** After a transient failure (5xx, network), callers fail fast for 1 s, 2 s, … up to 15 s. */
const TRANSIENT_BACKOFF_MS = 1000;
const TRANSIENT_BACKOFF_MAX_MS = 15_000;
const FETCH_TIMEOUT_MS = 10_000;
const API = "auth.tenant_access_token";

/** The part of `KvStore` the manager needs. */
export interface TokenKv {
  getEntry(key: string): Promise<{ value: string; expiresAt: number | null } | undefined>;
  set(key: string, value: string, expiresAt: number | null): Promise<void>;
  delete(key: string): Promise<void>;
}

/** Runs `fn` while holding a lock shared by every node of the cluster. */
export type ClusterLock = <T>(fn: () => Promise<T>) => Promise<T>;

/** The cluster's lock for token refreshes: a PostgreSQL advisory lock (ADVISORY_LOCKS.tenantToken). */
export function tenantTokenLock(db: PgDb): ClusterLock {
  return (fn) => withAdvisoryLock(db, ADVISORY_LOCKS.tenantToken, fn);
}

export interface TenantTokenOptions {
  appId: string;
  appSecret: string;
  /** Open API base (`feishuHosts(FEISHU_DOMAIN).open`). */
  baseUrl: string;
  fetch: typeof fetch;
  log: Logger;
  metrics: Registry;
  kv?: TokenKv;
  /** Cluster mode: serializes refreshes across nodes (needs `kv`, through which the token is shared). */
  lock?: ClusterLock;
  now?: () => number;
  timeoutMs?: number;
}

/** What the REST client needs of a token source. */
export interface TokenSource {
  get(): Promise<string>;
  invalidate(token: string): void;
}

interface Cached {
  token: string;
  expiresAt: number;
}

interface Stored extends Cached {
  appId: string;
  base: string;
}

export class TenantTokenManager implements TokenSource {
  readonly #o: TenantTokenOptions;
  readonly #now: () => number;
  readonly #fetches;
  readonly #duration;
  #cached: Cached | undefined;
  #inFlight: Promise<Cached> | undefined;
  #lastFetchAt = Number.NEGATIVE_INFINITY;
  #authFailure: { error: FeishuApiError; at: number } | undefined;
  #transient: { error: FeishuApiError; until: number; failures: number } | undefined;

  constructor(opts: TenantTokenOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#fetches = opts.metrics.counter("feishu_token_fetches_total", "Tenant token fetches by outcome.");
    this.#duration = opts.metrics.histogram(
      "feishu_request_duration_seconds",
      "Feishu API call duration by API.",
      LATENCY_BUCKETS,
    );
  }

  /** A token valid for at least MIN_USABLE_MS; fetches (once, shared) when needed. */
  async get(): Promise<string> {
    const now = this.#now();
    const cached = this.#cached ?? (await this.#load());
    this.#cached = cached;
    if (cached && cached.expiresAt - now > REFRESH_AHEAD_MS) return cached.token;
    if (cached && cached.expiresAt - now > MIN_USABLE_MS) {
      if (now - this.#lastFetchAt >= MIN_REFRESH_INTERVAL_MS && !this.#blockedError(now)) {
        // Failures are logged inside; the current token keeps working meanwhile.
        this.#refresh().catch(() => {});
      }
      return cached.token;
    }
    return (await this.#refresh()).token;
  }

  /** Drops `token` (memory and database) if it is still the current one; a newer token is kept. */
  invalidate(token: string): Promise<void> {
    if (this.#cached?.token !== token) return Promise.resolve();
    this.#cached = undefined;
    return this.#read()
      .then(async (stored) => {
        if (stored?.token === token) await this.#o.kv?.delete(TOKEN_KV_KEY);
      })
      .catch((err: Error) => this.#o.log.warn("feishu_token_store_failed", { err }));
  }

  /** "failing" while the credentials are refused, or no usable token can be had right now. */
  health(): "ok" | "failing" {
    if (this.#authFailure) return "failing";
    if (this.#transient && !(this.#cached && this.#cached.expiresAt - this.#now() > MIN_USABLE_MS)) {
      return "failing";
    }
    return "ok";
  }

  /** The shared fetch in flight, or a fast failure while backing off. */
  #refresh(): Promise<Cached> {
    if (this.#inFlight) return this.#inFlight;
    const blocked = this.#blockedError(this.#now());
    if (blocked) return Promise.reject(blocked);
    const p = (
      this.#o.lock && this.#o.kv ? this.#o.lock(() => this.#fetchOnce()) : this.#fetchAndSave()
    ).finally(() => {
      this.#inFlight = undefined;
    });
    this.#inFlight = p;
    return p;
  }

  #blockedError(now: number): FeishuApiError | undefined {
    if (this.#authFailure && now - this.#authFailure.at < AUTH_RETRY_MS) return this.#authFailure.error;
    if (this.#transient && now < this.#transient.until) return this.#transient.error;
    return undefined;
  }

  /** One process: the fresh token is written to kv in the background (memory serves meanwhile). */
  async #fetchAndSave(): Promise<Cached> {
    const fresh = await this.#fetch();
    this.#save(fresh).catch((err: Error) => this.#o.log.warn("feishu_token_store_failed", { err }));
    return fresh;
  }

  /**
   * Cluster, under the lock: another node may have fetched while this one waited, so kv is read
   * again and Feishu asked only if the stored token still needs a refresh; a fetched token is
   * written before the lock is let go, so the next node in line reads it.
   */
  async #fetchOnce(): Promise<Cached> {
    const stored = await this.#load();
    if (stored && stored.expiresAt - this.#now() > REFRESH_AHEAD_MS) {
      this.#cached = stored;
      this.#transient = undefined;
      return stored;
    }
    const fresh = await this.#fetch();
    try {
      await this.#save(fresh);
    } catch (err) {
      // This node still has it in memory; the others fetch their own.
      this.#o.log.warn("feishu_token_store_failed", { err: err as Error });
    }
    return fresh;
  }

  async #fetch(): Promise<Cached> {
    const started = this.#now();
    this.#lastFetchAt = started;
    let answer: Awaited<ReturnType<typeof callJson>>;
    try {
      answer = await callJson(this.#o.fetch, {
        method: "POST",
        url: this.#o.baseUrl + TOKEN_PATH,
        body: { app_id: this.#o.appId, app_secret: this.#o.appSecret },
        timeoutMs: this.#o.timeoutMs ?? FETCH_TIMEOUT_MS,
        api: API,
      });
    } catch (err) {
      const e = err as FeishuApiError;
      throw e.retryable ? this.#transientFailure(e) : this.#authFailed(e);
    } finally {
      this.#duration.observe((this.#now() - started) / 1000, { api: API });
    }
    const { body } = answer;
    const token = body.tenant_access_token;
    const expire = body.expire;
    if (answer.code === 0 && typeof token === "string" && token && typeof expire === "number") {
      return this.#succeeded({ token, expiresAt: started + expire * 1000 });
    }
    const error = answerError(answer, API);
    if (answer.code === 0) {
      const msg = "token missing from the answer";
      throw this.#transientFailure(
        new FeishuApiError({
          kind: "http",
          code: "feishu_bad_response",
          msg,
          status: answer.status,
          retryable: true,
          api: API,
        }),
      );
    }
    const refused = isAuthFailureCode(answer.code ?? -1) || (answer.status < 500 && !error.retryable);
    throw refused ? this.#authFailed(error) : this.#transientFailure(error);
  }

  #succeeded(fresh: Cached): Cached {
    if (this.#authFailure) this.#o.log.info("feishu_auth_recovered", { appId: this.#o.appId });
    this.#authFailure = undefined;
    this.#transient = undefined;
    this.#cached = fresh;
    this.#fetches.inc({ outcome: "ok" });
    this.#o.log.debug("feishu_token_fetched", {
      expiresInSec: Math.round((fresh.expiresAt - this.#now()) / 1000),
    });
    return fresh;
  }

  #authFailed(cause: FeishuApiError): FeishuApiError {
    const error = new FeishuApiError({
      kind: "auth",
      code: cause.code,
      msg: `the Feishu app credentials were refused (${cause.msg}); check FEISHU_APP_ID and FEISHU_APP_SECRET`,
      status: cause.status,
      logId: cause.logId,
      retryable: false,
      api: API,
    });
    // Once per failing period: a wrong secret must not flood the log on every send.
    if (!this.#authFailure) {
      this.#o.log.error("feishu_auth_failed", {
        appId: this.#o.appId,
        code: cause.code,
        status: cause.status,
        logId: cause.logId,
        retryInSec: AUTH_RETRY_MS / 1000,
      });
    }
    this.#authFailure = { error, at: this.#now() };
    this.#transient = undefined;
    this.#fetches.inc({ outcome: "auth_failed" });
    return error;
  }

  #transientFailure(error: FeishuApiError): FeishuApiError {
    const failures = (this.#transient?.failures ?? 0) + 1;
    const wait = Math.min(TRANSIENT_BACKOFF_MAX_MS, TRANSIENT_BACKOFF_MS * 2 ** (failures - 1));
    this.#transient = { error, until: this.#now() + wait, failures };
    this.#fetches.inc({ outcome: "error" });
    this.#o.log.warn("feishu_token_fetch_failed", { ...error.toLog(), failures, retryInMs: wait });
    return error;
  }

  async #load(): Promise<Cached | undefined> {
    try {
      const stored = await this.#read();
      if (!stored || stored.appId !== this.#o.appId || stored.base !== this.#o.baseUrl) return undefined;
      if (stored.expiresAt - this.#now() <= MIN_USABLE_MS) return undefined;
      return { token: stored.token, expiresAt: stored.expiresAt };
    } catch (err) {
      this.#o.log.warn("feishu_token_store_failed", { err: err as Error });
      return undefined;
    }
  }

  async #read(): Promise<Stored | undefined> {
    const entry = await this.#o.kv?.getEntry(TOKEN_KV_KEY);
    if (!entry) return undefined;
    const v = JSON.parse(entry.value) as Partial<Stored>;
    if (typeof v.token !== "string" || typeof v.expiresAt !== "number") return undefined;
    return v as Stored;
  }

  /** The memory copy still works when this fails; only a restart (or another node) would fetch again. */
  async #save(fresh: Cached): Promise<void> {
    if (!this.#o.kv) return;
    const stored: Stored = { ...fresh, appId: this.#o.appId, base: this.#o.baseUrl };
    await this.#o.kv.set(TOKEN_KV_KEY, JSON.stringify(stored), fresh.expiresAt);
  }
}
