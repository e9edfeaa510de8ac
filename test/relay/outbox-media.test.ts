/** The outbox's part in media sends (M2-2): the admission check, and the upload key kept in the row. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import { type Admission, Outbox, type SendPort } from "../../src/relay/outbox.ts";
import { SqliteOutboxStore } from "../../src/relay/outbox-store-sqlite.ts";
import type { SendRequest } from "../../src/relay/protocol.ts";
import type { DeliveryTarget } from "../../src/relay/targets.ts";
import { tempDir } from "../helpers.ts";

const target: DeliveryTarget = { kind: "create", receiveIdType: "open_id", receiveId: "ou_o" };
const image: SendRequest = { msgType: "image", mediaId: "med_1", text: "caption" };
const transient = () => Object.assign(new Error("bad gateway"), { code: 502, retryable: true });

function setup(port: SendPort, more: { admit?: Admission; onSent?: (r: SendRequest) => void } = {}) {
  const dir = tempDir();
  const path = join(dir.dir, "o.db");
  let now = 1_000_000;
  const open = () => {
    const db = openDatabase(path);
    migrate(db);
    db.$client.run("INSERT OR IGNORE INTO users (id, open_id) VALUES (1, 'ou_o')");
    const outbox = new Outbox(new SqliteOutboxStore(db), {
      now: () => now,
      log: memoryLogger().log,
      metrics: new Registry(),
      port: () => port,
      deadlineMs: 600_000,
      random: () => 1,
      ...more,
    });
    return { db, outbox };
  };
  return { open, advance: (ms: number) => (now += ms), cleanup: dir.cleanup };
}

describe("outbox media sends", () => {
  test("the upload key is recorded before the send, and a retry after a failed send reuses it", async () => {
    const keys: Array<string | undefined> = [];
    let uploads = 0;
    let attempts = 0;
    const s = setup(async (_t, req, _u, _o, slot) => {
      expect(req.mediaId).toBe("med_1");
      keys.push(slot?.key);
      if (!slot?.key) {
        uploads++;
        slot?.record("img_key_1");
      }
      if (++attempts === 1) throw transient();
      return ["om_media", "om_caption"];
    });
    const { db, outbox } = s.open();
    const outcome = outbox.submit(1, target, image, "m-1");
    await Bun.sleep(0);
    expect(db.$client.query("SELECT media_id, media_key FROM outbox").get()).toEqual({
      media_id: "med_1",
      media_key: "img_key_1",
    });
    s.advance(2000);
    await outbox.runDue();
    expect(await outcome).toEqual({ ok: true, messageIds: ["om_media", "om_caption"] });
    expect(keys).toEqual([undefined, "img_key_1"]);
    expect(uploads).toBe(1);
    db.$client.close();
    s.cleanup();
  });

  test("the recorded key survives a restart: the recovered send does not upload again", async () => {
    let uploads = 0;
    let fail = true;
    const s = setup(async (_t, _r, _u, _o, slot) => {
      if (!slot?.key) {
        uploads++;
        slot?.record("file_key_9");
      }
      if (fail) throw transient();
      return ["om_x"];
    });
    const first = s.open();
    void first.outbox.submit(1, target, { msgType: "file", mediaId: "med_1" }, "m-2");
    await Bun.sleep(0);
    first.db.$client.close();
    fail = false;
    const second = s.open();
    second.outbox.start();
    s.advance(120_000);
    expect(await second.outbox.runDue()).toBe(1);
    await second.outbox.stop();
    expect(uploads).toBe(1);
    expect(second.db.$client.query("SELECT status, media_key FROM outbox").get()).toEqual({
      status: "sent",
      media_key: "file_key_9",
    });
    second.db.$client.close();
    s.cleanup();
  });

  test("a refused admission stores nothing; a known uuid answers its outcome without asking again", async () => {
    let admitted = 0;
    const sentReqs: SendRequest[] = [];
    const s = setup(async () => ["om_1"], {
      admit: (_u, req) => {
        admitted++;
        return req.mediaId === "med_gone" ? { code: "media_not_found", message: "gone" } : undefined;
      },
      onSent: (req) => sentReqs.push(req),
    });
    const { db, outbox } = s.open();
    expect(await outbox.submit(1, target, { msgType: "file", mediaId: "med_gone" }, "g-1")).toEqual({
      ok: false,
      code: "media_not_found",
      message: "gone",
      retryable: false,
    });
    expect(await outbox.depth()).toBe(0);
    expect(db.$client.query("SELECT count(*) AS n FROM outbox").get()).toEqual({ n: 0 });
    expect(await outbox.submit(1, target, image, "ok-1")).toEqual({ ok: true, messageIds: ["om_1"] });
    expect(sentReqs.map((r) => r.mediaId)).toEqual(["med_1"]);
    // The media may be gone by now; the same uuid still answers with the first outcome.
    expect(await outbox.submit(1, target, image, "ok-1")).toEqual({ ok: true, messageIds: ["om_1"] });
    expect(admitted).toBe(2);
    db.$client.close();
    s.cleanup();
  });
});
