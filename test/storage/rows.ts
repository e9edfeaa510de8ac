/**
 * Rows other ports own (inbox, outbox, sessions), written straight into a test database of either
 * dialect, so a port's contract tests can set up what it reads without depending on another port.
 */
import { eq } from "drizzle-orm";
import * as pg from "../../src/db/pg-schema.ts";
import * as lite from "../../src/db/schema.ts";
import type { Storage } from "../../src/storage/storage.ts";

type InboxRow = typeof lite.inbox.$inferInsert;
type OutboxRow = typeof lite.outbox.$inferInsert;
type SessionRow = typeof lite.sessions.$inferInsert;

export async function insertInbox(
  storage: Storage,
  row: Omit<InboxRow, "eventId" | "messageId" | "chatId" | "payload" | "receivedAt"> & Partial<InboxRow>,
) {
  const full = {
    eventId: `ev_${row.userId}_${row.seq}`,
    messageId: `om_${row.userId}_${row.seq}`,
    chatId: "oc_x",
    payload: "{}",
    receivedAt: 1,
    ...row,
  };
  if (storage.dialect === "sqlite") storage.db.insert(lite.inbox).values(full).run();
  else await storage.db.insert(pg.inbox).values(full);
}

/** The user's seq counters (users.last_seq, users.acked_seq), as the inbox keeps them. */
export async function setSeqs(storage: Storage, userId: number, seqs: { lastSeq: number; ackedSeq: number }) {
  if (storage.dialect === "sqlite")
    storage.db.update(lite.users).set(seqs).where(eq(lite.users.id, userId)).run();
  else await storage.db.update(pg.users).set(seqs).where(eq(pg.users.id, userId));
}

/** Everything up to `seq` delivered and acked. */
export function setAckedSeq(storage: Storage, userId: number, seq: number) {
  return setSeqs(storage, userId, { lastSeq: seq, ackedSeq: seq });
}

export async function insertOutbox(storage: Storage, row: OutboxRow) {
  if (storage.dialect === "sqlite") storage.db.insert(lite.outbox).values(row).run();
  else await storage.db.insert(pg.outbox).values(row);
}

export async function insertSession(storage: Storage, row: SessionRow) {
  if (storage.dialect === "sqlite") storage.db.insert(lite.sessions).values(row).run();
  else await storage.db.insert(pg.sessions).values(row);
}
