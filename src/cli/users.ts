/**
 * `users add|list|revoke|set-llm` and `token issue`: the admin API's operations on the database
 * directly, for operators on the host. A revoke here refuses old tokens at once; a plugin socket already
 * open on a running relay is closed by that relay's revocation sweep (src/relay/revocation-sweep.ts).
 */
import type { Config, Raw } from "../config/definition.ts";
import { finishConfig } from "../config/load.ts";
import { createKv, type Kv } from "../db/kv.ts";
import { type BindingStore, createBindingStore } from "../groups/binding-store.ts";
import { Logger } from "../ops/logger.ts";
import { createSessionStore, type SessionStore } from "../relay/session-store.ts";
import { closeStorage, openStorage } from "../storage/storage.ts";
import { LlmConfig } from "../users/llm-config.ts";
import { OpenId } from "../users/model.ts";
import { TokenService } from "../users/tokens.ts";
import { createUserStore, type UserRecord, type UserStore } from "../users/user-store.ts";
import { UsageError } from "./main.ts";
import { formatTable } from "./table.ts";

type Options = Record<string, string | true>;

const OPEN_ID = new RegExp(OpenId.pattern as string);

/**
 * What the commands need: the config and the same ports a relay uses, on the database DATABASE_URL
 * (PostgreSQL) or DATABASE_PATH (SQLite) names; no server, no gateway (nobody is connected here).
 */
export interface CliContext {
  config: Config;
  kv: Kv;
  users: UserStore;
  tokens: TokenService;
  bindings: BindingStore;
  /** Who is connected, as far as a process without the hub can tell (open session rows). */
  sessions: SessionStore;
  llm: LlmConfig;
  now: () => number;
}

/** Opens (and migrates) the database for one command, and closes it after. */
export async function withContext<T>(raw: Raw, fn: (ctx: CliContext) => Promise<T> | T): Promise<T> {
  // Only problems reach stderr; stdout carries the command's answer.
  const log = new Logger("warn", (line) => process.stderr.write(`${line}\n`));
  const storage = await openStorage(raw, { log });
  try {
    const now = Date.now;
    const kv = createKv(storage, now);
    const config = await finishConfig(raw, kv);
    const users = createUserStore(storage, now);
    const ctx: CliContext = {
      config,
      kv,
      users,
      // A relay's revocation sweep closes the socket (src/relay/revocation-sweep.ts).
      tokens: new TokenService({ config, kv, now, log, users, disconnect: () => {} }),
      bindings: createBindingStore(storage, now),
      sessions: createSessionStore(storage),
      llm: LlmConfig.fromConfig(config),
      now,
    };
    return await fn(ctx);
  } finally {
    await closeStorage(storage);
  }
}

export async function findUser(ctx: CliContext, ref: string | undefined, usage: string): Promise<UserRecord> {
  if (!ref) throw new UsageError(`usage: ${usage}`);
  const user = await ctx.users.find(ref);
  if (!user) throw new UsageError(`no user "${ref}" (give a user id or an open_id)`);
  return user;
}

async function tokenText(ctx: CliContext, user: UserRecord, headline: string): Promise<string> {
  const issued = await ctx.tokens.issue(user);
  return [
    headline,
    `id:       ${user.id}`,
    `open_id:  ${user.openId}`,
    `name:     ${user.name}`,
    `expires:  ${new Date(issued.expiresAt).toISOString()}`,
    `token:    ${issued.token}`,
  ].join("\n");
}

export function usersAdd(options: Options, raw: Raw): Promise<string> {
  const openId = options["open-id"];
  const name = options.name;
  if (typeof openId !== "string" || !OPEN_ID.test(openId))
    throw new UsageError("usage: users add --open-id ou_… [--name NAME]");
  if (name === true) throw new UsageError("--name needs a value");
  return withContext(raw, async (ctx) => {
    const { user, created } = await ctx.users.upsert({ openId, name });
    return tokenText(ctx, user, created ? "created user" : "user exists; new token issued");
  });
}

