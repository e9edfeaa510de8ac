/**
 * The Feishu send path against the fake Feishu in its own process on 127.0.0.1 (so the client and
 * the "platform" do not share a CPU):
 *   (a) 1,000 concurrent sends with a cold token cache → how many token fetches (must be 1);
 *   (b) limits lifted: sends/s through the sender over N sends, C at a time, with Bun's pooled
 *       keep-alive connections and, for comparison, with a new TCP connection per call (what the
 *       original Express relay did: ~1,260/s);
 *   (c) limits on (50/s app, 5/s per chat) with the fake enforcing them: the achieved rate, and how
 *       many 429 / 230020 answers we provoked (must be 0).
 * Bounded; stops by itself. Prints one JSON object, then a text summary.
 *
 *   bun bench/send.ts [--sends 5000] [--concurrency 200] [--rounds 3] [--limited 300]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { SendRateLimiter } from "../src/feishu/rate-limiter.ts";
import { FeishuRestClient } from "../src/feishu/rest-client.ts";
import { FeishuSender } from "../src/feishu/sender.ts";
import { TenantTokenManager } from "../src/feishu/tenant-token.ts";
import { Logger } from "../src/ops/logger.ts";
import { Registry } from "../src/ops/metrics.ts";
import { firstLine } from "./fake-process.ts";

const { values } = parseArgs({
  options: {
    sends: { type: "string", default: "5000" },
    concurrency: { type: "string", default: "200" },
    limited: { type: "string", default: "300" },
    rounds: { type: "string", default: "3" },
  },
});
const SENDS = Number(values.sends);
const CONCURRENCY = Number(values.concurrency);
const LIMITED = Number(values.limited);
const ROUNDS = Number(values.rounds);
const ORIGINAL_RELAY_PER_SEC = 1260;

interface FakeInfo {
  url: string;
  appId: string;
  appSecret: string;
}

const fakeProc = Bun.spawn(["bun", join(import.meta.dir, "../test/fakes/feishu-main.ts"), "--port", "0"], {
  stdout: "pipe",
  stderr: "inherit",
});
const fake = await firstLine(fakeProc.stdout).then((l) => JSON.parse(l) as FakeInfo);

async function control(path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${fake.url}/_fake/${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

function stack(limits: { app: number; chat: number }, fetchFn: typeof fetch = fetch) {
  const log = new Logger("error", () => {});
  const metrics = new Registry();
  const base = { log, metrics, baseUrl: fake.url, fetch: fetchFn };
  const tokens = new TenantTokenManager({ ...base, appId: fake.appId, appSecret: fake.appSecret });
  const client = new FeishuRestClient({ ...base, tokens });
  const waits = { app: 0, chat: 0 };
  const limiter = new SendRateLimiter({
    appPerSecond: limits.app,
    chatPerSecond: limits.chat,
    onWait: (kind) => waits[kind]++,
  });
  return { tokens, sender: new FeishuSender({ client, limiter, log, metrics }), metrics, waits };
}

/** Runs `total` jobs with at most `width` in flight. */
async function pool(total: number, width: number, job: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      await job(i).catch(() => failed++);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, total) }, worker));
  return failed;
}

const OFF = { app: Number.POSITIVE_INFINITY, chat: Number.POSITIVE_INFINITY };
const text = (i: number) => `bench message ${i}`;

