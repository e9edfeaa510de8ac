import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../../src/db/open.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { tempDir } from "../helpers.ts";

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe("database file permissions", () => {
  test("a new data directory is 0700 and relay.db, -wal and -shm are 0600, whatever the umask", () => {
    const { dir, cleanup } = tempDir();
    const before = process.umask(0o022);
    try {
      const data = join(dir, "data");
      const path = join(data, "relay.db");
      const { log, lines } = memoryLogger();
      const db = openDatabase(path, { log });
      db.$client.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
      expect(modeOf(data)).toBe("700");
      for (const file of [path, `${path}-wal`, `${path}-shm`]) expect(modeOf(file)).toBe("600");
      db.$client.close();
      expect(lines.filter((l) => l.includes("db_permissions"))).toEqual([]);
    } finally {
      process.umask(before);
      cleanup();
    }
  });

  test("an existing looser directory and files are tightened at start, with a log line each", () => {
    const { dir, cleanup } = tempDir();
    try {
      const data = join(dir, "data");
      const path = join(data, "relay.db");
      mkdirSync(data);
      openDatabase(path).$client.close();
      writeFileSync(`${path}-wal`, "");
      chmodSync(data, 0o755);
      chmodSync(path, 0o644);
      chmodSync(`${path}-wal`, 0o664);
      const { log, lines } = memoryLogger();
      openDatabase(path, { log }).$client.close();
      expect(modeOf(data)).toBe("700");
      expect(modeOf(path)).toBe("600");
      const events = lines.map((l) => JSON.parse(l)).filter((e) => e.event === "db_permissions_tightened");
      expect(events.map((e) => [e.path, e.from, e.to])).toEqual([
        [data, "755", "700"],
        [path, "644", "600"],
        [`${path}-wal`, "664", "600"],
      ]);
    } finally {
      cleanup();
    }
  });
});