/** One user as `users list` shows it; `--json` prints these. */
export interface UserListing {
  id: string;
  openId: string;
  name: string;
  status: "connected" | "offline" | "revoked";
  connected: boolean;
  revoked: boolean;
  revokedAt: string | null;
  pending: number;
  lastSeenAt: string | null;
  llmProvider: string | null;
}

export function usersList(options: Options, raw: Raw): Promise<string> {
  return withContext(raw, async (ctx) => {
    const { users, tokens } = ctx;
    const open = await ctx.sessions.openSessionUsers();
    const all = await users.list((id) => open.has(id));
    const revokedAts = await Promise.all(all.map((u) => tokens.revokedAt(Number(u.id))));
    const providers = await Promise.all(all.map(async (u) => (await users.byId(Number(u.id)))?.llmProvider));
    const listed: UserListing[] = all.map((u, i) => {
      const revokedAt = revokedAts[i] ?? null;
      return {
        id: u.id,
        openId: u.openId,
        name: u.name,
        // A revoked user's socket is closed by the relay's sweep; until then "revoked" is the truth.
        status: revokedAt ? "revoked" : u.connected ? "connected" : "offline",
        connected: u.connected,
        revoked: revokedAt !== null,
        revokedAt,
        pending: u.pending,
        lastSeenAt: u.lastSeenAt,
        llmProvider: providers[i] ?? null,
      };
    });
    if (options.json !== undefined) return JSON.stringify({ users: listed }, null, 2);
    if (listed.length === 0) return "no users";
    const table = [["ID", "OPEN_ID", "NAME", "STATUS", "PENDING", "LAST_SEEN", "LLM"]];
    for (const u of listed)
      table.push([
        u.id,
        u.openId,
        u.name || "-",
        u.status,
        String(u.pending),
        u.lastSeenAt ?? "never",
        u.llmProvider ?? "-",
      ]);
    return formatTable(table);
  });
}

export function usersRevoke(ref: string | undefined, raw: Raw): Promise<string> {
  return withContext(raw, async (ctx) => {
    const user = await findUser(ctx, ref, "users revoke <id|open_id>");
    await ctx.tokens.revoke(user.id);
    return `revoked every token of user ${user.id} (${user.openId})`;
  });
}

export function usersSetLlm(
  ref: string | undefined,
  provider: string | undefined,
  raw: Raw,
): Promise<string> {
  return withContext(raw, async (ctx) => {
    const usage = "users set-llm <id|open_id> <provider|default>";
    const user = await findUser(ctx, ref, usage);
    if (!provider) throw new UsageError(`usage: ${usage}`);
    const value = provider === "default" ? null : provider;
    const { llm } = ctx;
    if (value !== null && !llm.has(value)) {
      const known = [...llm.providers.keys()].join(", ") || "none";
      throw new UsageError(`unknown provider "${value}" (declared in LLM_PROVIDERS: ${known})`);
    }
    await ctx.users.setLlmProvider(user.id, value);
    return `user ${user.id} (${user.openId}) now uses ${value ?? `the default provider (${llm.defaultName ?? "none"})`}`;
  });
}

export function tokenIssue(ref: string | undefined, raw: Raw): Promise<string> {
  return withContext(raw, async (ctx) =>
    tokenText(ctx, await findUser(ctx, ref, "token issue <id|open_id>"), "new token issued"),
  );
}

/** `users <add|list|revoke|set-llm> …` */
export function usersCommand(args: string[], options: Options, raw: Raw): Promise<string> | string {
  const [sub, ...rest] = args;
  switch (sub) {
    case "add":
      return usersAdd(options, raw);
    case "list":
      return usersList(options, raw);
    case "revoke":
      return usersRevoke(rest[0], raw);
    case "set-llm":
      return usersSetLlm(rest[0], rest[1], raw);
    default:
      throw new UsageError(
        "usage: users add --open-id ou_… [--name N] | users list | users revoke <id|open_id> | users set-llm <id|open_id> <provider|default>",
      );
  }
}

/** `token issue <id|open_id>` */
export function tokenCommand(args: string[], _options: Options, raw: Raw): Promise<string> | string {
  const [sub, ref] = args;
  if (sub !== "issue") throw new UsageError("usage: token issue <id|open_id>");
  return tokenIssue(ref, raw);
}
