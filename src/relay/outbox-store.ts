/**
 * The outbox's port (`OutboxStore`): the rows of the `outbox` table and every change the outbox makes
 * to them. Adapters: SQLite (outbox-store-sqlite.ts, one process, statements prepared once) and
 * PostgreSQL (outbox-store-postgres.ts, cluster mode: rows are claimed by a node for a lease).
 */
import type { Awaitable, Storage } from "../storage/storage.ts";
import { SqliteOutboxStore } from "./outbox-store-sqlite.ts";
import type { SendRequest } from "./protocol.ts";
import type { DeliveryTarget } from "./targets.ts";

export interface Row {
  id: number;
  userId: number;
  uuid: string;
  request: string;
  status: "pending" | "sending" | "sent" | "failed";
  attempts: number;
  deadlineAt: number;
  nextAttemptAt: number;
  messageIds: string | null;
  lastErrorCode: string | null;
  lastError: string | null;
  /** M2-2: Feishu's key of the uploaded media, once uploaded. */
  mediaKey: string | null;
}

/** The `request` column: where the send goes and what it says. */
export interface Stored {
  target: DeliveryTarget;
  req: SendRequest;
}

export interface NewSend {
  userId: number;
  uuid: string;
  /** `Stored` as JSON. */
  request: string;
  /** `sending`: claimed by this process at once (the user has a free attempt slot). */
  status: "pending" | "sending";
  now: number;
  deadlineAt: number;
  mediaId: string | null;
}

/**
 * Cluster mode: how long a node's claim on a row holds without renewal. The outbox renews the
 * leases of its running attempts every `LEASE_RENEW_MS`, so an attempt may wait in the rate limiter
 * or on a slow Feishu call for as long as it needs; only a node that died (or lost the database for
 * longer than a lease) loses its claims, which another node then retakes. 60 s is far longer than
 * a renewal round (15 s) plus a database hiccup, and short enough that a dead node's sends resume
 * within a minute. A retaken send keeps its Feishu uuid, so Feishu never posts it twice.
 */
export const OUTBOX_LEASE_MS = 60_000;
export const LEASE_RENEW_MS = OUTBOX_LEASE_MS / 4;

/**
 * Every result write is conditional on the row still being this process's claim (`sending`, and in
 * cluster mode `claimed_by` = this node): true when written, false when the claim was lost (the
 * lease ran out and another node retook the row) and the write was refused.
 */
export interface OutboxStore {
  /** Other processes write this table too (cluster): counts are read from it, never cached. */
  readonly shared: boolean;
  byUuid(userId: number, uuid: string): Promise<Row | undefined>;
  /** The new row, or undefined when the user's uuid exists already (the unique index decides). */
  insert(send: NewSend): Promise<Row | undefined>;
  /** M2-2: the uploaded media's key, durable before the send that uses it. */
  recordMediaKey(id: number, key: string): Promise<boolean>;
  /** Claims up to `limit` due rows of the user, oldest first (an expired claim is due again). */
  claimDue(userId: number, now: number, limit: number): Promise<Row[]>;
  /** Users with due rows. */
  dueUsers(now: number): Promise<number[]>;
  /** The user's sends queued or in flight, and the earliest retry among them. */
  queuedOf(userId: number): Promise<{ n: number; next: number | null }>;
  sent(id: number, messageIds: string[], now: number): Promise<boolean>;
  retry(id: number, nextAttemptAt: number, code: string, message: string, now: number): Promise<boolean>;
  failed(id: number, code: string, message: string, now: number): Promise<boolean>;
  /** Those of `ids` that are final (sent or failed): outcomes another node wrote. */
  finals(ids: number[]): Promise<Row[]>;
  /** Start-up: this process's claims from before (a crash, a restart) are due again; how many. */
  recover(now: number): Promise<number>;
  /** Extends this process's claims on `ids` (attempts still running). */
  renew(ids: number[], now: number): Promise<void>;
  /** Sends queued or in flight, all users. SQLite answers synchronously: a gauge reads it. */
  depth(): Awaitable<number>;
  /** Deletes sent and failed rows last updated at or before `before`; how many. */
  prune(before: number): Promise<number>;
}

export function createOutboxStore(storage: Storage, nodeId: string, leaseMs = OUTBOX_LEASE_MS): OutboxStore {
  return storage.dialect === "sqlite"
    ? new SqliteOutboxStore(storage.db)
    : new storage.adapters.PostgresOutboxStore(storage.db, nodeId, leaseMs);
}
