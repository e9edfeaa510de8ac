/**
 * The group_bindings repository (M2-4): which group is bound to which user's agent. Statements are
 * prepared once; every write is one statement, so two "/bind" in the same group cannot both win.
 */
import type { RelayContext } from "../context.ts";
import type { Db } from "../db/open.ts";

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

export class BindingStore {
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

  get(chatId: string): GroupBinding | undefined {
    const row = this.#s.get.get(chatId);
    return row ? binding(row) : undefined;
  }

  /** With the owner's open_id and name and the group's cached name. */
  view(chatId: string): GroupBindingView | undefined {
    const row = this.#s.view.get(chatId);
    return row ? view(row) : undefined;
  }

  list(): GroupBindingView[] {
    return this.#s.list.all().map(view);
  }

  /** Binds (or re-binds) the group; an admin's word wins over an existing binding. */
  bind(req: BindRequest): GroupBinding {
    const row = this.#s.upsert.get(...this.#args(req));
    return binding(row!);
  }

  /** Binds only a group nobody owns: `bound` false hands back the binding that was already there. */
  bindIfUnbound(req: BindRequest): { bound: boolean; binding: GroupBinding } {
    const row = this.#s.insertIfAbsent.get(...this.#args(req));
    if (row) return { bound: true, binding: binding(row) };
    const existing = this.get(req.chatId);
    // Unbound again between the two statements: a try more is cheaper than a transaction here.
    return existing ? { bound: false, binding: existing } : this.bindIfUnbound(req);
  }

  /** Removes the group's binding; with `ownerUserId`, only when that user owns it. */
  unbind(chatId: string, ownerUserId?: number): boolean {
    const result =
      ownerUserId === undefined ? this.#s.delete.run(chatId) : this.#s.deleteOwned.run(chatId, ownerUserId);
    return result.changes > 0;
  }

  #args(req: BindRequest): [string, number, number, string, number] {
    return [req.chatId, req.ownerUserId, req.requireMention === false ? 0 : 1, req.boundBy, this.#now()];
  }
}

const stores = new WeakMap<Pick<RelayContext, "db">, BindingStore>();

/** The relay's one BindingStore (statements prepared once per process). */
export function bindingsOf(ctx: Pick<RelayContext, "db" | "now">): BindingStore {
  let s = stores.get(ctx);
  if (!s) {
    s = new BindingStore(ctx.db, ctx.now);
    stores.set(ctx, s);
  }
  return s;
}
