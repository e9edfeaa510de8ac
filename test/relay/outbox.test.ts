import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { migrate, openDatabase } from "../../src/db/open.ts";
import { memoryLogger } from "../../src/ops/logger.ts";
import { Registry } from "../../src/ops/metrics.ts";
import { Outbox, type OutboxOptions, type SendPort } from "../../src/relay/outbox.ts";
import { SqliteOutboxStore } from "../../src/relay/outbox-store-sqlite.ts";
import type { DeliveryTarget } from "../../src/relay/targets.ts";
import { tempDir } from "../helpers.ts";

const target: DeliveryTarget = { kind: "create", receiveIdType: "open_id", receiveId: "ou_o" };
const transient = () => Object.assign(new Error("bad gateway"), { code: 502, retryable: true });
const permanent = () => Object.assign(new Error("bot not in chat"), { code: 230002, retryable: false });

function setup(port: SendPort, dbPath?: string, more: Partial<OutboxOptions> = {}) {
  const dir = dbPath ? undefined : tempDir();
  const path = dbPath ?? join(dir!.dir, "o.db");
  const db = openDatabase(path);
  migrate(db);
  db.$client.run("INSERT OR IGNORE INTO users (id, open_id) VALUES (1, 'ou_o')");
  let now = 1_000_000;
  const { log, lines } = memoryLogger();
  const outbox = new Outbox(new SqliteOutboxStore(db), {
    now: () => now,
    log,
    metrics: new Registry(),
    port: () => port,
    deadlineMs: 60_000,
    random: () => 1,
    ...more,
  });
  return {
    db,
    outbox,
    path,
    lines,
    now: () => now,
    advance: (ms: number) => (now += ms),
    close: () => db.$client.close(),
  };
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
    expect(await s.outbox.depth()).toBe(1);
    expect(await s.outbox.runDue()).toBe(0); // not due yet: back-off
    s.advance(1_000);
    expect(await s.outbox.runDue()).toBe(1);
    s.advance(2_000);
    expect(await s.outbox.runDue()).toBe(1);
    expect(await outcome).toEqual({ ok: true, messageIds: ["om_ok"] });
    expect(await s.outbox.depth()).toBe(0);
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
    expect(await s.outbox.prune(3600 * 1000)).toBe(1);
    expect(await s.outbox.depth()).toBe(1);
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

describe("retry timing", () => {
  test("back-off is exponential: 1 s, 2 s, 4 s, 8 s … capped at 60 s", async () => {
    const retryAts: number[] = [];
    const s = setup(
      async () => {
        throw transient();
      },
      undefined,
      { deadlineMs: 3600_000 },
    );
    const t0 = s.now();
    void s.outbox.submit(1, target, { text: "x", msgType: "text" }, "u-exp", {
      onQueued: ({ retryAt }) => retryAts.push(retryAt),
    });
    await Bun.sleep(0);
    expect(retryAts).toEqual([t0 + 1000]);
    const gaps: number[] = [];
    for (let i = 0; i < 8; i++) {
      const gap = nextGap(s);
      gaps.push(gap);
      s.advance(gap - 1);
      expect(await s.outbox.runDue()).toBe(0); // not a millisecond early
      s.advance(1);
      expect(await s.outbox.runDue()).toBe(1);
    }
    expect(gaps).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
    s.close();
  });

  test("Feishu's Retry-After (x-ogw-ratelimit-reset) is honoured when longer than the back-off", async () => {
    const s = setup(async () => {
      throw Object.assign(new Error("too many requests"), {
        code: 99991400,
        retryable: true,
        retryAfterMs: 30_000,
      });
    });
    void s.outbox.submit(1, target, { text: "x", msgType: "text" }, "u-ra");
    await Bun.sleep(0);
    expect(nextGap(s)).toBe(30_000);
    s.advance(29_999);
    expect(await s.outbox.runDue()).toBe(0);
    s.advance(1);
    expect(await s.outbox.runDue()).toBe(1);
    s.close();
  });
});

/** Milliseconds until the only pending row is due. */
function nextGap(s: ReturnType<typeof setup>): number {
  const row = s.db.$client
    .query<{ at: number }, []>("SELECT next_attempt_at AS at FROM outbox WHERE status = 'pending'")
    .get();
  return row!.at - s.now();
}

describe("crash recovery", () => {
  test("a send the process died in the middle of (status sending) goes out after a restart", async () => {
    let answer!: () => void;
    const a = setup(
      () =>
        new Promise<string[]>(() => {
          answer = () => undefined; // Feishu never answers before the crash
        }),
    );
    void a.outbox.submit(1, target, { text: "mid-send", msgType: "text" }, "u-crash");
    await Bun.sleep(0);
    expect(answer).toBeDefined();
    expect(a.db.$client.query<{ status: string }, []>("SELECT status FROM outbox").get()?.status).toBe(
      "sending",
    );
    a.close(); // the crash: no stop(), the row stays 'sending'
    const sent: string[] = [];
    const b = setup(async (_t, _r, uuid) => {
      sent.push(uuid);
      return ["om_recovered"];
    }, a.path);
    b.outbox.start();
    await b.outbox.runDue();
    await b.outbox.stop();
    expect(sent).toEqual(["u1:u-crash"]);
    b.close();
  });
});

describe("per-user fairness and memory", () => {
  test("past the per-user cap a send is refused with rate_limited and retryAfterMs; others are unaffected", async () => {
    const s = setup(() => new Promise<string[]>(() => undefined), undefined, { maxQueuedPerUser: 3 });
    s.db.$client.run("INSERT INTO users (id, open_id) VALUES (2, 'ou_b')");
    for (let i = 0; i < 3; i++) void s.outbox.submit(1, target, { text: `${i}`, msgType: "text" });
    const refused = await s.outbox.submit(1, target, { text: "one too many", msgType: "text" });
    expect(refused).toMatchObject({ ok: false, code: "rate_limited", retryable: true });
    expect((refused as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
    // Nothing was stored for the refused send; user 2 still gets through.
    expect(await s.outbox.depth()).toBe(3);
    void s.outbox.submit(2, target, { text: "b", msgType: "text" });
    await Bun.sleep(10); // the submit stores its row before it waits for the (never-ending) send
    expect(await s.outbox.depth()).toBe(4);
    s.close();
  });

  test("a finished send frees its place under the cap", async () => {
    let fail = true;
    const s = setup(
      async () => {
        if (fail) throw permanent();
        return ["om_ok"];
      },
      undefined,
      { maxQueuedPerUser: 1 },
    );
    expect(await s.outbox.submit(1, target, { text: "a", msgType: "text" })).toMatchObject({ ok: false });
    fail = false;
    expect(await s.outbox.submit(1, target, { text: "b", msgType: "text" })).toEqual({
      ok: true,
      messageIds: ["om_ok"],
    });
    s.close();
  });

  test("only a few sends per user are attempted at once; the rest wait in the database and go in order", async () => {
    const started: string[] = [];
    const answers: Array<() => void> = [];
    const s = setup(
      (_t, req) =>
        new Promise<string[]>((resolve) => {
          started.push(req.text!);
          answers.push(() => resolve([`om_${req.text}`]));
        }),
      undefined,
      { concurrencyPerUser: 2 },
    );
    const outcomes = Array.from({ length: 5 }, (_, i) =>
      s.outbox.submit(1, target, { text: `m${i}`, msgType: "text" }),
    );
    await Bun.sleep(0);
    expect(started).toEqual(["m0", "m1"]);
    answers[0]!();
    await outcomes[0];
    await Bun.sleep(0);
    expect(started).toEqual(["m0", "m1", "m2"]);
    for (let i = 1; i < 5; i++) {
      answers[i]!();
      await outcomes[i];
      await Bun.sleep(0);
    }
    expect(started).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect((await Promise.all(outcomes)).map((o) => (o as { messageIds: string[] }).messageIds[0])).toEqual([
      "om_m0",
      "om_m1",
      "om_m2",
      "om_m3",
      "om_m4",
    ]);
    s.close();
  });

  test("during an outage a user's backlog is tried a few per scan, not run into the failure all at once", async () => {
    let calls = 0;
    const s = setup(
      async () => {
        calls++;
        throw transient();
      },
      undefined,
      { concurrencyPerUser: 2 },
    );
    for (let i = 0; i < 5; i++) void s.outbox.submit(1, target, { text: `m${i}`, msgType: "text" });
    await Bun.sleep(0);
    expect(calls).toBe(2);
    expect(await s.outbox.runDue()).toBe(2);
    expect(calls).toBe(4);
    expect(await s.outbox.runDue()).toBe(1);
    expect(calls).toBe(5);
    s.close();
  });

  test("the port is told whose send it is, so the rate limiter can be fair", async () => {
    const owners: string[] = [];
    const s = setup(async (_t, _r, _u, owner) => {
      owners.push(owner);
      return ["om_x"];
    });
    await s.outbox.submit(1, target, { text: "x", msgType: "text" });
    expect(owners).toEqual(["user:1"]);
    s.close();
  });
});

describe("queued notice (the relay keeps a send through an outage)", () => {
  test("a transient first failure tells the submitter at once, with the uuid and when it retries", async () => {
    let calls = 0;
    const s = setup(async () => {
      if (++calls === 1) throw transient();
      return ["om_later"];
    });
    const queued: Array<{ uuid: string; retryAt: number }> = [];
    const t0 = s.now();
    const outcome = s.outbox.submit(1, target, { text: "x", msgType: "text" }, "u-q", {
      onQueued: (q) => queued.push(q),
    });
    await Bun.sleep(0);
    expect(queued).toEqual([{ uuid: "u-q", retryAt: t0 + 1000 }]);
    // Asking again with the same uuid while it waits: told at once too.
    const again: unknown[] = [];
    const second = s.outbox.submit(1, target, { text: "x", msgType: "text" }, "u-q", {
      onQueued: (q) => again.push(q),
    });
    await Bun.sleep(0);
    expect(again).toEqual([{ uuid: "u-q", retryAt: t0 + 1000 }]);
    s.advance(1000);
    await s.outbox.runDue();
    expect(await outcome).toEqual({ ok: true, messageIds: ["om_later"] });
    expect(await second).toEqual({ ok: true, messageIds: ["om_later"] });
    expect(queued).toHaveLength(1); // once per submit, not per retry
    s.close();
  });

  test("a success or a permanent failure at the first attempt is not announced as queued", async () => {
    const s = setup(async () => {
      throw permanent();
    });
    const queued: unknown[] = [];
    await s.outbox.submit(1, target, { text: "x", msgType: "text" }, "u-p", {
      onQueued: (q) => queued.push(q),
    });
    expect(queued).toEqual([]);
    s.close();
  });
});
