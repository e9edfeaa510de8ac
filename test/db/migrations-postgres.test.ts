import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { POSTGRES_MIGRATIONS } from "../../src/db/migrations.generated.ts";
import { migratePostgres, openPostgres } from "../../src/db/postgres.ts";
import { freshPostgresUrl, postgresReachable } from "../storage/databases.ts";

const root = join(import.meta.dir, "../..");
const pgUp = await postgresReachable();
const journal = JSON.parse(readFileSync(join(root, "drizzle/postgres/meta/_journal.json"), "utf8")) as {
  entries: { tag: string; when: number }[];
};

describe("PostgreSQL migrations", () => {
  test("journal timestamps strictly increase (drizzle skips older-stamped migrations)", () => {
    for (let i = 1; i < journal.entries.length; i++) {
      expect(journal.entries[i]!.when).toBeGreaterThan(journal.entries[i - 1]!.when);
    }
  });

  test("the embedded migrations are exactly drizzle/postgres (run `bun run db:generate` after a schema change)", () => {
    const files = readdirSync(join(root, "drizzle/postgres")).filter((f) => f.endsWith(".sql"));
    expect(POSTGRES_MIGRATIONS.map((m) => `${m.tag}.sql`).sort()).toEqual(files.sort());
    for (const m of POSTGRES_MIGRATIONS) {
      expect(m.sql).toBe(readFileSync(join(root, "drizzle/postgres", `${m.tag}.sql`), "utf8"));
      expect(m.when).toBe(journal.entries.find((e) => e.tag === m.tag)!.when);
    }
  });

  test.if(pgUp)(
    "nodes migrating one empty database at once apply each migration once; again is a no-op",
    async () => {
      const { url, drop } = await freshPostgresUrl();
      // freshPostgresUrl clones a migrated template: start from an empty database instead.
      const dbs = [
        openPostgres(url, { max: 1 }),
        openPostgres(url, { max: 1 }),
        openPostgres(url, { max: 1 }),
      ];
      try {
        await dbs[0]!.$client.unsafe(
          "DROP SCHEMA public CASCADE; CREATE SCHEMA public; DROP SCHEMA drizzle CASCADE",
        );
        const applied = await Promise.all(dbs.map((db) => migratePostgres(db)));
        expect(applied.reduce((a, b) => a + b, 0)).toBe(POSTGRES_MIGRATIONS.length);
        expect(await migratePostgres(dbs[0]!)).toBe(0);
        const tables = (
          await dbs[0]!.$client`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`
        ).map((r: { tablename: string }) => r.tablename);
        for (const t of [
          "users",
          "sessions",
          "inbox",
          "outbox",
          "chats",
          "kv",
          "seen_events",
          "nodes",
          "rate_slots",
        ])
          expect(tables).toContain(t);
      } finally {
        for (const db of dbs) await db.$client.close();
        await drop();
      }
    },
  );
});
