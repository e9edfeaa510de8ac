/**
 * A relay for the ingest tests: temp-dir SQLite, the fake Feishu for pushes, and the ingest feature
 * with recording ports (bot identity from the fake, replies recorded) until the Feishu client is wired.
 */
import { buildApp } from "../../src/app.ts";
import type { Raw } from "../../src/config/definition.ts";
import { feishuIngestFeature, type IngestPorts } from "../../src/feishu/ingest-feature.ts";
import type { RelayDeps } from "../../src/server.ts";
import type { FakeFeishu } from "../fakes/feishu.ts";
import { testRelay } from "../helpers.ts";
import { sqlGet } from "../storage/sql.ts";

export const WEBHOOK = "/api/feishu/webhook";

export interface Reply {
  messageId: string;
  text: string;
}

export async function ingestRelay(
  fake: FakeFeishu,
  raw: Raw = {},
  ports: Partial<IngestPorts> = {},
  deps: RelayDeps = {},
) {
  const t = await testRelay(
    {
      FEISHU_APP_ID: fake.appId,
      FEISHU_APP_SECRET: fake.appSecret,
      FEISHU_DOMAIN: fake.url,
      PUBLIC_URL: "https://relay.example",
      ...raw,
    },
    deps,
  );
  const { ctx } = t.relay;
  const replies: Reply[] = [];
  const replyWaiters: Array<() => void> = [];
  const app = buildApp(ctx, [
    (c) =>
      feishuIngestFeature(c, {
        bot: { openId: async () => fake.botOpenId },
        reply: () => async (messageId, text) => {
          replies.push({ messageId, text });
          for (const wake of replyWaiters.splice(0)) wake();
        },
        ...ports,
      }),
  ]);
  return {
    ...t,
    ctx,
    app,
    replies,
    /** Resolves once `n` replies were recorded (they are sent after the answer, never awaited by it). */
    async waitForReplies(n: number): Promise<Reply[]> {
      while (replies.length < n) await new Promise<void>((r) => replyWaiters.push(r));
      return replies;
    },
    async addUser(openId: string, name = "Test User"): Promise<number> {
      return (await ctx.users.upsert({ openId, name })).user.id;
    },
    /** Every stored inbox row, whoever owns it. */
    async storedCount(): Promise<number> {
      return (await sqlGet<{ n: number }>(ctx.storage, "SELECT CAST(count(*) AS INTEGER) AS n FROM inbox"))!
        .n;
    },
    post(body: string | object, headers: Record<string, string> = {}): Promise<Response> {
      return app.handle(
        new Request(`http://localhost${WEBHOOK}`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: typeof body === "string" ? body : JSON.stringify(body),
        }),
      );
    },
    /** Serves the app over real HTTP on 127.0.0.1; returns the webhook URL. */
    listen(): string {
      app.listen({ hostname: "127.0.0.1", port: 0 });
      return `http://127.0.0.1:${app.server!.port}${WEBHOOK}`;
    },
    async close() {
      if (app.server) await app.stop(true);
      await t.close();
    },
  };
}

export type IngestRelay = Awaited<ReturnType<typeof ingestRelay>>;
