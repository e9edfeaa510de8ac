/**
 * The overview's rates come from the relay's own counters: a webhook event from the fake Feishu and a
 * send through the outbox must show up in the current minute (this pins the counter names it reads).
 */
import { expect, test } from "bun:test";
import { relayWithFeishu } from "../relay/gateway-fixtures.ts";

const ADMIN_TOKEN = "overview-admin-token-0123456789";
const { fake, r } = await relayWithFeishu({ ADMIN_TOKEN });

test("a Feishu event and a send are counted in the overview's current minute", async () => {
  const { token } = await r.user("ou_rates_user", "Rates");
  const overview = async () =>
    (await (
      await fetch(`${r.http}/api/admin/overview`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).json()) as { rates: Record<"events" | "sends", { perMinute: number[] }> };
  const before = await overview();

  const pushed = await fake.pushEvent(`${r.http}/api/feishu/webhook`, {
    senderOpenId: "ou_rates_user",
    chatType: "p2p",
    text: "hello",
  });
  expect(pushed.status).toBe(200);
  const sent = await fetch(`${r.http}/api/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ text: "from cron" }),
  });
  expect(sent.status).toBe(200);

  const after = await overview();
  const grew = (k: "events" | "sends") =>
    after.rates[k].perMinute.reduce((a, b) => a + b, 0) -
    before.rates[k].perMinute.reduce((a, b) => a + b, 0);
  expect(grew("events")).toBeGreaterThanOrEqual(1);
  expect(grew("sends")).toBeGreaterThanOrEqual(1);
});
