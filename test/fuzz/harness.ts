/**
 * Shared by the in-suite fuzz tests: a listening relay wired to the fake Feishu, one registered user
 * with a real plugin socket that acks what it receives, and a bounded request helper.
 */

import { afterAll } from "bun:test";
import type { Raw } from "../../src/config/definition.ts";
import { type FakeFeishu, startFakeFeishu } from "../fakes/feishu.ts";
import { gatewayRelay } from "../relay/gateway-fixtures.ts";
import { connect, isType, type TestClient } from "../relay/ws-client.ts";
import { type BuildEnv, buildWebhookRequest, type FeishuApp } from "./arbitraries.ts";

/** Fixed seed of every in-suite fuzz run: a failure reproduces with the same cases. */
export const FUZZ_SEED = 20_260_221;
export const FUZZ_RUNS = 2_000;
export const OWNER = "ou_f0220000000000000000000000000f02";
/** Longest any single answer may take before it counts as a hang. */
export const ANSWER_TIMEOUT_MS = 10_000;

/**
 * `sending: false` leaves the Feishu app unconfigured, so ingest sends no notices: stopping a relay
 * while hundreds of notices wait in the rate limiter currently leaves an unhandled rejection behind
 * ("the Feishu sender is closing": `untilAborted` in src/feishu/rate-limiter.ts drops the promise it
 * is given when the signal is already aborted), which would fail the whole suite run.
 */
/** A fake Feishu and a fuzz relay for one test file, stopped after its tests. */
export async function useFuzzRelay(): Promise<FuzzRelay> {
  const fake = await startFakeFeishu();
  const relay = await fuzzRelay(fake);
  afterAll(async () => {
    await relay.close();
    await fake.stop();
  });
  return relay;
}

export async function fuzzRelay(fake: FakeFeishu, raw: Raw = {}, sending = true) {
  const relay = await gatewayRelay({
    ...(sending
      ? { FEISHU_APP_ID: fake.appId, FEISHU_APP_SECRET: fake.appSecret, FEISHU_DOMAIN: fake.url }
      : {}),
    FEISHU_VERIFICATION_TOKEN: fake.verificationToken,
    PUBLIC_URL: "https://relay.example",
    LOG_LEVEL: "error",
    // Accepted sends to the owner are otherwise paced at Feishu's 5/s per chat (the highest allowed).
    FEISHU_RATE_CHAT: "100",
    FEISHU_RATE_APP: "1000",
    ...raw,
  });
  const { token } = await relay.user(OWNER, "Fuzz Owner");
  const connectPlugin = async () => {
    const plugin = connect(relay.url, { token });
    await plugin.next(isType("hello"));
    // Ack as frames arrive, like a real plugin, so the inbox never reaches its cap during a run.
    plugin.ws.addEventListener("message", (e) => {
      const f = JSON.parse(String(e.data)) as { type?: string; seq?: number };
      if (f.type === "message") plugin.send({ type: "ack", seq: f.seq });
    });
    return plugin;
  };
  let counter = 0;
  const app: FeishuApp = {
    appId: fake.appId,
    tenantKey: fake.tenantKey,
    verificationToken: fake.verificationToken,
    encryptKey: raw.FEISHU_ENCRYPT_KEY,
  };
  const env = (): BuildEnv => ({
    app,
    senderOpenId: OWNER,
    nextId: () => `${Date.now().toString(36)}_${++counter}`,
    nowMs: Date.now(),
  });
  return {
    relay,
    plugin: await connectPlugin(),
    token,
    env,
    /** A new plugin socket (after the relay closed the last one). */
    async reconnect() {
      this.plugin.close();
      this.plugin = await connectPlugin();
    },
    async close() {
      this.plugin.close();
      await relay.close();
    },
  };
}

export type FuzzRelay = Awaited<ReturnType<typeof fuzzRelay>>;

/** Message ids of every `message` frame the plugin got so far. */
export function deliveredIds(plugin: TestClient): Set<string> {
  return new Set(plugin.frames.filter((f) => f.type === "message").map((f) => String(f.messageId)));
}

/**
 * One POST to the listening relay over real HTTP, bounded in time. Not `app.handle`: in process, the
 * relay's code would run on top of the test runner's deep stack and overflow on inputs that are fine
 * in production (and the other way round).
 */
export async function post(
  r: FuzzRelay,
  path: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${r.relay.http}${path}`, {
    method: "POST",
    headers,
    body,
    signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS),
  });
  return { status: res.status, text: await res.text() };
}

/** Pushes a fresh valid event and waits until the owner's plugin socket receives it. */
export async function deliverFreshEvent(r: FuzzRelay): Promise<void> {
  const built = buildWebhookRequest(r.env(), {
    body: { kind: "valid", text: "after the fuzz run" },
    layer: { kind: "ok" },
    iv: new Uint8Array(16),
    nonce: "fresh",
    padTo: null,
    contentType: null,
  });
  const res = await post(r, "/api/feishu/webhook", built.body, built.headers);
  if (res.status !== 200) throw new Error(`fresh event refused: ${res.status} ${res.text}`);
  await r.plugin.next((f) => f.type === "message" && f.messageId === built.validMessageId, 10_000);
}

/** The relay's last logged `http_error` (name and message), to tell 500s apart in a failure report. */
export function lastHttpError(r: FuzzRelay): string {
  for (let i = r.relay.lines.length - 1; i >= 0; i--) {
    const line = r.relay.lines[i] as string;
    if (!line.includes('"http_error"')) continue;
    const err = (JSON.parse(line) as { err?: { name?: string; message?: string } }).err;
    return `${err?.name}: ${err?.message}`;
  }
  return "nothing logged";
}
