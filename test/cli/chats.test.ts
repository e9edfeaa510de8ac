import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chatsCommand } from "../../src/cli/chats.ts";
import { main, UsageError } from "../../src/cli/main.ts";
import { usersAdd } from "../../src/cli/users.ts";
import { createRelay } from "../../src/server.ts";

const dir = mkdtempSync(join(tmpdir(), "relay-cli-chats-"));
const raw = { DATABASE_PATH: join(dir, "relay.db") };
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What a relay on the same database sees. */
async function relayBinding(chatId: string) {
  const relay = await createRelay({ ...raw, PORT: "0" });
  try {
    return await relay.ctx.bindings.get(chatId);
  } finally {
    await relay.stop();
  }
}

describe("chats commands", () => {
  test("bind by id or open_id, list (table and --json), unbind; the relay sees each change", async () => {
    await usersAdd({ "open-id": "ou_chat_owner", name: "Owner" }, raw);
    await usersAdd({ "open-id": "ou_chat_other" }, raw);
    expect(await chatsCommand(["list"], {}, raw)).toBe("no bound groups");
    expect(await chatsCommand(["bind", "oc_team", "1"], {}, raw)).toBe(
      "bound oc_team to user 1 (ou_chat_owner): @-mentions go to their agent",
    );
    expect(await relayBinding("oc_team")).toMatchObject({
      ownerUserId: 1,
      requireMention: true,
      boundBy: "admin",
    });
    // --no-mention before the arguments takes the next one as its value: still understood.
    await chatsCommand(["bind", "2"], { "no-mention": "oc_all" }, raw);
    expect(await relayBinding("oc_all")).toMatchObject({ ownerUserId: 2, requireMention: false });
    await chatsCommand(["bind", "oc_all"], { "no-mention": "ou_chat_other" }, raw);
    expect(await relayBinding("oc_all")).toMatchObject({ ownerUserId: 2, requireMention: false });

    const table = (await chatsCommand(["list"], {}, raw)).split("\n");
    expect(table[0]).toMatch(/^CHAT_ID\s+NAME\s+OWNER\s+OWNER_OPEN_ID\s+MENTION\s+BOUND_BY\s+UPDATED$/);
    expect(table[1]).toMatch(/^oc_team\s+-\s+1 Owner\s+ou_chat_owner\s+required\s+admin\s+\S+Z$/);
    expect(table[2]).toMatch(/^oc_all\s+-\s+2\s+ou_chat_other\s+not required\s+admin/);
    const listed = JSON.parse(await chatsCommand(["list"], { json: true }, raw));
    expect(listed.chats.map((c: { chatId: string }) => c.chatId)).toEqual(["oc_team", "oc_all"]);
    expect(listed.chats[0]).toMatchObject({
      ownerUserId: 1,
      ownerOpenId: "ou_chat_owner",
      requireMention: true,
    });

    expect(await chatsCommand(["unbind", "oc_team"], {}, raw)).toBe("unbound oc_team");
    expect(await relayBinding("oc_team")).toBeUndefined();
  });

  test("wrong arguments are one line and exit 2", async () => {
    expect(() => chatsCommand(["bind", "team", "1"], {}, raw)).toThrow(UsageError);
    expect(chatsCommand(["bind", "oc_team", "nobody"], {}, raw)).rejects.toThrow('no user "nobody"');
    expect(chatsCommand(["unbind", "oc_never"], {}, raw)).rejects.toThrow("oc_never is not bound");
    expect(() => chatsCommand(["frobnicate"], {}, raw)).toThrow(UsageError);
    const err: string[] = [];
    const code = await main(
      ["chats", "bind", "oc_x", "--database-path", raw.DATABASE_PATH],
      () => {},
      (l) => err.push(l),
    );
    expect(code).toBe(2);
    expect(err).toEqual(["usage: chats bind <chat_id> <id|open_id> [--no-mention]"]);
    const out: string[] = [];
    expect(await main(["chats", "--help"], (l) => out.push(l))).toBe(0);
    expect(out.join("\n")).toContain("openclaw-relay chats bind <chat_id> <id|open_id> [--no-mention]");
  });
});
