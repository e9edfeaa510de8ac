import { describe, expect, spyOn, test } from "bun:test";
import * as fs from "node:fs";
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

  test("an in-memory database has nothing to sync; a WAL file database fdatasyncs its own -wal file", async () => {
    // node's fdatasync itself is watched (and still called): the default must really reach the disk.
    const spy = spyOn(fs, "fdatasync");
    try {
      const memory = openDatabase(":memory:").$client;
      await WalSync.forDatabase(memory).sync();
      expect(spy).not.toHaveBeenCalled();
      memory.close();

      const { dir, cleanup } = tempDir();
      const path = join(dir, "real.db");
      const file = openDatabase(path).$client;
      file.run("CREATE TABLE t (x)");
      const real = WalSync.forDatabase(file);
      await real.sync();
      expect(spy).toHaveBeenCalledTimes(1);
      const fd = spy.mock.calls[0]![0] as number;
      expect(fs.fstatSync(fd).ino).toBe(fs.statSync(`${path}-wal`).ino);
      await real.close();
      file.close();
      cleanup();
    } finally {
      spy.mockRestore();
    }
  });
});
