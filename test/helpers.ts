/** Small shared test helpers: temp dirs, a relay on a temp SQLite file, requests through app.handle. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Raw } from "../src/config/definition.ts";
import { memoryLogger } from "../src/ops/logger.ts";
import { createRelay, type RelayDeps } from "../src/server.ts";
import { testDatabase } from "./storage/databases.ts";

export function tempDir(prefix = "relay-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A relay on a fresh SQLite file, logging to memory; `lines` lets tests assert on logs. */
export async function testRelay(raw: Raw = {}, deps: RelayDeps = {}) {
  const { dir, cleanup } = tempDir();
  const { log, lines } = memoryLogger();
  // A test restarting "the same relay" passes the database it got from `testDatabase` itself.
  const database = raw.DATABASE_URL ? { raw: {}, drop: async () => {} } : await testDatabase(dir);
  const relay = await createRelay(
    { HOST: "127.0.0.1", PORT: "0", ...database.raw, ...raw },
    { log, ...deps },
  );
  return {
    relay,
    dir,
    lines,
    /** The raw config naming this relay's database, for a CLI command or a restart on the same data. */
    databaseRaw: raw.DATABASE_URL
      ? { DATABASE_URL: raw.DATABASE_URL, ...(raw.DATABASE_PATH ? { DATABASE_PATH: raw.DATABASE_PATH } : {}) }
      : (database.raw as Raw),
    async close() {
      await relay.stop();
      await database.drop();
      cleanup();
    },
  };
}

export function request(path: string, init: RequestInit & { json?: unknown } = {}): Request {
  const { json, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (json !== undefined) headers.set("content-type", "application/json");
  return new Request(`http://localhost${path}`, {
    ...rest,
    headers,
    body: json !== undefined ? JSON.stringify(json) : rest.body,
  });
}
