import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main, UsageError } from "../../src/cli/main.ts";
import { tokenIssue, usersAdd, usersList, usersRevoke, usersSetLlm } from "../../src/cli/users.ts";
import { createRelay } from "../../src/server.ts";

const dir = mkdtempSync(join(tmpdir(), "relay-cli-"));
const raw = {
  DATABASE_PATH: join(dir, "relay.db"),
  LLM_PROVIDERS: JSON.stringify({ alpha: { baseUrl: "https://a.example", apiKey: "k", model: "m" } }),
};
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tokenOf = (out: string) => /^token:\s+(\S+)$/m.exec(out)![1]!;

/** Checks a CLI-issued token the way the server would, with the same database (and JWT secret). */
async function serverAccepts(token: string): Promise<boolean> {
  const relay = await createRelay({ ...raw, PORT: "0" });
  try {
    return (await relay.ctx.tokens.verify(token)) !== null;
  } finally {
    await relay.stop();
  }
}

describe("users and token commands", () => {
  test("users add prints the user and a token the server accepts", async () => {
    const out = await usersAdd({ "open-id": "ou_cli1", name: "Cli One" }, raw);
    expect(out).toContain("created user");
    expect(out).toContain("open_id:  ou_cli1");
    expect(out).toContain("name:     Cli One");
    expect(await serverAccepts(tokenOf(out))).toBe(true);
    expect(await usersAdd({ "open-id": "ou_cli1" }, raw)).toContain("user exists; new token issued");
  });

  test("users list, token issue and users revoke by id or open_id", async () => {
    await usersAdd({ "open-id": "ou_cli2" }, raw);
    const list = await usersList({}, raw);
    expect(list.split("\n")[0]).toMatch(/^ID\s+OPEN_ID\s+NAME\s+STATUS\s+PENDING\s+LAST_SEEN\s+LLM$/);
    expect(list).toMatch(/^1\s+ou_cli1\s+Cli One\s+offline\s+0\s+never\s+-$/m);
    expect(list).toMatch(/^2\s+ou_cli2\s+-\s+offline\s+0\s+never\s+-$/m);

    const token = tokenOf(await tokenIssue("ou_cli2", raw));
    expect(await serverAccepts(token)).toBe(true);
    expect(await usersRevoke("2", raw)).toBe("revoked every token of user 2 (ou_cli2)");
    expect(await serverAccepts(token)).toBe(false);
    expect(await serverAccepts(tokenOf(await tokenIssue("2", raw)))).toBe(true);
  });

  test("users set-llm assigns a declared provider", async () => {
    expect(await usersSetLlm("ou_cli1", "alpha", raw)).toBe("user 1 (ou_cli1) now uses alpha");
    expect(await usersList({}, raw)).toMatch(/^1\s+ou_cli1\s+Cli One\s+offline\s+0\s+never\s+alpha$/m);
    expect(await usersSetLlm("1", "default", raw)).toContain("the default provider (alpha)");
    await expect(usersSetLlm("1", "nope", raw)).rejects.toBeInstanceOf(UsageError);
  });

  test("wrong arguments are usage errors: exit code 2 with one line", async () => {
    expect(() => usersAdd({}, raw)).toThrow(UsageError);
    expect(() => usersAdd({ "open-id": "not-an-open-id" }, raw)).toThrow(UsageError);
    await expect(usersRevoke(undefined, raw)).rejects.toBeInstanceOf(UsageError);
    await expect(tokenIssue("ou_nobody", raw)).rejects.toBeInstanceOf(UsageError);

    const errors: string[] = [];
    const run = (argv: string[]) =>
      main(
        [...argv, "--database-path", raw.DATABASE_PATH],
        () => {},
        (l) => errors.push(l),
      );
    expect(await run(["users", "frobnicate"])).toBe(2);
    expect(await run(["users", "add"])).toBe(2);
    expect(await run(["token"])).toBe(2);
    expect(await run(["users", "revoke", "999"])).toBe(2);
    expect(errors).toHaveLength(4);
    expect(errors[1]).toContain("usage: users add --open-id");

    const out: string[] = [];
    expect(await main(["users", "list", "--database-path", raw.DATABASE_PATH], (l) => out.push(l))).toBe(0);
    expect(out[0]).toContain("ou_cli1");
  });
});
