import { afterEach, describe, expect, test } from "bun:test";
import { Value } from "@sinclair/typebox/value";
import { HealthResponse } from "../../src/ops/health.ts";
import type { InboundMessage } from "../../src/relay/protocol.ts";
import { request, testRelay } from "../helpers.ts";
import { gatewayRelay } from "../relay/gateway-fixtures.ts";
import { textMessage } from "../relay/inbound-fixture.ts";
import { RELAY_TEST_DIALECT } from "../storage/databases.ts";

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

const message = (id: string): InboundMessage => textMessage(id, { text: "x".repeat(2000) });

// SQLite's own failure mode (a full disk that still answers SELECT 1); skipped on PostgreSQL runs.
describe.skipIf(RELAY_TEST_DIALECT !== "sqlite")("/health and database writes", () => {
  test("says db failing with 503 while writes fail with 'database or disk is full', ok again after a successful write", async () => {
    const t = await testRelay();
    closers.push(t.close);
    const { ctx, app } = t.relay;
    const health = async () => {
      const res = await app.handle(request("/health"));
      return { status: res.status, db: ((await res.json()) as { db: string }).db };
    };
    const userId = await (await ctx.users.upsert({ openId: "ou_h", name: "H" })).user.id;
    await ctx.inbox.accept({ userId, eventId: "e0", message: message("om_0") });
    expect(await health()).toEqual({ status: 200, db: "ok" });

    // The database may not grow by a single page: reads work, every insert fails.
    if (ctx.storage.dialect !== "sqlite") throw new Error("SQLite only");
    const sqlite = ctx.storage.db.$client;
    // Pages freed by the migrations (a dropped index) would take the next rows without growing the file.
    sqlite.run("VACUUM");
    expect(
      sqlite.query<{ n: number }, []>("SELECT freelist_count AS n FROM pragma_freelist_count").get()!.n,
    ).toBe(0);
    const pages = sqlite.query<{ page_count: number }, []>("PRAGMA page_count").get()!.page_count;
    sqlite.run(`PRAGMA max_page_count = ${pages}`);
    const refused = ctx.inbox.accept({ userId, eventId: "e1", message: message("om_1") });
    await expect(refused).rejects.toThrow("database or disk is full");
    expect(sqlite.query("SELECT 1 AS one").get()).toEqual({ one: 1 });
    expect(await health()).toEqual({ status: 503, db: "failing" });

    sqlite.run(`PRAGMA max_page_count = ${pages * 1000}`);
    await ctx.inbox.accept({ userId, eventId: "e2", message: message("om_2") });
    expect(await health()).toEqual({ status: 200, db: "ok" });
  });
});

describe("/health served by Bun itself (a raw route)", () => {
  test("answers over HTTP with the declared schema, the same body as app.handle(), and is counted", async () => {
    const g = await gatewayRelay();
    closers.push(g.close);
    const res = await fetch(`${g.http}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json;charset=utf-8");
    const body = await res.json();
    expect(Value.Check(HealthResponse, body)).toBe(true);
    expect(body).toMatchObject({ status: "ok", db: "ok", node: g.relay.ctx.nodeId, connections: 0 });
    const viaElysia = await (await g.relay.app.handle(request("/health"))).json();
    expect({ ...viaElysia, uptimeSec: 0, cluster: null }).toEqual({ ...body, uptimeSec: 0, cluster: null });
    const exposition = g.relay.ctx.metrics.render();
    // Once each way: Bun's route and the Elysia declaration (which must not count it a second time).
    expect(exposition).toContain('http_requests_total{method="GET",route="/health",status="200"} 2');
  });
});
