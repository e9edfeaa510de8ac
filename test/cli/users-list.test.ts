import { afterAll, describe, expect, test } from "bun:test";
import { main } from "../../src/cli/main.ts";
import { tokenIssue, usersList, usersRevoke } from "../../src/cli/users.ts";
import { displayWidth } from "../../src/feishu/text-width.ts";
import { gatewayRelay } from "../relay/gateway-fixtures.ts";
import { connect } from "../relay/ws-client.ts";

// A running relay and the CLI on the same database file, as on a host.
const r = await gatewayRelay();
const raw = r.databaseRaw;
afterAll(() => r.close());

const zhang = await r.user("ou_zhang", "张三丰");
const bob = await r.user("ou_bob", "Bob");
const wang = await r.user("ou_wang", "王小明同学");
await r.store(zhang.user.id);
await r.store(zhang.user.id);
const plugin = connect(r.url, { token: bob.token });
await plugin.next((f) => f.type === "hello");
afterAll(() => plugin.close());
await usersRevoke(String(wang.user.id), raw);

/** The display column where `cell` starts in `line`. */
const columnOf = (line: string, cell: string) => displayWidth(line.slice(0, line.indexOf(cell)));

describe("users list", () => {
  test("shows connected, offline and revoked users and their pending messages", async () => {
    const lines = (await usersList({}, raw)).split("\n");
    expect(lines[0]).toMatch(/^ID\s+OPEN_ID\s+NAME\s+STATUS\s+PENDING\s+LAST_SEEN\s+LLM$/);
    expect(lines[1]).toMatch(/^1\s+ou_zhang\s+张三丰\s+offline\s+2\s+never\s+-$/);
    expect(lines[2]).toMatch(/^2\s+ou_bob\s+Bob\s+connected\s+0\s+\d{4}-\S+Z\s+-$/);
    expect(lines[3]).toMatch(/^3\s+ou_wang\s+王小明同学\s+revoked\s+0\s+never\s+-$/);
  });

  test("columns stay aligned after Chinese names", async () => {
    const lines = (await usersList({}, raw)).split("\n");
    const status = columnOf(lines[0]!, "STATUS");
    const pending = columnOf(lines[0]!, "PENDING");
    for (const [i, word] of [
      [1, "offline"],
      [2, "connected"],
      [3, "revoked"],
    ] as const) {
      expect(columnOf(lines[i]!, word)).toBe(status);
      expect(displayWidth(lines[i]!.slice(0, lines[i]!.search(/\d+\s+(never|\d{4}-)/)))).toBe(pending);
    }
  });

  test("--json carries the same facts", async () => {
    const { users } = JSON.parse(await usersList({ json: true }, raw));
    expect(users).toEqual([
      expect.objectContaining({
        id: "1",
        name: "张三丰",
        status: "offline",
        connected: false,
        revoked: false,
        pending: 2,
      }),
      expect.objectContaining({ id: "2", status: "connected", connected: true, revoked: false, pending: 0 }),
      expect.objectContaining({
        id: "3",
        status: "revoked",
        revoked: true,
        revokedAt: expect.stringMatching(/Z$/),
      }),
    ]);
    const out: string[] = [];
    expect(
      await main(
        [
          "users",
          "list",
          "--json",
          ...(raw.DATABASE_URL
            ? ["--database-url", raw.DATABASE_URL]
            : ["--database-path", raw.DATABASE_PATH!]),
        ],
        (l) => out.push(l),
      ),
    ).toBe(0);
    expect(JSON.parse(out.join("\n")).users).toHaveLength(3);
  });

  test("a token issued after the revocation makes the user offline again, not revoked", async () => {
    const extra = await r.user("ou_again", "Again");
    await usersRevoke("ou_again", raw);
    expect(await usersList({}, raw)).toMatch(/^4\s+ou_again\s+Again\s+revoked/m);
    await tokenIssue("ou_again", raw);
    expect(await usersList({}, raw)).toMatch(/^4\s+ou_again\s+Again\s+offline/m);
    expect(extra.user.id).toBe(4);
  });

  test("the revoked plugin's socket closes and the user stays revoked", async () => {
    const { token } = await r.user("ou_live", "Live");
    const live = connect(r.url, { token });
    await live.next((f) => f.type === "hello");
    // Revoked through the running relay's own service (as the admin API does): the socket closes at once.
    await r.ctx.tokens.revoke(5);
    expect((await live.closed).code).toBe(4001);
    const { users } = JSON.parse(await usersList({ json: true }, raw));
    expect(users[4]).toMatchObject({ status: "revoked", revoked: true });
  });
});
