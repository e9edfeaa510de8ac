/**
 * The users port: one row per Feishu identity (`open_id`). Adapters: SQLite (user-store-sqlite.ts,
 * statements prepared once) and PostgreSQL (user-store-postgres.ts). Rows stay internal; what leaves
 * the process goes through `publicUser` (one JSON shape everywhere).
 */
import type { Awaitable, Storage } from "../storage/storage.ts";
import { SqliteUserStore } from "./user-store-sqlite.ts";

/** A `users` row as this module reads it (times are Unix milliseconds). */
export interface UserRecord {
  id: number;
  openId: string;
  unionId: string | null;
  userId: string | null;
  name: string;
  avatarUrl: string | null;
  tokenVersion: number;
  llmProvider: string | null;
  createdAt: number;
  updatedAt: number;
  lastSeenAt: number | null;
}

/** The user as every API, page and CLI shows it. `id` is a string, like the JWT `sub`. */
export interface PublicUser {
  id: string;
  openId: string;
  name: string;
  unionId?: string;
  avatarUrl?: string;
}

export interface UserSummary extends PublicUser {
  connected: boolean;
  pending: number;
  /** ISO 8601, or null when the plugin never connected. */
  lastSeenAt: string | null;
}

/** What we learn about a person; absent or empty fields never erase what is already known. */
export interface UserProfile {
  openId: string;
  name?: string;
  unionId?: string;
  userId?: string;
  avatarUrl?: string;
}

/** A user's id and name, what ingest needs for every event. */
export interface Identity {
  id: number;
  name: string;
}

export interface UserStore {
  byId(id: number): Promise<UserRecord | undefined>;
  byOpenId(openId: string): Promise<UserRecord | undefined>;
  /**
   * The user's id and name by open_id, cached (IdentityCache). Awaitable: ingest asks this for every
   * event, and on SQLite a cache hit or a prepared point lookup answers without a promise.
   */
  identity(openId: string): Awaitable<Identity | undefined>;
  /** `42` → by id, anything else (`ou_…`) → by open_id: how the CLI and admins name a user. */
  find(ref: string): Promise<UserRecord | undefined>;
  /**
   * Creates the user or updates what is newly known; returns the row and whether it is new.
   * Race-free across processes: two upserts of one open_id leave one row, exactly one `created`.
   */
  upsert(p: UserProfile): Promise<{ user: UserRecord; created: boolean }>;
  /** Every user with live status; `isConnected` comes from the gateway hub. */
  list(isConnected: (userId: number) => boolean): Promise<UserSummary[]>;
  pendingCount(userId: number): Promise<number>;
  /** Revocation: every token carrying an older `ver` stops working. Undefined for an unknown user. */
  bumpTokenVersion(userId: number): Promise<number | undefined>;
  /** Every user's token version, for the revocation sweep (one scan instead of one query per socket). */
  tokenVersions(): Promise<Array<{ id: number; ver: number }>>;
  setLlmProvider(userId: number, provider: string | null): Promise<boolean>;
  /** Stores the already encrypted Feishu user tokens (token-crypto.ts); never plain text. */
  setFeishuTokensEnc(userId: number, enc: string | null): Promise<boolean>;
  feishuTokensEnc(userId: number): Promise<string | null>;
  /** For the gateway: the plugin was seen now (connect, disconnect, frames). */
  touch(userId: number, at?: number): Promise<void>;
}

export function createUserStore(storage: Storage, now: () => number = Date.now): UserStore {
  return storage.dialect === "sqlite"
    ? new SqliteUserStore(storage.db, now)
    : new storage.adapters.PostgresUserStore(storage.db, now);
}

/** `42` → a user id, anything else an open_id. */
export const isUserId = (ref: string): boolean => /^\d+$/.test(ref);

/** The trimmed name ('' = unknown, keeps the stored one) and the optional ids as null when empty. */
export function profileValues(p: UserProfile) {
  return {
    openId: p.openId,
    name: p.name?.trim() ?? "",
    unionId: p.unionId || null,
    userId: p.userId || null,
    avatarUrl: p.avatarUrl || null,
  };
}

const IDENTITY_TTL_MS = 60_000;
const IDENTITY_CACHE_MAX = 100_000;

/**
 * open_id → id and name, in memory: ids never change, and a name changed by this process (sign-in)
 * drops the entry; one changed by another process (the CLI, another node) shows within IDENTITY_TTL_MS.
 */
export class IdentityCache {
  readonly #entries = new Map<string, Identity & { at: number }>();

  constructor(private readonly now: () => number) {}

  get(openId: string): Identity | undefined {
    const hit = this.#entries.get(openId);
    return hit && this.now() - hit.at < IDENTITY_TTL_MS ? hit : undefined;
  }

  put(openId: string, row: Identity): Identity {
    if (this.#entries.size >= IDENTITY_CACHE_MAX) this.#entries.clear();
    const entry = { id: row.id, name: row.name, at: this.now() };
    this.#entries.set(openId, entry);
    return entry;
  }

  drop(openId: string): void {
    this.#entries.delete(openId);
  }
}

export function publicUser(u: UserRecord): PublicUser {
  return {
    id: String(u.id),
    openId: u.openId,
    name: u.name,
    ...(u.unionId ? { unionId: u.unionId } : {}),
    ...(u.avatarUrl ? { avatarUrl: u.avatarUrl } : {}),
  };
}

export const isoOrNull = (ms: number | null): string | null =>
  ms === null ? null : new Date(ms).toISOString();

/** A listed row as every caller shows it. */
export function summary(
  row: UserRecord & { pending: number },
  isConnected: (userId: number) => boolean,
): UserSummary {
  return {
    ...publicUser(row),
    connected: isConnected(row.id),
    pending: row.pending,
    lastSeenAt: isoOrNull(row.lastSeenAt),
  };
}
