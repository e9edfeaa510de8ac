import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Db, migrate, openDatabase } from "../../src/db/open.ts";
import { SqliteMediaRecords } from "../../src/media/media-records.ts";
import { MediaStore, mediaFolderFor } from "../../src/media/media-store.ts";
import { HttpError } from "../../src/ops/errors.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { tempDir } from "../helpers.ts";

const HOUR = 3600_000;
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setup(over: { maxBytes?: number; quotaBytes?: number } = {}) {
  const tmp = tempDir();
  const db: Db = openDatabase(join(tmp.dir, "relay.db"));
  migrate(db);
  db.$client.run("INSERT INTO users (id, open_id) VALUES (1, 'ou_a'), (2, 'ou_b')");
  let now = 1_000_000;
  const { log } = memoryLogger();
  const dir = mediaFolderFor(join(tmp.dir, "relay.db")).dir;
  const store = new MediaStore(new SqliteMediaRecords(db.$client), {
    dir,
    log,
    now: () => now,
    maxBytes: over.maxBytes ?? 1000,
    quotaBytes: over.quotaBytes ?? 2500,
    retentionMs: 24 * HOUR,
  });
  cleanups.push(() => {
    db.$client.close();
    tmp.cleanup();
  });
  const rows = () => db.$client.query<{ n: number }, []>("SELECT count(*) AS n FROM media").get()!.n;
  const pin = (mediaId: string, status: string, uuid = mediaId) =>
    db.$client.run(
      `INSERT INTO outbox (user_id, uuid, request, status, next_attempt_at, deadline_at, created_at, updated_at, media_id)
       VALUES (1, ?, '{}', ?, 0, 0, 0, 0, ?)`,
      [uuid, status, mediaId],
    );
  return { db, store, dir, rows, pin, advance: (ms: number) => (now += ms), now: () => now };
}

/** A body in chunks; `pulled` counts how much of it the store read. */
function body(...chunks: Uint8Array[]) {
  const state = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(ctrl) {
      const next = chunks.shift();
      if (!next) return ctrl.close();
      state.pulled += next.byteLength;
      ctrl.enqueue(next);
    },
  });
  return { stream, state };
}

const bytes = (n: number, fill = 7) => new Uint8Array(n).fill(fill);
const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return "resolved";
  } catch (err) {
    return err instanceof HttpError ? `${err.status} ${err.code}` : String(err);
  }
};

