import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { main } from "../../src/cli/main.ts";
import { tempDir } from "../helpers.ts";

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    argv,
    (l) => out.push(l),
    (l) => err.push(l),
  );
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("CLI help and flags", () => {
  test("-h and --help print every command and the configuration flags", async () => {
    for (const flag of ["-h", "--help"]) {
      const r = await run(flag);
      expect(r.code).toBe(0);
      for (const c of ["serve", "users list [--json]", "chats bind", "token issue", "healthcheck"])
        expect(r.out).toContain(c);
      expect(r.out).toContain("--database-path");
    }
  });

  test("per command: users --help lists its sub-commands; users list -h its flags", async () => {
    const users = await run("users", "--help");
    expect(users.code).toBe(0);
    expect(users.out).toStartWith("Usage: openclaw-relay users");
    for (const sub of ["users add", "users list", "users revoke", "users set-llm"])
      expect(users.out).toContain(sub);
    const list = await run("users", "list", "-h");
    expect(list.out).toStartWith("Usage: openclaw-relay users list [--json]");
    expect(list.out).toContain("--json");
  });

  test("chats bind --help is about bind only", async () => {
    const r = await run("chats", "bind", "--help");
    expect(r.code).toBe(0);
    expect(r.out).toStartWith("Usage: openclaw-relay chats bind <chat_id> <id|open_id> [--no-mention]");
    expect(r.out).toContain("--no-mention");
    expect(r.out).not.toContain("unbind");
    expect((await run("help", "chats", "bind")).out).toBe(r.out);
  });

  test("an unknown flag is an error naming it, exit code 2, nothing run", async () => {
    const { dir, cleanup } = tempDir();
    const db = ["--database-path", join(dir, "r.db")];
    try {
      const list = await run("users", "list", "--bogus", ...db);
      expect(list).toEqual({
        code: 2,
        out: "",
        err: 'unknown flag --bogus for "users list"; see openclaw-relay users list --help',
      });
      // --json belongs to list, not to add.
      expect((await run("users", "add", "--open-id", "ou_x", "--json", ...db)).err).toContain("--json");
      expect((await run("chats", "bind", "oc_1", "1", "-x", ...db)).err).toContain("-x");
      expect((await run("serve", "--frobnicate", ...db)).code).toBe(2);
      expect((await run("migrate", "--nope", ...db)).err).toContain('--nope for "migrate"');
    } finally {
      cleanup();
    }
  });
});
