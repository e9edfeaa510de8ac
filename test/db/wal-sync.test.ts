import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../../src/db/open.ts";
import { type FdataSync, WalSync } from "../../src/db/wal-sync.ts";
import { tempDir } from "../helpers.ts";

/** An fdatasync whose completions the test releases by hand. */
function heldSync() {
  const waiting: Array<(err: NodeJS.ErrnoException | null) => void> = [];
  const fdatasync: FdataSync = (_fd, done) => {
    waiting.push(done);
  };
  return {
    fdatasync,
    get calls() {
      return waiting.length;
    },
    finish: (i: number, err: NodeJS.ErrnoException | null = null) => waiting[i]!(err),
  };
}

const settled = async (p: Promise<unknown>) => {
  let state = "pending";
  p.then(
    () => (state = "resolved"),
    () => (state = "rejected"),
  );
  await Bun.sleep(0);
  return state;
};

describe("WAL group sync", () => {
  test("calls during a running fsync share the next one, which starts when it ends", async () => {
    const { dir, cleanup } = tempDir();
    const wal = join(dir, "x.db-wal");
    writeFileSync(wal, "");
    const held = heldSync();
    const sync = new WalSync({ walPath: wal, fdatasync: held.fdatasync });
    const first = sync.sync();
    const second = sync.sync();
    const third = sync.sync();
    expect(held.calls).toBe(1);
    expect(await settled(second)).toBe("pending");
    held.finish(0);
    expect(await settled(first)).toBe("resolved");
    // The running fsync may have started before the later writes: they need one of their own.
    expect(await settled(second)).toBe("pending");
    expect(held.calls).toBe(2);
    held.finish(1);
    expect(await settled(second)).toBe("resolved");
    expect(await settled(third)).toBe("resolved");
    await sync.close();
    cleanup();
  });

  test("a failed fsync rejects its callers; the next call tries again", async () => {
    const { dir, cleanup } = tempDir();
    const wal = join(dir, "x.db-wal");
    writeFileSync(wal, "");
    const held = heldSync();
    const sync = new WalSync({ walPath: wal, fdatasync: held.fdatasync });
    const failing = sync.sync();
    held.finish(0, Object.assign(new Error("EIO"), { code: "EIO" }));
    await expect(failing).rejects.toThrow("EIO");
    const next = sync.sync();
    expect(held.calls).toBe(2);
    held.finish(1);
    await next;
    await sync.close();
    cleanup();
  });

  test("an in-memory database has nothing to sync; a WAL file database syncs its -wal file", async () => {
    const memory = openDatabase(":memory:").$client;
    const none = WalSync.forDatabase(memory);
    await none.sync();
    const { dir, cleanup } = tempDir();
    const file = openDatabase(join(dir, "real.db")).$client;
    file.run("CREATE TABLE t (x)");
    const real = WalSync.forDatabase(file);
    await real.sync(); // a real fdatasync of real.db-wal
    await real.close();
    file.close();
    cleanup();
  });
});