describe("media store", () => {
  test("stores the bytes as a private file with a row: size, sha256, MIME, name, expiry", async () => {
    const s = setup();
    const data = bytes(600, 3);
    const rec = await s.store.put(1, body(data.subarray(0, 200), data.subarray(200)).stream, {
      mime: "image/png",
      name: "a.png",
    });
    expect(rec).toMatchObject({
      userId: 1,
      size: 600,
      mime: "image/png",
      name: "a.png",
      sha256: createHash("sha256").update(data).digest("hex"),
      expiresAt: s.now() + 24 * HOUR,
    });
    expect(readdirSync(s.dir)).toEqual([rec.id]);
    expect(statSync(s.store.path(rec.id)).mode & 0o777).toBe(0o600);
    expect(statSync(s.dir).mode & 0o777).toBe(0o700);
    expect(new Uint8Array(await Bun.file(s.store.path(rec.id)).arrayBuffer())).toEqual(data);
    expect(await s.store.find(1, rec.id)).toEqual(rec);
  });

  test("too large: refused by the declared length before reading, or while counting; nothing left", async () => {
    const s = setup();
    const declared = body(bytes(10));
    expect(await codeOf(s.store.put(1, declared.stream, { mime: "image/png", declaredLength: 1001 }))).toBe(
      "413 media_too_large",
    );
    // Refused on the header alone: nobody even took a reader on the body.
    expect(declared.stream.locked).toBe(false);
    const counted = body(bytes(600), bytes(600), bytes(600), bytes(600), bytes(600));
    expect(await codeOf(s.store.put(1, counted.stream, { mime: "image/png" }))).toBe("413 media_too_large");
    // Reading stops at the limit (the stream may have fetched one chunk ahead).
    expect(counted.state.pulled).toBeLessThanOrEqual(1800);
    expect(readdirSync(s.dir)).toEqual([]);
    expect(s.rows()).toBe(0);
  });

  test("empty bodies are empty_media and leave nothing", async () => {
    const s = setup();
    expect(await codeOf(s.store.put(1, body().stream, { mime: "image/png" }))).toBe("400 empty_media");
    expect(await codeOf(s.store.put(1, null, { mime: "image/png" }))).toBe("400 empty_media");
    expect(readdirSync(s.dir)).toEqual([]);
  });

  test("an upload cut off midway is a clear 400 and leaves no file", async () => {
    const s = setup();
    let sent = false;
    const broken = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        if (sent) return ctrl.error(new Error("connection reset"));
        sent = true;
        ctrl.enqueue(bytes(100));
      },
    });
    expect(await codeOf(s.store.put(1, broken, { mime: "image/png" }))).toBe("400 bad_request");
    expect(readdirSync(s.dir)).toEqual([]);
    expect(s.rows()).toBe(0);
  });

  test("the quota counts each user's stored bytes, declared or counted", async () => {
    const s = setup();
    await s.store.put(1, body(bytes(1000)).stream, { mime: "image/png" });
    await s.store.put(1, body(bytes(1000)).stream, { mime: "image/png" });
    expect(await s.store.usage(1)).toBe(2000);
    expect(
      await codeOf(s.store.put(1, body(bytes(10)).stream, { mime: "image/png", declaredLength: 501 })),
    ).toBe("413 media_quota_exceeded");
    expect(await codeOf(s.store.put(1, body(bytes(501)).stream, { mime: "image/png" }))).toBe(
      "413 media_quota_exceeded",
    );
    await s.store.put(1, body(bytes(500)).stream, { mime: "image/png" });
    await s.store.put(2, body(bytes(1000)).stream, { mime: "image/png" });
    expect(readdirSync(s.dir)).toHaveLength(4);
  });

  test("only the uploader finds its media, and only until it expires", async () => {
    const s = setup();
    const rec = await s.store.put(1, body(bytes(5)).stream, { mime: "text/plain" });
    expect(await s.store.find(2, rec.id)).toBeUndefined();
    expect(await s.store.find(1, "med_unknown")).toBeUndefined();
    s.advance(24 * HOUR);
    expect(await s.store.find(1, rec.id)).toBeUndefined();
    expect(await s.store.byId(rec.id)).toEqual(rec);
  });

  test("the sweep deletes expired media no waiting send uses, and media whose send was sent", async () => {
    const s = setup();
    const put = () => s.store.put(1, body(bytes(5)).stream, { mime: "text/plain" });
    const unused = await put();
    const waiting = await put();
    const sent = await put();
    const fresh = await put();
    s.pin(waiting.id, "pending");
    s.pin(sent.id, "sent");
    s.advance(24 * HOUR);
    const late = await put();
    expect(await s.store.sweep()).toEqual({ removed: 3, orphans: 0 });
    expect(readdirSync(s.dir).sort()).toEqual([waiting.id, late.id].sort());
    expect(
      (await s.store.byId(unused.id)) ?? (await s.store.byId(fresh.id)) ?? (await s.store.byId(sent.id)),
    ).toBeUndefined();
  });

  test("files without a row (a crash between rename and commit) and half-written parts are swept", async () => {
    const s = setup();
    const kept = await s.store.put(1, body(bytes(5)).stream, { mime: "text/plain" });
    writeFileSync(join(s.dir, "med_crashed"), "x");
    writeFileSync(join(s.dir, "med_half.part"), "x");
    expect(await s.store.sweep()).toEqual({ removed: 0, orphans: 2 });
    expect(readdirSync(s.dir)).toEqual([kept.id]);
  });

  test("an upload still being written is not an orphan", async () => {
    const s = setup();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let sent = false;
    const slow = new ReadableStream<Uint8Array>({
      async pull(ctrl) {
        if (sent) return ctrl.close();
        ctrl.enqueue(bytes(5));
        sent = true;
        await gate;
      },
    });
    const pending = s.store.put(1, slow, { mime: "text/plain" });
    await Bun.sleep(5);
    expect(readdirSync(s.dir).some((f) => f.endsWith(".part"))).toBe(true);
    expect((await s.store.sweep()).orphans).toBe(0);
    release();
    const rec = await pending;
    expect(readdirSync(s.dir)).toEqual([rec.id]);
  });

  test("release after a send deletes the media unless another waiting send still uses it", async () => {
    const s = setup();
    const rec = await s.store.put(1, body(bytes(5)).stream, { mime: "text/plain" });
    s.pin(rec.id, "pending", "second-send");
    await s.store.release(rec.id);
    expect(existsSync(s.store.path(rec.id))).toBe(true);
    s.db.$client.run("UPDATE outbox SET status = 'sent'");
    await s.store.release(rec.id);
    expect(existsSync(s.store.path(rec.id))).toBe(false);
    expect(s.rows()).toBe(0);
  });

  test("a media folder left readable by others is made private", () => {
    const tmp = tempDir();
    const dir = join(tmp.dir, "media");
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const db = openDatabase(join(tmp.dir, "relay.db"));
    migrate(db);
    new MediaStore(new SqliteMediaRecords(db.$client), {
      dir,
      log: memoryLogger().log,
      maxBytes: 1,
      quotaBytes: 1,
      retentionMs: 1,
    });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    db.$client.close();
    tmp.cleanup();
  });

  test("an in-memory database keeps its media in a temporary folder, removed on close", () => {
    const folder = mediaFolderFor(":memory:");
    expect(folder.temporary).toBe(true);
    const db = openDatabase(":memory:");
    migrate(db);
    const store = new MediaStore(new SqliteMediaRecords(db.$client), {
      ...folder,
      log: memoryLogger().log,
      maxBytes: 1,
      quotaBytes: 1,
      retentionMs: 1,
    });
    expect(existsSync(folder.dir)).toBe(true);
    store.close();
    expect(existsSync(folder.dir)).toBe(false);
    expect(mediaFolderFor("/var/lib/relay/relay.db")).toEqual({
      dir: "/var/lib/relay/media",
      temporary: false,
    });
  });
});
