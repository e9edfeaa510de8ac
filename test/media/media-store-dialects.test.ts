/** The media store over each adapter of its records: uploads, quota, release and sweep. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMediaRecords } from "../../src/media/media-records.ts";
import { MediaStore } from "../../src/media/media-store.ts";
import type { HttpError } from "../../src/ops/errors.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { eachDialect, freshStorage } from "../storage/databases.ts";
import { addUser } from "../storage/users.ts";

const stream = (n: number) => new Blob([new Uint8Array(n).fill(1)]).stream();

eachDialect("media store", (dialect) => {
  let close: () => Promise<void>;
  let store: MediaStore;
  let dir: string;
  let user: number;
  const clock = { t: 1_000_000 };
  beforeEach(async () => {
    const fresh = await freshStorage(dialect);
    close = fresh.close;
    dir = mkdtempSync(join(tmpdir(), "relay-media-test-"));
    store = new MediaStore(createMediaRecords(fresh.storage), {
      dir,
      now: () => clock.t,
      log: memoryLogger().log,
      maxBytes: 1000,
      quotaBytes: 1500,
      retentionMs: 60_000,
    });
    user = await addUser(fresh.storage, "ou_m");
  });
  afterEach(async () => {
    await close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("an upload is stored, found by its owner, counted, and refused past the quota", async () => {
    const rec = await store.put(user, stream(800), { mime: "image/png" });
    expect(await store.find(user, rec.id)).toEqual(rec);
    expect(await store.find(user + 1, rec.id)).toBeUndefined();
    expect(await store.usage(user)).toBe(800);
    const over = await store.put(user, stream(800), { mime: "image/png" }).catch((e: unknown) => e);
    expect((over as HttpError).code).toBe("media_quota_exceeded");
    expect(readdirSync(dir)).toEqual([rec.id]);
    expect(await store.hasFile(rec.id)).toBe(true);
  });

  test("release deletes the media; the sweep removes expired media and files without a row", async () => {
    const sent = await store.put(user, stream(10), { mime: "image/png" });
    const old = await store.put(user, stream(10), { mime: "image/png" });
    await store.release(sent.id);
    expect(await store.byId(sent.id)).toBeUndefined();
    expect(existsSync(store.path(sent.id))).toBe(false);
    // Another node deleted a row whose file is here: this node's sweep removes the file.
    writeFileSync(store.path("med_elsewhere"), "x");
    clock.t += 60_000;
    expect(await store.sweep()).toEqual({ removed: 1, orphans: 1 });
    expect(await store.byId(old.id)).toBeUndefined();
    expect(readdirSync(dir)).toEqual([]);
  });
});
