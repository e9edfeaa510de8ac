import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import { Outbox, type SendPort } from "../../src/relay/outbox.ts";
import type { DeliveryTarget } from "../../src/relay/targets.ts";
import { tempDir } from "../helpers.ts";

const target: DeliveryTarget = { kind: "create", receiveIdType: "open_id", receiveId: "ou_o" };
const transient = () => Object.assign(new Error("bad gateway"), { code: 502, retryable: true });
const permanent = () => Object.assign(new Error("bot not in chat"), { code: 230002, retryable: false });

function setup(port: SendPort, dbPath?: string) {
  const dir = dbPath ? undefined : tempDir();
  const path = dbPath ?? join(dir!.dir, "o.db");
  const db = openDatabase(path);
  migrate(db);
  db.$client.run("INSERT OR IGNORE INTO users (id, open_id) VALUES (1, 'ou_o')");
  let now = 1_000_000;
  const { log, lines } = memoryLogger();
  const outbox = new Outbox(db, {
    now: () => now,
    log,
    metrics: new Registry(),
    port: () => port,
    deadlineMs: 60_000,
    random: () => 1,
  });
  return { db, outbox, path, lines, advance: (ms: number) => (now += ms), close: () => db.$client.close() };
}

describe("durable outbox", () => {
  test("a successful send resolves with Feishu's message ids and is remembered by uuid", async () => {
    let calls = 0;
    const s = setup(async (_t, _r, uuid) => {
      calls++;
      return [`om_${uuid}`];
    });
    const first = await s.outbox.submit(1, target, { text: "hi", msgType: "text" }, "u-1");
    // The uuid reaches Feishu scoped to the user: Feishu dedupes uuids app-wide.
    expect(first).toEqual({ ok: true, messageIds: ["om_u1:u-1"] });
    const again = await s.outbox.submit(1, target, { text: "hi", msgType: "text" }, "u-1");
    expect(again).toEqual(first);
    expect(calls).toBe(1);
    s.close();
  });

  test("a permanent failure is reported at once with Feishu's code, not retried", async () => {
    let calls = 0;
    const s = setup(async () => {
      calls++;
      throw permanent();
    });
    const r = await s.outbox.submit(1, target, { text: "x", msgType: "text" });
    expect(r).toMatchObject({ ok: false, code: "feishu_230002", retryable: false });
    s.advance(120_000);
    expect(await s.outbox.runDue()).toBe(0);
    expect(calls).toBe(1);
    s.close();
  });

  test("a transient failure is retried with back-off until it succeeds; the waiter learns the outcome", async () => {
    let calls = 0;
    const s = setup(async () => {
      calls++;
      if (calls < 3) throw transient();
      return ["om_ok"];
    });
    const outcome = s.outbox.submit(1, target, { text: "x", msgType: "text" }, "u-retry");
    await Bun.sleep(0);
    expect(s.outbox.depth()).toBe(1);
    expect(await s.outbox.runDue()).toBe(0); // not due yet: back-off
    s.advance(1_000);
    expect(await s.outbox.runDue()).toBe(1);
    s.advance(2_000);
    expect(await s.outbox.runDue()).toBe(1);
    expect(await outcome).toEqual({ ok: true, messageIds: ["om_ok"] });
    expect(s.outbox.depth()).toBe(0);
    s.close();
  });

  test("past the deadline a transient failure becomes final", async () => {
    const s = setup(async () => {
      throw transient();
    });
    const outcome = s.outbox.submit(1, target, { text: "x", msgType: "text" });
    for (let i = 0; i < 10; i++) {
      s.advance(30_000);
      await s.outbox.runDue();
    }
    expect(await outcome).toMatchObject({ ok: false, retryable: false });
    s.close();
  });

  test("prune forgets finished rows past the given age and keeps pending ones", async () => {
    let fail = false;
    const s = setup(async () => {
      if (fail) throw transient();
      return ["om_done"];
    });
    await s.outbox.submit(1, target, { text: "x", msgType: "text" }, "done");
    fail = true;
    void s.outbox.submit(1, target, { text: "y", msgType: "text" }, "waiting");
    await Bun.sleep(0);
    s.advance(2 * 3600 * 1000);
    expect(s.outbox.prune(3600 * 1000)).toBe(1);
    expect(s.outbox.depth()).toBe(1);
    s.close();
  });

  test("pending sends survive a restart and go out from the new process", async () => {
    const a = setup(async () => {
      throw transient();
    });
    void a.outbox.submit(1, target, { text: "x", msgType: "text" }, "u-restart");
    await Bun.sleep(0);
    a.close();
    let sent = 0;
    const b = setup(async () => {
      sent++;
      return ["om_after_restart"];
    }, a.path);
    b.outbox.start();
    b.advance(5_000);
    await b.outbox.runDue();
    await b.outbox.stop();
    expect(sent).toBe(1);
    expect(await b.outbox.submit(1, target, { text: "x", msgType: "text" }, "u-restart")).toEqual({
      ok: true,
      messageIds: ["om_after_restart"],
    });
    b.close();
  });
});
