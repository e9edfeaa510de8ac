/**
 * One group commit (DESIGN §7), the part both adapters share: `sortBatch` finds the copies inside a
 * batch and the messages already stored or marked, and groups the rest by user; the adapters then
 * take seqs per user, insert, note the chats and apply the offline cap, one user's part in a
 * savepoint, so that one bad message fails alone and never the other messages of its batch.
 */
import type { AcceptResult, IncomingMessage, StoredMessage } from "./inbox.ts";
import type { Trimmed } from "./inbox-cap.ts";
import type { DuplicateCounts } from "./inbox-store.ts";

export interface BatchItem {
  item: IncomingMessage;
  /** `item.message` serialised before it joined the batch. */
  payload: string;
}

export type DuplicateBy = "event_id" | "message_id";

/** A batch sorted before its writes: duplicates answered, fresh messages grouped by user. */
export interface SortedBatch {
  results: Array<AcceptResult | Error>;
  /** Per user, the indexes of their new messages, in batch order. */
  fresh: Map<number, number[]>;
  /** A copy's index → its original's index: a copy of a message that failed fails with it. */
  copyOf: Map<number, number>;
  duplicates: DuplicateCounts;
}

/**
 * Marks copies inside the batch and messages `storedBy` knows (stored or marked before) as
 * duplicates; groups the rest by user. Pure but for `storedBy`.
 */
export function sortBatch(
  batch: BatchItem[],
  storedBy: (eventId: string, messageId: string) => DuplicateBy | undefined,
): SortedBatch {
  const results: Array<AcceptResult | Error> = new Array(batch.length);
  // Messages of this batch by id → event id and index, so that copies inside one batch are caught too.
  const inBatch = new Map<string, { eventId: string; index: number }>();
  const eventsInBatch = new Map<string, number>();
  const copyOf = new Map<number, number>();
  const fresh = new Map<number, number[]>();
  const duplicates: DuplicateCounts = { event_id: 0, message_id: 0 };
  batch.forEach(({ item }, i) => {
    const { eventId, message } = item;
    const earlier = inBatch.get(message.messageId);
    const sameEvent = eventsInBatch.get(eventId);
    const by =
      earlier !== undefined
        ? earlier.eventId === eventId
          ? "event_id"
          : "message_id"
        : sameEvent !== undefined
          ? "event_id"
          : storedBy(eventId, message.messageId);
    if (by) {
      duplicates[by] += 1;
      results[i] = { status: "duplicate" };
      const original = earlier?.index ?? sameEvent;
      if (original !== undefined) copyOf.set(i, original);
      return;
    }
    inBatch.set(message.messageId, { eventId, index: i });
    eventsInBatch.set(eventId, i);
    const list = fresh.get(item.userId);
    if (list) list.push(i);
    else fresh.set(item.userId, [i]);
  });
  return { results, fresh, copyOf, duplicates };
}

/** After the writes: copies of a message that failed fail with it. */
export function settleCopies(sorted: SortedBatch): Array<AcceptResult | Error> {
  const { results, copyOf } = sorted;
  for (const [copy, original] of copyOf) {
    if (results[original] instanceof Error) results[copy] = results[original]!;
  }
  return results;
}

/** Sets the results of one user's stored messages; the last carries what the cap dropped, if anything. */
export function settleStored(
  results: Array<AcceptResult | Error>,
  indexes: number[],
  stored: StoredMessage[],
  trimmed: Trimmed | undefined,
): void {
  stored.forEach((m, k) => {
    const last = k === stored.length - 1;
    results[indexes[k]!] = { status: "stored", seq: m.seq, ...(last && trimmed ? { trimmed } : {}) };
  });
}
