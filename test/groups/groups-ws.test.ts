/**
 * The bot joining and leaving groups over the long connection (M2-4): the same parser and ingest as
 * the webhook, through the SDK's event dispatcher.
 */
import { afterAll, expect, test } from "bun:test";
import { startFakeFeishu } from "../fakes/feishu.ts";
import { gatewayRelay } from "../relay/gateway-fixtures.ts";

const OWNER = "ou_ws0wner000000000000000000000001";

const fake = await startFakeFeishu({ ws: { ReconnectNonce: 0.05, ReconnectInterval: 0.1 } });
const since = Date.now();
const relay = await gatewayRelay({
  FEISHU_APP_ID: fake.appId,
  FEISHU_APP_SECRET: fake.appSecret,
  FEISHU_DOMAIN: fake.url,
  FEISHU_EVENT_MODE: "ws",
});
afterAll(async () => {
  await relay.close();
  await fake.stop();
});

test("over the long connection: added → one notice; removed → binding gone", async () => {
  await fake.wsWaitForReady(1, 3000, since);
  const { user } = await relay.user(OWNER, "Owner");
  const chatId = "oc_ws_team_0000000000000000000001";
  expect((await fake.wsPushEvent(fake.botAddedEvent({ chatId, operatorOpenId: OWNER }))).code).toBe(200);
  const notice = await fake.waitForSent((m) => m.receiveId === chatId);
  expect(notice).toMatchObject({ kind: "create", receiveIdType: "chat_id" });
  expect(notice.text).toContain("/bind");

  await relay.ctx.bindings.bind({ chatId, ownerUserId: user.id, boundBy: "admin" });
  const removed = fake.botAddedEvent({ chatId, operatorOpenId: OWNER, removed: true });
  expect((await fake.wsPushEvent(removed)).code).toBe(200);
  expect(await relay.ctx.bindings.get(chatId)).toBeUndefined();
});
