import { describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { memoryLogger } from "../../src/ops/logger.ts";
import { isDatabaseBusy, sendFailure } from "../../src/relay/send-failure.ts";

const pgServerError = (errno: string) =>
  Object.assign(new Error("server said no"), {
    name: "PostgresError",
    code: "ERR_POSTGRES_SERVER_ERROR",
    errno,
  });

describe("a database that refuses for now", () => {
  test("SQLite's lock errors are busy", () => {
    expect(isDatabaseBusy(Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" }))).toBe(
      true,
    );
    expect(isDatabaseBusy(Object.assign(new Error("x"), { code: "SQLITE_CONSTRAINT_UNIQUE" }))).toBe(false);
  });

  test("an unreachable PostgreSQL is busy (Bun's own error, as the driver throws it)", async () => {
    const sql = new SQL("postgres://root@127.0.0.1:9/postgres", { max: 1, connectionTimeout: 1 });
    const err = await sql`SELECT 1`.catch((e: unknown) => e);
    await sql.close().catch(() => {});
    expect(isDatabaseBusy(err)).toBe(true);
  });

  test("PostgreSQL's transient states are busy, also wrapped by Drizzle; other errors are not", () => {
    expect(isDatabaseBusy(pgServerError("40001"))).toBe(true);
    expect(isDatabaseBusy(new Error("Failed query: …", { cause: pgServerError("40P01") }))).toBe(true);
    expect(isDatabaseBusy(pgServerError("22012"))).toBe(false);
    expect(isDatabaseBusy(new Error("bug"))).toBe(false);
    expect(isDatabaseBusy(undefined)).toBe(false);
  });

  test("a busy database answers unavailable with a retry; anything else is an internal error", () => {
    const { log } = memoryLogger();
    expect(sendFailure(pgServerError("55P03"), log)).toMatchObject({ code: "unavailable", retryable: true });
    expect(sendFailure(new Error("bug"), log)).toMatchObject({ code: "internal_error", retryable: false });
  });
});
