import { describe, expect, test } from "bun:test";
import { Counter, Registry } from "../../src/ops/metrics.ts";
import { VERSION } from "../../src/version.ts";
import { relayWithFeishu } from "../relay/gateway-fixtures.ts";
import { connect } from "../relay/ws-client.ts";
import { parseExposition } from "./exposition.ts";

const admin = "admin-token-0123456789";
const { fake, r } = await relayWithFeishu({ ADMIN_TOKEN: admin, FEISHU_EVENT_MODE: "webhook" });
const auth = { authorization: `Bearer ${admin}` };

async function scrape(): Promise<string> {
  const res = await fetch(`${r.http}/metrics`, { headers: auth });
  expect(res.status).toBe(200);
  return res.text();
}

const sample = (text: string, series: string) =>
  text
    .split("\n")
    .find((l) => l.startsWith(`${series} `))
    ?.split(" ")[1];

describe("/metrics exposition", () => {
  test("parses cleanly and follows promtool's naming rules, with traffic on every kind of metric", async () => {
    const { user } = await r.user("ou_metrics", "指标 用户");
    await r.store(user.id);
    await fetch(`${r.http}/health`);
    await fetch(`${r.http}/nope`);
    const text = await scrape();
    const { families, problems } = parseExposition(text);
    expect(problems).toEqual([]);
    expect(families.get("process_cpu_seconds_total")?.type).toBe("counter");
    expect(families.get("http_requests_total")?.type).toBe("counter");
    expect([...families.values()].some((f) => f.type === "histogram" && f.samples.length > 0)).toBe(true);
  });

  test("build info: a gauge of 1 carrying the version", async () => {
    const text = await scrape();
    expect(text).toContain("# TYPE openclaw_relay_build_info gauge");
    expect(sample(text, `openclaw_relay_build_info{version="${VERSION}"}`)).toBe("1");
  });

  test("pending inbox gauge counts messages no plugin acked", async () => {
    const { user } = await r.user("ou_pending");
    const before = Number(sample(await scrape(), "inbox_pending_messages"));
    await r.store(user.id);
    await r.store(user.id);
    expect(Number(sample(await scrape(), "inbox_pending_messages"))).toBe(before + 2);
    expect(Number(sample(await scrape(), "inbox_oldest_pending_age_seconds"))).toBeGreaterThanOrEqual(0);
  });

  test("Feishu API calls are exported by kind and result", async () => {
    const { user } = await r.user("ou_sender_api");
    const res = await fetch(`${r.http}/api/messages`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${(await r.user("ou_sender_api")).token}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ to: `user:${user.openId}`, msgType: "text", text: "hi" }),
    });
    expect(res.status).toBe(200);
    const text = await scrape();
    expect(text).toContain("# TYPE feishu_api_calls_total counter");
    expect(text).toMatch(/^feishu_api_calls_total\{kind="[a-z_]+",result="ok"\} [1-9]/m);
    expect(fake.sent.length).toBeGreaterThan(0);
  });

  const promtool = Bun.which("promtool");
  test.skipIf(!promtool)(
    `promtool check metrics accepts the exposition${promtool ? "" : " (skipped: promtool not installed; apt-get install prometheus)"}`,
    async () => {
      const text = await scrape();
      const p = Bun.spawnSync([promtool!, "check", "metrics"], { stdin: new TextEncoder().encode(text) });
      expect(p.stdout.toString() + p.stderr.toString()).toBe("");
      expect(p.exitCode).toBe(0);
    },
  );
});

