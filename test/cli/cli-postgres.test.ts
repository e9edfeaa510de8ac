/**
 * The operator commands on PostgreSQL (DATABASE_URL): the same ports as a relay, the URL's password
 * never printed. Run in-process through `main`, as `openclaw-relay <command> --database-url …`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { SQL } from "bun";
import { main } from "../../src/cli/main.ts";
import { tempDir } from "../helpers.ts";
import { freshPostgresUrl, POSTGRES_ADMIN_URL, postgresReachable } from "../storage/databases.ts";

const pgUp = await postgresReachable();
const PASSWORD = "pg-pass-do-not-print";
let url = "";
let drop = async () => {};

beforeAll(async () => {
  if (!pgUp) return;
  const db = await freshPostgresUrl();
  drop = db.drop;
  // Trust authentication on the test server ignores the password: it is here to be redacted.
  const u = new URL(db.url);
  u.password = PASSWORD;
  url = u.toString();
});
afterAll(() => drop());

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    [...argv, "--database-url", url],
    (s) => out.push(s),
    (s) => err.push(s),
  );
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe.skipIf(!pgUp)("CLI on PostgreSQL", () => {
  test("migrate, check-config: the database is named without its password", async () => {
    const migrated = await cli("migrate");
    expect(migrated).toMatchObject({ code: 0 });
    expect(migrated.out).toContain("is up to date");
    const { dir, cleanup } = tempDir();
    try {
      // DATABASE_PATH is not used in cluster mode: an unwritable one does not matter.
      const checked = await cli("check-config", "--database-path", join(dir, "no/such/dir/relay.db"));
      expect(checked.code).toBe(0);
      expect(checked.out).toContain("config ok");
      expect(checked.out).toContain("(cluster mode)");
      expect(checked.out).toContain("***");
      expect(checked.out + checked.err + migrated.out + migrated.err).not.toContain(PASSWORD);
    } finally {
      cleanup();
    }
  });

  test("check-config reads the database without migrating it; migrate migrates it once", async () => {
    const admin = new SQL(POSTGRES_ADMIN_URL, { max: 1 });
    const name = `relay_cc_${process.pid}`;
    const u = new URL(POSTGRES_ADMIN_URL);
    u.pathname = `/${name}`;
    await admin.unsafe(`CREATE DATABASE ${name}`);
    try {
      const out: string[] = [];
      expect(
        await main(
          ["check-config", "--database-url", u.toString()],
          (s) => out.push(s),
          () => {},
        ),
      ).toBe(0);
      expect(out.join("\n")).toContain("config ok");
      const db = new SQL(u.toString(), { max: 1 });
      const [row] = await db`SELECT to_regclass('kv') IS NULL AS absent`;
      await db.close();
      expect(row.absent).toBe(true);
      // `migrate` is what creates the tables, once.
      const applied: string[] = [];
      expect(
        await main(
          ["migrate", "--database-url", u.toString()],
          (s) => applied.push(s),
          () => {},
        ),
      ).toBe(0);
      expect(applied.join("\n")).toMatch(/^applied \d+ migration\(s\) to postgres:\/\//);
      const again: string[] = [];
      await main(
        ["migrate", "--database-url", u.toString()],
        (s) => again.push(s),
        () => {},
      );
      expect(again.join("\n")).toContain("is up to date");
    } finally {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.close();
    }
  });

  test("check-config with an unreachable database: exit 2 naming DATABASE_URL, no password", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      ["check-config", "--database-url", `postgres://root:${PASSWORD}@127.0.0.1:1/nowhere`],
      (s) => out.push(s),
      (s) => err.push(s),
    );
    expect(code).toBe(2);
    expect(err.join("\n")).toContain("DATABASE_URL");
    expect(out.join("\n") + err.join("\n")).not.toContain(PASSWORD);
  });

  test("users add, list, revoke, set-llm and token issue; chats bind, list, unbind", async () => {
    const added = await cli("users", "add", "--open-id", "ou_pg_one", "--name", "One");
    expect(added.code).toBe(0);
    expect(added.out).toContain("created user");
    expect((await cli("users", "add", "--open-id", "ou_pg_one")).out).toContain("user exists");
    await cli("users", "add", "--open-id", "ou_pg_two");
    expect((await cli("token", "issue", "ou_pg_two")).out).toContain("new token issued");
    expect((await cli("users", "revoke", "ou_pg_two")).out).toContain("revoked every token");
    const providers = JSON.stringify({ alpha: { baseUrl: "https://llm.example", apiKey: "k", model: "m" } });
    const set = await cli("users", "set-llm", "ou_pg_one", "alpha", "--llm-providers", providers);
    expect(set.code).toBe(0);
    const listed = JSON.parse((await cli("users", "list", "--json")).out).users;
    expect(listed).toMatchObject([
      { openId: "ou_pg_one", name: "One", status: "offline", llmProvider: "alpha", pending: 0 },
      { openId: "ou_pg_two", status: "revoked", revoked: true },
    ]);
    const oneId = listed[0].id;
    expect((await cli("chats", "bind", "oc_pg_team", oneId, "--no-mention")).code).toBe(0);
    const chats = JSON.parse((await cli("chats", "list", "--json")).out).chats;
    expect(chats).toMatchObject([
      {
        chatId: "oc_pg_team",
        ownerOpenId: "ou_pg_one",
        ownerName: "One",
        requireMention: false,
        boundBy: "admin",
      },
    ]);
    expect((await cli("chats", "unbind", "oc_pg_team")).out).toBe("unbound oc_pg_team");
    expect((await cli("chats", "unbind", "oc_pg_team")).code).toBe(2);
  });
});
