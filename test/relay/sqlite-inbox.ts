/** An Inbox over the SQLite adapter of an open test database, as createRelay builds it. */
import type { Db } from "../../src/db/open.ts";
import {
  DEFAULT_MAX_PENDING,
  DEFAULT_MAX_PENDING_BYTES,
  Inbox,
  type InboxOptions,
} from "../../src/relay/inbox.ts";
import type { InboxStoreOptions } from "../../src/relay/inbox-store.ts";
import { SqliteInboxStore } from "../../src/relay/inbox-store-sqlite.ts";

export function sqliteInbox(db: Db, opts: InboxOptions & Partial<InboxStoreOptions>): Inbox {
  const store = new SqliteInboxStore(db, {
    maxPending: opts.maxPending ?? DEFAULT_MAX_PENDING,
    maxPendingBytes: opts.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES,
    ...(opts.walSync ? { walSync: opts.walSync } : {}),
    ...(opts.inlineCommitMax !== undefined ? { inlineCommitMax: opts.inlineCommitMax } : {}),
    ...(opts.monotonicMs ? { monotonicMs: opts.monotonicMs } : {}),
  });
  return new Inbox(store, opts);
}
