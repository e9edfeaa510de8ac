import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../../src/db/open.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { tempDir } from "../helpers.ts";

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

/** Runs `fn` on a fresh temporary folder, removed afterwards. */
function inTempDir(fn: (dir: string) => void): void {
  const { dir, cleanup } = tempDir();
  try {
    fn(dir);
  } finally {
    cleanup();
  }
}

/** The permission events a relay logged, parsed. */
const permissionEvents = (lines: string[]) =>
  lines.map((l) => JSON.parse(l)).filter((e) => e.event?.startsWith("db_permissions"));

describe("database file permissions", () => {
  test("a new data directory is 0700 and relay.db, -wal and -shm are 0600, whatever the umask", () => {
    inTempDir((dir) => {
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
      }
    });
  });

  test("an existing looser directory and files are tightened at start, with a log line each", () => {
    inTempDir((dir) => {
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
      const events = permissionEvents(lines);
      expect(events.map((e) => [e.event, e.path, e.from, e.to])).toEqual([
        ["db_permissions_tightened", data, "755", "700"],
        ["db_permissions_tightened", path, "644", "600"],
        ["db_permissions_tightened", `${path}-wal`, "664", "600"],
      ]);
    });
  });

  test("a directory that is not the relay's own is left as it is and reported; the files are still 0600", () => {
    inTempDir((dir) => {
      // A folder with other things in it (the working directory, /var/lib, a home) and a sticky shared
      // one (/tmp): chmod 0700 would lock every other user of it out.
      const shared = join(dir, "shared");
      mkdirSync(shared);
      writeFileSync(join(shared, "someone-else.txt"), "x");
      chmodSync(shared, 0o755);
      const sticky = join(dir, "sticky");
      mkdirSync(sticky);
      chmodSync(sticky, 0o1777);
      for (const [folder, mode] of [
        [shared, "755"],
        [sticky, "777"],
      ] as const) {
        const path = join(folder, "relay.db");
        const { log, lines } = memoryLogger();
        openDatabase(path, { log }).$client.close();
        expect(modeOf(folder)).toBe(mode);
        expect(modeOf(path)).toBe("600");
        const events = permissionEvents(lines);
        expect(events.map((e) => [e.event, e.path, e.from, e.to, e.reason])).toEqual([
          ["db_permissions_too_open", folder, mode, "unchanged", "shared_directory"],
        ]);
      }
      expect(statSync(sticky).mode & 0o1000).toBe(0o1000);
    });
  });

  test("the relay's own folder (the database, its side files, the media folder) is tightened", () => {
    inTempDir((dir) => {
      const data = join(dir, "data");
      const path = join(data, "relay.db");
      openDatabase(path).$client.close();
      mkdirSync(join(data, "media"));
      writeFileSync(`${path}-journal`, "");
      chmodSync(data, 0o750);
      openDatabase(path, { log: memoryLogger().log }).$client.close();
      expect(modeOf(data)).toBe("700");
    });
  });
});
