/**
 * `GET /api/media/:id` in process (app.handle), for what the e2e test cannot set up: a relay without
 * a Feishu app, a stored message whose attachment is not downloadable, the log line and the metrics.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { attachmentId, mediaRefs, toAttachments, withMediaUrls } from "../../src/feishu/attachments.ts";
import { gatewayRelay } from "../relay/gateway-fixtures.ts";

const r = await gatewayRelay({ PUBLIC_URL: "https://relay.example.com" });
afterAll(() => r.close());

const get = (id: string, token?: string) =>
  r.relay.app.handle(
    new Request(
      `http://localhost/api/media/${id}`,
      token ? { headers: { authorization: `Bearer ${token}` } } : {},
    ),
  );

async function storeImage(userId: number) {
  const messageId = `om_route_${Math.random().toString(36).slice(2)}`;
  const content = { image_key: "img_route" };
  const attachments = withMediaUrls(
    toAttachments(messageId, mediaRefs("image", content)),
    "https://relay.example.com",
  );
  await r.store(userId, { messageId, msgType: "image", text: "[image]", content, attachments });
  return attachmentId(messageId, 0);
}

describe("GET /api/media/:id", () => {
  test("no Feishu app configured → 503 feishu_unconfigured, for the owner only", async () => {
    const { user, token } = await r.user("ou_route_owner");
    const { token: other } = await r.user("ou_route_other");
    const id = await storeImage(user.id);
    const res = await get(id, token);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      error: { code: "feishu_unconfigured", message: "the relay has no Feishu app configured" },
    });
    expect((await get(id, other)).status).toBe(404);
    expect((await get(id)).status).toBe(401);
  });

  test("an attachment the stored content does not back is not found", async () => {
    const { user, token } = await r.user("ou_route_mismatch");
    const messageId = "om_route_mismatch";
    // The frame lists an attachment, but the stored content has no key for it (hand-made row).
    await r.store(user.id, {
      messageId,
      msgType: "image",
      content: {},
      attachments: [{ id: attachmentId(messageId, 0), kind: "image" }],
    });
    expect((await get(attachmentId(messageId, 0), token)).status).toBe(404);
    expect((await get(attachmentId(messageId, 1), token)).status).toBe(404);
  });

  test("one info line per download without the token; counted in /metrics", async () => {
    const { user, token } = await r.user("ou_route_log");
    const id = await storeImage(user.id);
    await get(id, token);
    const line = r.lines.find(
      (l) => l.includes('"event":"media_download"') && l.includes(`"userId":${user.id}`),
    );
    expect(line).toBeDefined();
    expect(line).toContain('"code":"feishu_unconfigured"');
    expect(r.lines.join("\n")).not.toContain(token);
    const metrics = await (await r.relay.app.handle(new Request("http://localhost/metrics"))).text();
    expect(metrics).toContain('media_downloads_total{outcome="feishu_unconfigured"}');
  });
});
