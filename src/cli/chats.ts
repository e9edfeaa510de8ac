/**
 * `chats list|bind|unbind` (M2-4): the group bindings admin API's operations on the database
 * directly, for operators on the host. A running relay reads bindings per message, so changes apply
 * to the next message at once.
 */
import type { Raw } from "../config/definition.ts";
import { chatJson } from "../groups/admin-routes.ts";
import { ChatId } from "../groups/model.ts";
import { UsageError } from "./main.ts";
import { formatTable } from "./table.ts";
import { findUser, withContext } from "./users.ts";

type Options = Record<string, string | true>;

const CHAT_ID = new RegExp(ChatId.pattern as string);
export const CHATS_USAGE =
  "usage: chats list [--json] | chats bind <chat_id> <id|open_id> [--no-mention] | chats unbind <chat_id>";

function checkedChatId(chatId: string | undefined, usage: string): string {
  if (!chatId) throw new UsageError(`usage: ${usage}`);
  if (!CHAT_ID.test(chatId)) throw new UsageError(`"${chatId}" is not a group chat id (oc_…)`);
  return chatId;
}

export function chatsList(options: Options, raw: Raw): Promise<string> {
  return withContext(raw, async (ctx) => {
    const chats = await ctx.bindings.list();
    if (options.json !== undefined) return JSON.stringify({ chats: chats.map(chatJson) }, null, 2);
    if (chats.length === 0) return "no bound groups";
    const table = [["CHAT_ID", "NAME", "OWNER", "OWNER_OPEN_ID", "MENTION", "BOUND_BY", "UPDATED"]];
    for (const c of chats)
      table.push([
        c.chatId,
        c.name ?? "-",
        `${c.ownerUserId} ${c.ownerName}`.trim(),
        c.ownerOpenId,
        c.requireMention ? "required" : "not required",
        c.boundBy,
        new Date(c.updatedAt).toISOString(),
      ]);
    return formatTable(table);
  });
}

export function chatsBind(args: string[], options: Options, raw: Raw): Promise<string> {
  const usage = "chats bind <chat_id> <id|open_id> [--no-mention]";
  const [chatArg, userArg] = bindArgs(args, options["no-mention"]);
  const chatId = checkedChatId(chatArg, usage);
  return withContext(raw, async (ctx) => {
    const user = await findUser(ctx, userArg, usage);
    const requireMention = options["no-mention"] === undefined;
    await ctx.bindings.bind({ chatId, ownerUserId: user.id, requireMention, boundBy: "admin" });
    const mention = requireMention ? "@-mentions" : "every message (requireMention off)";
    return `bound ${chatId} to user ${user.id} (${user.openId}): ${mention} go to their agent`;
  });
}

/**
 * `--no-mention` written before an argument takes it as its value (the flag parser cannot know it is
 * a switch): a chat id is the first argument, anything else the user.
 */
function bindArgs(args: string[], noMention: string | true | undefined): string[] {
  if (typeof noMention !== "string") return args;
  return noMention.startsWith("oc_") ? [noMention, ...args] : [args[0] ?? "", noMention, ...args.slice(1)];
}

export function chatsUnbind(chatArg: string | undefined, raw: Raw): Promise<string> {
  const chatId = checkedChatId(chatArg, "chats unbind <chat_id>");
  return withContext(raw, async (ctx) => {
    if (!(await ctx.bindings.unbind(chatId))) throw new UsageError(`${chatId} is not bound`);
    return `unbound ${chatId}`;
  });
}

/** `chats <list|bind|unbind> …` */
export function chatsCommand(args: string[], options: Options, raw: Raw): Promise<string> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "list":
      return chatsList(options, raw);
    case "bind":
      return chatsBind(rest, options, raw);
    case "unbind":
      return chatsUnbind(rest[0], raw);
    default:
      throw new UsageError(CHATS_USAGE);
  }
}