describe("http_requests_total status label", () => {
  test("is the status actually sent: 404, 400, 302", async () => {
    expect((await fetch(`${r.http}/no/such/route`)).status).toBe(404);
    const bad = await fetch(`${r.http}/api/auth/verify`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: 42 }),
    });
    expect(bad.status).toBe(400);
    const login = await fetch(`${r.http}/auth/feishu/login`, { redirect: "manual" });
    expect(login.status).toBe(302);
    const text = await scrape();
    expect(
      Number(sample(text, 'http_requests_total{method="GET",route="unmatched",status="404"}')),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'http_requests_total{method="POST",route="/api/auth/verify",status="400"}')).toBe(
      "1",
    );
    expect(sample(text, 'http_requests_total{method="GET",route="/auth/feishu/login",status="302"}')).toBe(
      "1",
    );
    expect(text).not.toContain('route="/api/auth/verify",status="200"');
    expect(text).not.toContain('route="/auth/feishu/login",status="200"');
  });
});

describe("http_requests_total for the plugin WebSocket", () => {
  test("an accepted upgrade counts as 101, not 200", async () => {
    const { token } = await r.user("ou_ws_metrics");
    const plugin = connect(r.url, { token });
    await plugin.next((f) => f.type === "hello");
    plugin.close();
    await plugin.closed;
    const text = await scrape();
    expect(
      Number(sample(text, 'http_requests_total{method="GET",route="/openclaw",status="101"}')),
    ).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain('route="/openclaw",status="200"');
  });
});

describe("Registry", () => {
  test("a collected counter renders its current total", () => {
    let cpu = 1.5;
    const reg = new Registry();
    expect(reg.counter("work_seconds_total", "Work.", () => cpu)).toBeInstanceOf(Counter);
    expect(reg.render()).toContain("# TYPE work_seconds_total counter\nwork_seconds_total 1.5\n");
    cpu = 2;
    expect(reg.render()).toContain("work_seconds_total 2\n");
  });

  test("seriesBy counts into the same series as inc with the same labels", () => {
    const c = new Registry().counter("hits_total", "Hits.");
    const byStatus = c.seriesBy((status: number) => ({ route: "/x", status }));
    byStatus(200);
    byStatus(200, 2);
    byStatus(401);
    c.inc({ route: "/x", status: 200 });
    expect(c.get({ route: "/x", status: 200 })).toBe(4);
    expect(c.get({ status: 401, route: "/x" })).toBe(1);
  });
});

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or Prometheus's own `up`. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"[^"]*"/g, "")
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "");
  const keywords = new Set([
    "by",
    "without",
    "on",
    "ignoring",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "up",
  ]);
  return [...bare.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)]
    .map((m) => m[1]!)
    .filter((n) => !keywords.has(n) && !/^\d/.test(n));
}

describe("deploy/prometheus-alerts.yml", () => {
  const file = new URL("../../deploy/prometheus-alerts.yml", import.meta.url).pathname;

  test("is YAML of alert rules whose metrics the relay exports", async () => {
    const rules = Bun.YAML.parse(await Bun.file(file).text()) as {
      groups: Array<{ name: string; rules: Array<Record<string, unknown>> }>;
    };
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.length).toBeGreaterThanOrEqual(5);
    const families = parseExposition(await scrape()).families;
    const used = new Set<string>();
    for (const rule of all) {
      expect(rule.alert).toBeString();
      expect(rule.expr).toBeString();
      expect((rule.labels as { severity?: string }).severity).toMatch(/^(warning|critical)$/);
      for (const name of metricNames(String(rule.expr))) {
        used.add(name);
        expect({ alert: rule.alert, name, exported: families.has(name) }).toEqual({
          alert: rule.alert,
          name,
          exported: true,
        });
      }
    }
    // The three: plugins away, outbox failing, Feishu token errors.
    for (const name of [
      "inbox_oldest_pending_age_seconds",
      "outbox_sends_total",
      "feishu_token_fetches_total",
    ])
      expect(used).toContain(name);
  });

  const promtool = Bun.which("promtool");
  test.skipIf(!promtool)(
    `promtool check rules accepts it${promtool ? "" : " (skipped: promtool not installed)"}`,
    () => {
      const p = Bun.spawnSync([promtool!, "check", "rules", file]);
      expect({ code: p.exitCode, out: p.stdout.toString() + p.stderr.toString() }).toMatchObject({ code: 0 });
    },
  );
});
