/**
 * Crash safety (M1-4): webhooks accepted before a `kill -9` — with no plugin connected — all reach the
 * plugin after a restart, once each, in order.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startFakeFeishu } from "../fakes/feishu.ts";
import { tempDir } from "../helpers.ts";
import { connect, isType } from "../relay/ws-client.ts";
import { createUser, startRelayProcess } from "./relay-process.ts";

const ADMIN = "crash-test-admin-token-0123";
const fake = await startFakeFeishu();
const tmp = tempDir();
afterAll(async () => {
  await fake.stop();
  tmp.cleanup();
});

describe("crash safety", () => {
  test("every accepted message survives kill -9 and arrives once, in order", async () => {
    const env = {
      DATABASE_PATH: join(tmp.dir, "crash.db"),
      ADMIN_TOKEN: ADMIN,
      FEISHU_APP_ID: fake.appId,
      FEISHU_APP_SECRET: fake.appSecret,
      FEISHU_DOMAIN: fake.url,
    };
    const first = await startRelayProcess(env);
    const token = await createUser(first.base, ADMIN, "ou_crash", "Crash");

    const N = 30;
    const ids: string[] = [];
    for (let i = 0; i < N; i++) {
      const env0 = fake.messageEvent({ senderOpenId: "ou_crash", text: `message ${i}` });
      const r = await fake.pushEvent(`${first.base}/api/feishu/webhook`, env0);
      expect(r.status).toBe(200);
      ids.push((env0.event as { message: { message_id: string } }).message.message_id);
    }
    // The same events pushed again before the crash must not be stored twice.
    const dup = await fake.pushEvent(
      `${first.base}/api/feishu/webhook`,
      fake.messageEvent({ senderOpenId: "ou_crash", messageId: ids[0] }),
    );
    expect(dup.status).toBe(200);

    expect(await first.stop("SIGKILL")).not.toBe(0);

    const second = await startRelayProcess(env);
    try {
      const c = connect(second.ws, { token });
      const hello = await c.next(isType("hello"));
      expect(hello.pending).toBe(N);
      const got: Array<Record<string, unknown>> = [];
      for (let i = 0; i < N; i++) got.push(await c.next(isType("message")));
      expect(got.map((f) => f.messageId)).toEqual(ids);
      const seqs = got.map((f) => f.seq as number);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(N);
      c.send({ type: "ack", seq: seqs.at(-1) });
      c.send({ type: "ping" });
      await c.next(isType("pong"));
      expect(c.frames.filter((f) => f.type === "message")).toHaveLength(N);
      c.close();
      await c.closed;
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 30_000);
});
