/**
 * `bun run demo`: the whole path without a Feishu account. Starts the fake Feishu, the relay and a tiny
 * echo agent on free loopback ports, pushes a few messages as Feishu would, and prints each hop:
 * Feishu → webhook → inbox → plugin → send → Feishu. Stops by itself.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger } from "../src/ops/logger.ts";
import { createRelay } from "../src/server.ts";
import { startFakeFeishu } from "../test/fakes/feishu.ts";

const dim = (s: string) => `\x1b[2m${s}\x1b[0m`;
const bold = (s: string) => `\x1b[1m${s}\x1b[0m`;
const say = (who: string, what: string) => console.log(`${bold(who.padEnd(14))} ${what}`);

const dir = mkdtempSync(join(tmpdir(), "relay-demo-"));
const fake = await startFakeFeishu({ botName: "Relay Demo Bot" });
const relay = await createRelay(
  {
    HOST: "127.0.0.1",
    PORT: "0",
    DATABASE_PATH: join(dir, "relay.db"),
    FEISHU_APP_ID: fake.appId,
    FEISHU_APP_SECRET: fake.appSecret,
    FEISHU_DOMAIN: fake.url,
    LOG_LEVEL: "error",
  },
  { log: new Logger("error") },
);
const port = await relay.listen();
const base = `http://127.0.0.1:${port}`;
console.log(dim(`fake Feishu ${fake.url} · relay ${base} · database ${dir}/relay.db\n`));

// The admin creates a user for Alice (the CLI equivalent: `openclaw-relay users add --open-id ou_alice`).
const { user } = await relay.ctx.users.upsert({ openId: "ou_alice_demo", name: "Alice" });
const { token } = await relay.ctx.tokens.issue(user);
fake.addUser({ openId: "ou_alice_demo", name: "Alice" });
say("admin", `created user Alice (open_id ou_alice_demo), token ${token.slice(0, 12)}…`);

// A tiny echo agent: what Alice's OpenClaw plugin does, minus the LLM.
const agent = new WebSocket(`ws://127.0.0.1:${port}/openclaw`, {
  headers: { authorization: `Bearer ${token}`, "user-agent": "relay-demo-echo/1.0" },
} as unknown as string[]);
let answered = 0;
agent.onmessage = (e) => {
  const f = JSON.parse(String(e.data)) as Record<string, unknown>;
  if (f.type === "hello")
    say("echo agent", `connected (session ${String(f.sessionId).slice(0, 8)}, pending ${f.pending})`);
  if (f.type === "message") {
    say("echo agent", `got seq ${f.seq}: "${f.text}" from ${(f.sender as { openId: string }).openId}`);
    agent.send(
      JSON.stringify({ type: "send", id: `r${f.seq}`, replyTo: f.messageId, text: `echo: ${f.text}` }),
    );
    agent.send(JSON.stringify({ type: "ack", seq: f.seq }));
  }
  if (f.type === "sent") say("echo agent", `reply ${f.id} delivered as ${f.messageId}`);
  if (f.type === "error") say("echo agent", `error ${f.code}: ${f.message}`);
};
await new Promise((r) => (agent.onopen = r));

for (const text of ["你好，OpenClaw！", "What can you do?", "第三条消息"]) {
  const event = fake.messageEvent({ senderOpenId: "ou_alice_demo", text });
  const r = await fake.pushEvent(`${base}/api/feishu/webhook`, event);
  say("feishu", `pushed "${text}" → webhook answered ${r.status} in ${r.durationMs.toFixed(1)} ms`);
  await fake.waitForSent((m) => m.text === `echo: ${text}`, 5000);
  answered++;
  const last = fake.sent.at(-1)!;
  say("feishu", `received reply in ${last.chatId}: "${last.text}"`);
}

const cron = await fetch(`${base}/api/messages`, {
  method: "POST",
  headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
  body: JSON.stringify({ text: "⏰ a scheduled reminder (POST /api/messages)" }),
});
say("cron job", `POST /api/messages → ${cron.status} ${await cron.text()}`);

console.log(
  dim(
    `\n${answered} messages relayed and answered. /health: ${await (await fetch(`${base}/health`)).text()}`,
  ),
);
agent.close();
await relay.stop();
await fake.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