try {
  // (a) cold cache: 1,000 concurrent first sends share one token fetch.
  await control("reset", {});
  const cold = stack(OFF);
  const t0 = performance.now();
  const coldResults = await Promise.allSettled(
    Array.from({ length: 1000 }, (_, i) =>
      cold.sender.send({ receiveIdType: "open_id", receiveId: `ou_cold_${i}`, text: text(i) }),
    ),
  );
  const coldMs = performance.now() - t0;
  const coldFetches = Number((await control("state")).tokenFetches);
  const coldFailed = coldResults.filter((r) => r.status === "rejected").length;

  // (b) throughput with limits lifted: pooled keep-alive vs a new connection per call.
  const throughput = async (fetchFn: typeof fetch) => {
    await control("reset", {});
    const s = stack(OFF, fetchFn);
    await s.tokens.get();
    const send = (i: number) =>
      s.sender.send({ receiveIdType: "chat_id", receiveId: `oc_bench_${i % 500}`, text: text(i) });
    await pool(Math.min(500, SENDS), CONCURRENCY, send); // warm-up (JIT, pool)
    const start = performance.now();
    const failed = await pool(SENDS, CONCURRENCY, send);
    const ms = performance.now() - start;
    return {
      sends: SENDS,
      concurrency: CONCURRENCY,
      failed,
      seconds: ms / 1000,
      perSec: Math.round(SENDS / (ms / 1000)),
    };
  };
  // Alternating rounds, median of each: the machine may be shared, and one round can be unlucky.
  const perCall = ((url: string, init?: RequestInit) =>
    fetch(url, { ...init, keepalive: false })) as typeof fetch;
  const rounds: Array<{
    keepAlive: Awaited<ReturnType<typeof throughput>>;
    perCall: Awaited<ReturnType<typeof throughput>>;
  }> = [];
  for (let r = 0; r < ROUNDS; r++)
    rounds.push({ keepAlive: await throughput(fetch), perCall: await throughput(perCall) });
  const median = <T extends { perSec: number }>(xs: T[]) =>
    [...xs].sort((a, b) => a.perSec - b.perSec)[xs.length >> 1]!;
  const keepAlive = {
    ...median(rounds.map((r) => r.keepAlive)),
    rounds: rounds.map((r) => r.keepAlive.perSec),
  };
  const perCallConnection = {
    ...median(rounds.map((r) => r.perCall)),
    rounds: rounds.map((r) => r.perCall.perSec),
  };

  // (c) limits on, the fake enforcing the real limits. One hot chat gets every 12th send (25 in
  // all: 5 s at 5/s), the rest spread over 24 chats, so both limits bind. Measured over the first
  // RUN_MS at the fake, where the sends were accepted.
  await control("reset", {});
  await control("app-qps", { limit: 50 });
  await control("chat-qps", { limit: 5 });
  const limited = stack({ app: 50, chat: 5 });
  await limited.tokens.get();
  const RUN_MS = 5000;
  const chatOf = (i: number) => (i % 12 === 0 ? "oc_hot" : `oc_limited_${i % 24}`);
  const l0 = performance.now();
  const limitedFailed = await pool(LIMITED, LIMITED, (i) =>
    limited.sender.send({ receiveIdType: "chat_id", receiveId: chatOf(i), text: text(i) }),
  );
  const limitedSec = (performance.now() - l0) / 1000;
  const state = await control("state");
  const sent = (await fetch(`${fake.url}/_fake/sent`).then((r) => r.json())) as Array<{
    at: number;
    chatId: string;
  }>;
  const first = Math.min(...sent.map((m) => m.at));
  const inRun = sent.filter((m) => m.at < first + RUN_MS).length;
  const limitedRun = {
    sends: LIMITED,
    failed: limitedFailed,
    allDoneSec: Number(limitedSec.toFixed(2)),
    acceptedInFirst5s: inRun,
    achievedPerSec: Number((inRun / (RUN_MS / 1000)).toFixed(1)),
    maxAppInAnySecond: maxInWindow(sent.map((m) => m.at)),
    maxChatInAnySecond: Math.max(
      ...Object.values(Object.groupBy(sent, (m) => m.chatId)).map((ms) =>
        maxInWindow((ms ?? []).map((m) => m.at)),
      ),
    ),
    throttledAnswers: Number(state.rateLimited),
    delayedByLimiter: limited.waits,
  };

  const result = {
    coldCache: {
      concurrentSends: 1000,
      tokenFetches: coldFetches,
      failed: coldFailed,
      ms: Math.round(coldMs),
    },
    unlimited: {
      keepAlive,
      newConnectionPerCall: perCallConnection,
      keepAliveVsPerCall: Number((keepAlive.perSec / perCallConnection.perSec).toFixed(2)),
      vsOriginalRelay: Number((keepAlive.perSec / ORIGINAL_RELAY_PER_SEC).toFixed(2)),
    },
    limited: limitedRun,
  };
  console.log(JSON.stringify(result));
  console.log(`
(a) 1,000 concurrent sends, cold token cache: ${coldFetches} token fetch(es), ${coldFailed} failed, ${Math.round(coldMs)} ms
(b) limits lifted, ${SENDS} sends, ${CONCURRENCY} in flight, median of ${ROUNDS} rounds:
      pooled keep-alive:          ${keepAlive.perSec} sends/s (rounds ${keepAlive.rounds.join(", ")}; ${keepAlive.failed} failed)
      new connection per call:    ${perCallConnection.perSec} sends/s (rounds ${perCallConnection.rounds.join(", ")})
      keep-alive / per-call:      ${result.unlimited.keepAliveVsPerCall}x; vs the original relay's ~${ORIGINAL_RELAY_PER_SEC}/s: ${result.unlimited.vsOriginalRelay}x
(c) limits on (50/s app, 5/s chat, enforced by the fake too), ${LIMITED} sends, one hot chat + 24 others:
      accepted in the first 5 s: ${limitedRun.acceptedInFirst5s} = ${limitedRun.achievedPerSec}/s; all done in ${limitedRun.allDoneSec} s
      busiest 1 s window at the fake: ${limitedRun.maxAppInAnySecond} app-wide, ${limitedRun.maxChatInAnySecond} in one chat
      429/230020 answers provoked: ${limitedRun.throttledAnswers}; failed: ${limitedRun.failed}; sends delayed by the limiter: app ${limitedRun.delayedByLimiter.app}, chat ${limitedRun.delayedByLimiter.chat}`);
} finally {
  fakeProc.kill("SIGTERM");
  await fakeProc.exited;
}

/** The most events in any 1 s window, half-open like Feishu's counter. */
function maxInWindow(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= 1000) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}
