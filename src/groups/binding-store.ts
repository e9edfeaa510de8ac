/**
 * The group_bindings port (M2-4): which group is bound to which user's agent. Adapters: SQLite (here,
 * statements prepared once) and PostgreSQL (binding-store-postgres.ts). Every write is one statement,
 * so two "/bind" in the same group cannot both win, on one node or across a cluster.
 */
import type { Db } from "../db/open.ts";
import type { Storage } from "../storage/storage.ts";

export interface GroupBinding {
  chatId: string;
  ownerUserId: number;
  requireMention: boolean;
  /** `open_id:<ou_…>` (self-service /bind) or `admin` (API or CLI). */
  boundBy: string;
  createdAt: number;
  updatedAt: number;
}

/** A binding with what the admin API and CLI show next to it. */
export interface GroupBindingView extends GroupBinding {
  ownerOpenId: string;
  ownerName: string;
  /** The group's name when the relay has it cached (chat_info). */
  name?: string;
}

export interface BindRequest {
  chatId: string;
  ownerUserId: number;
  requireMention?: boolean;
  boundBy: string;
}

export interface BindingStore {
  get(chatId: string): Promise<GroupBinding | undefined>;
  /** With the owner's open_id and name and the group's cached name. */
  view(chatId: string): Promise<GroupBindingView | undefined>;
  list(): Promise<GroupBindingView[]>;
  /** Binds (or re-binds) the group; an admin's word wins over an existing binding. */
  bind(req: BindRequest): Promise<GroupBinding>;
  /**
   * Binds only a group nobody owns, atomically (INSERT … ON CONFLICT DO NOTHING): `bound` false hands
   * back the binding that was already there.
   */
  bindIfUnbound(req: BindRequest): Promise<{ bound: boolean; binding: GroupBinding }>;
  /** Removes the group's binding; with `ownerUserId`, only when that user owns it. */
  unbind(chatId: string, ownerUserId?: number): Promise<boolean>;
}

export function createBindingStore(storage: Storage, now: () => number = Date.now): BindingStore {
  return storage.dialect === "sqlite"
    ? new SqliteBindingStore(storage.db, now)
    : new storage.adapters.PostgresBindingStore(storage.db, now);
}

/** The binding a lost bindIfUnbound race hands back, looked up again if it vanished meanwhile. */
export async function bindOrExisting(
  store: Pick<BindingStore, "get">,
  req: BindRequest,
  insert: () => Promise<GroupBinding | undefined>,
): Promise<{ bound: boolean; binding: GroupBinding }> {
  for (;;) {
    const inserted = await insert();
    if (inserted) return { bound: true, binding: inserted };
    const existing = await store.get(req.chatId);
    // Unbound again between the two statements: a try more is cheaper than a transaction here.
    if (existing) return { bound: false, binding: existing };
  }
}

interface Row {
  chatId: string;
  ownerUserId: number;
  requireMention: number;
  boundBy: string;
  createdAt: number;
  updatedAt: number;
}

interface ViewRow extends Row {
  ownerOpenId: string;
  ownerName: string;
  name: string | null;
}

const COLUMNS = `b.chat_id AS chatId, b.owner_user_id AS ownerUserId, b.require_mention AS requireMention,
  b.bound_by AS boundBy, b.created_at AS createdAt, b.updated_at AS updatedAt`;
const VIEW = `SELECT ${COLUMNS}, u.open_id AS ownerOpenId, u.name AS ownerName, c.name AS name
  FROM group_bindings b JOIN users u ON u.id = b.owner_user_id LEFT JOIN chat_info c ON c.chat_id = b.chat_id`;

function binding(r: Row): GroupBinding {
  return { ...r, requireMention: r.requireMention !== 0 };
}

function view(r: ViewRow): GroupBindingView {
  const { name, ...rest } = r;
  return { ...binding(rest), ownerOpenId: r.ownerOpenId, ownerName: r.ownerName, ...(name ? { name } : {}) };
}

export class SqliteBindingStore implements BindingStore {
  readonly #now: () => number;
  readonly #s;

  constructor(db: Db, now: () => number) {
    this.#now = now;
    const q = db.$client;
    this.#s = {
      get: q.query<Row, [string]>(`SELECT ${COLUMNS} FROM group_bindings b WHERE b.chat_id = ?`),
      view: q.query<ViewRow, [string]>(`${VIEW} WHERE b.chat_id = ?`),
      list: q.query<ViewRow, []>(`${VIEW} ORDER BY b.created_at, b.chat_id`),
      upsert: q.query<Row, [string, number, number, string, number]>(
        `INSERT INTO group_bindings (chat_id, owner_user_id, require_mention, bound_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (chat_id) DO UPDATE SET owner_user_id = excluded.owner_user_id,
           require_mention = excluded.require_mention, bound_by = excluded.bound_by, updated_at = excluded.updated_at
         RETURNING chat_id AS chatId, owner_user_id AS ownerUserId, require_mention AS requireMention,
           bound_by AS boundBy, created_at AS createdAt, updated_at AS updatedAt`,
      ),
      insertIfAbsent: q.query<Row, [string, number, number, string, number]>(
        `INSERT INTO group_bindings (chat_id, owner_user_id, require_mention, bound_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (chat_id) DO NOTHING
         RETURNING chat_id AS chatId, owner_user_id AS ownerUserId, require_mention AS requireMention,
           bound_by AS boundBy, created_at AS createdAt, updated_at AS updatedAt`,
      ),
      delete: q.query("DELETE FROM group_bindings WHERE chat_id = ?"),
      deleteOwned: q.query("DELETE FROM group_bindings WHERE chat_id = ? AND owner_user_id = ?"),
    };
  }

  async get(chatId: string) {
    const row = this.#s.get.get(chatId);
    return row ? binding(row) : undefined;
  }

  async view(chatId: string) {
    const row = this.#s.view.get(chatId);
    return row ? view(row) : undefined;
  }

  async list() {
    return this.#s.list.all().map(view);
  }

  async bind(req: BindRequest) {
    const row = this.#s.upsert.get(...this.#args(req));
    return binding(row!);
  }

  bindIfUnbound(req: BindRequest) {
    return bindOrExisting(this, req, async () => {
      const row = this.#s.insertIfAbsent.get(...this.#args(req));
      return row ? binding(row) : undefined;
    });
  }

  async unbind(chatId: string, ownerUserId?: number) {
    const result =
      ownerUserId === undefined ? this.#s.delete.run(chatId) : this.#s.deleteOwned.run(chatId, ownerUserId);
    return result.changes > 0;
  }

  #args(req: BindRequest): [string, number, number, string, number] {
    return [req.chatId, req.ownerUserId, req.requireMention === false ? 0 : 1, req.boundBy, this.#now()];
  }
}
