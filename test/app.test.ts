import { afterAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { buildApp } from "../src/app.ts";
import { closeStorage } from "../src/storage/storage.ts";
import { request, testRelay } from "./helpers.ts";

const t = await testRelay();
/** The same app pipeline with one echo route, to exercise body handling independently of features. */
const echoApp = buildApp(t.relay.ctx, [() => new Elysia().post("/echo", ({ body }) => ({ body }))]);
const app = t.relay.app;
afterAll(() => t.close());

describe("HTTP foundation", () => {
  test("GET /health reports real checks", async () => {
    const res = await app.handle(request("/health"));
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: "ok", db: "ok", feishu: "unconfigured", connections: 0 });
    expect(body.version).toBeString();
    expect(body.uptimeSec).toBeNumber();
  });

  test("/health degrades when the database fails", async () => {
    const r = await testRelay();
    await closeStorage(r.relay.ctx.storage);
    const res = await r.relay.app.handle(request("/health"));
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: "degraded", db: "failing" });
  });

  test("unknown route → 404 in the error shape", async () => {
    const res = await app.handle(request("/nope"));
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: "not_found", message: "no such route" } });
  });

  test("invalid JSON → 400 invalid_json", async () => {
    const res = await echoApp.handle(
      request("/echo", { method: "POST", body: "{nope", headers: { "content-type": "application/json" } }),
    );
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_json");
  });

  test("valid JSON reaches the route", async () => {
    const res = await echoApp.handle(request("/echo", { method: "POST", json: { a: 1 } }));
    expect(await res.json()).toEqual({ body: { a: 1 } });
  });

  test("body over 1 MiB → 413 (declared length and streamed body)", async () => {
    const big = "x".repeat(1024 * 1024 + 10);
    const declared = await echoApp.handle(
      request("/echo", {
        method: "POST",
        body: big,
        headers: { "content-type": "application/json", "content-length": String(big.length) },
      }),
    );
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as { error: { code: string } }).error.code).toBe("body_too_large");

    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    const streamed = await echoApp.handle(
      new Request("http://localhost/echo", {
        method: "POST",
        body: stream,
        headers: { "content-type": "application/json" },
      }),
    );
    expect(streamed.status).toBe(413);
  });

  test("GET /metrics speaks Prometheus text", async () => {
    await app.handle(request("/health"));
    await new Promise((r) => setImmediate(r)); // counters are updated after the response is sent
    const res = await app.handle(request("/metrics"));
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toContain("# TYPE http_requests_total counter");
    expect(text).toContain('http_requests_total{method="GET",route="/health",status="200"}');
    expect(text).toContain("process_resident_memory_bytes");
  });

  test("OpenAPI document lists the routes", async () => {
    const res = await app.handle(request("/swagger/json"));
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toContain("/health");
    const ui = await app.handle(request("/swagger"));
    expect(ui.status).toBe(200);
  });
});

describe("metrics guard", () => {
  test("with ADMIN_TOKEN set, /metrics needs it", async () => {
    const r = await testRelay({ ADMIN_TOKEN: "admin-token-0123456789" });
    const denied = await r.relay.app.handle(request("/metrics"));
    expect(denied.status).toBe(401);
    const ok = await r.relay.app.handle(
      request("/metrics", { headers: { authorization: "Bearer admin-token-0123456789" } }),
    );
    expect(ok.status).toBe(200);
    await r.close();
  });
});

describe("http_requests_total over real HTTP", () => {
  test("counts the status actually sent: refusals, returned Responses, 404s and early 413s", async () => {
    const admin = "admin-token-0123456789";
    const r = await testRelay({ ADMIN_TOKEN: admin });
    try {
      const base = `http://127.0.0.1:${await r.relay.listen()}`;
      const auth = { authorization: `Bearer ${admin}` };
      expect((await fetch(`${base}/metrics`)).status).toBe(401);
      expect((await fetch(`${base}/metrics`, { headers: auth })).status).toBe(200);
      expect((await fetch(`${base}/nope`)).status).toBe(404);
      const big = (path: string) =>
        fetch(`${base}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "x".repeat(1024 * 1024 + 1),
        });
      // Refused by the app before routing (Elysia's onRequest), and by the webhook's raw route itself.
      expect((await big("/api/messages")).status).toBe(413);
      expect((await big("/api/feishu/webhook")).status).toBe(413);
      const text = await (await fetch(`${base}/metrics`, { headers: auth })).text();
      const line = (labels: string) =>
        text.split("\n").find((l) => l.startsWith(`http_requests_total{${labels}}`));
      expect(line('method="GET",route="/metrics",status="401"')).toEndWith(" 1");
      expect(line('method="GET",route="/metrics",status="200"')).toEndWith(" 1");
      expect(line('method="GET",route="unmatched",status="404"')).toEndWith(" 1");
      expect(line('method="POST",route="unmatched",status="413"')).toEndWith(" 1");
      expect(line('method="POST",route="/api/feishu/webhook",status="413"')).toEndWith(" 1");
    } finally {
      await r.close();
    }
  });
});
