/**
 * PostgreSQL advisory locks (cluster mode): one named key per purpose, and a helper that runs work
 * holding one. Apart from postgres.ts so the modules that take a lock do not load Bun's SQL client:
 * that client is imported only when DATABASE_URL is set (storage/storage.ts).
 */
import type { PgDb } from "./postgres.ts";

/** Advisory lock keys (pg_advisory_lock's bigint space); one named constant per purpose. */
export const ADVISORY_LOCKS = {
  migrate: 0x6f63_7200_0001n,
  /** Feishu's tenant token: one node refreshes it for the cluster (feishu/tenant-token.ts). */
  tenantToken: 0x6f63_7200_0002n,
} as const;

/**
 * Runs `fn` holding the session-level advisory lock `key`, taken on a connection reserved for it
 * (so the lock is released with that connection should this process die); `fn` itself queries
 * through the pool. Every node calling this with the same key runs `fn` one at a time.
 */
export async function withAdvisoryLock<T>(db: PgDb, key: bigint, fn: () => Promise<T>): Promise<T> {
  const conn = await db.$client.reserve();
  try {
    await conn`SELECT pg_advisory_lock(${key.toString()}::bigint)`;
    try {
      return await fn();
    } finally {
      await conn`SELECT pg_advisory_unlock(${key.toString()}::bigint)`;
    }
  } finally {
    conn.release();
  }
}
