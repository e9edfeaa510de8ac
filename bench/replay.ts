/**
 * Replay after a reconnect: --messages events are queued (through the webhook, --senders concurrent
 * keep-alive clients) for a user whose plugin is not connected; then the plugin connects and we time
 * from WebSocket open to the last `message` frame received, checking that every seq arrived once and
 * in order. Repeated for --rounds users (each with its own queue, so each round replays a cold queue).
 * The relay runs with INBOX_MAX_PENDING = max(10,000, 2 × --messages) (40,000 for the default run) and
 * the default INBOX_MAX_PENDING_BYTES (64 MiB), so that nothing is dropped and the figure states them.
 * Goal (2-core machine): 20,000 messages in < 0.5 s. Everything on 127.0.0.1; bounded; stops by itself.
 *
 *   bun bench/replay.ts [--messages 20000] [--rounds 3] [--senders 32] [--ack-every 100]
 *
 * --ack-every N: the plugin acks every N frames while the replay runs (0: never, pure replay).
 * connectToOpenMs of a round shows how long the relay was still busy with the previous round's acks.
 */
import { parseArgs } from "node:util";
import {
  benchOpenId,
  commandLine,
  cpuMeter,
  createUsers,
  dist,
  Plugins,
  postWebhook,
  report,
  round3,
  startRelay,
  wallMs,
  webhookEvent,
} from "./lib.ts";

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "20000" },
    rounds: { type: "string", default: "3" },
    senders: { type: "string", default: "32" },
    "ack-every": { type: "string", default: "100" },
  },
});
const messages = Number(values.messages);
const rounds = Number(values.rounds);
const senders = Number(values.senders);
const ackEvery = Number(values["ack-every"]);
const GOAL_MS = 500;

/** Posts `messages` events for each of `users` open_ids, interleaved, `senders` at a time. */
async function queue(
  base: string,
  openIds: string[],
): Promise<{ sent: number; errors: number; perSec: number }> {
  const total = messages * openIds.length;
  const run = String(Date.now());
  let next = 0;
  let errors = 0;
  const started = wallMs();
  const deadline = Date.now() + 60_000;
  const worker = async () => {
    for (let i = next++; i < total && Date.now() < deadline; i = next++) {
      const status = await postWebhook(
        base,
        webhookEvent(`${run}_${i}`, openIds[i % openIds.length] as string),
      );
      if (status !== 200) errors++;
    }
  };
  await Promise.all(Array.from({ length: senders }, worker));
  const sent = Math.min(next, total);
  return { sent, errors, perSec: Math.round(sent / ((wallMs() - started) / 1000)) };
}

/** Connects one plugin and times the replay of its queue. */
async function replay(ws: string, token: string, relayPid: number) {
  const cpu = cpuMeter(relayPid);
  let lastAt = 0;
  const plugins = new Plugins({
    ackEvery,
    latency: false,
    onMessage: () => {
      if (plugins.received === messages) lastAt = wallMs();
    },
  });
  const connectAt = wallMs();
  await plugins.connect(ws, [token], 10_000);
  await plugins.drain(messages, 2000, 10_000);
  const conn = plugins.conns[0];
  plugins.ackAll();
  plugins.close();
  const openAt = conn?.openAt ?? 0;
  return {
    received: plugins.received,
    lastSeq: conn?.lastSeq ?? 0,
    outOfOrder: plugins.outOfOrder,
    connectToOpenMs: round3(openAt - connectAt),
    openToHelloMs: round3((conn?.helloAt ?? 0) - openAt),
    openToLastMs: lastAt ? round3(lastAt - openAt) : null,
    cpu: cpu.stop(),
  };
}

const relay = await startRelay({ env: { INBOX_MAX_PENDING: String(Math.max(10_000, messages * 2)) } });
try {
  const openIds = Array.from({ length: rounds }, (_, i) => benchOpenId(i));
  const tokens = await createUsers(relay.base, openIds);
  const queued = await queue(relay.base, openIds);
  const pending = await relay.metric("inbox_stored_total");
  const rssBeforeKb = relay.rssKb();
  const results = [];
  for (const token of tokens) results.push(await replay(relay.ws, token, relay.pid));
  const times = results.map((r) => r.openToLastMs ?? Number.POSITIVE_INFINITY);
  const complete = results.every(
    (r) => r.received === messages && r.lastSeq === messages && r.outOfOrder === 0,
  );
  const d = dist(times);
  const result = {
    command: commandLine("bench/replay.ts", { messages, rounds, senders, "ack-every": ackEvery }),
    queued: { ...queued, stored: pending, webhookEventsPerSec: queued.perSec },
    rounds: results,
    openToLastMs: { best: Math.min(...times), median: d.p50, worst: d.max },
    messagesPerSec: Math.round(messages / (d.p50 / 1000)),
    rssMbBefore: Math.round(rssBeforeKb / 1024),
    rssMbAfter: Math.round(relay.rssKb() / 1024),
    complete,
    goal: { belowMs: GOAL_MS, met: complete && d.p50 < GOAL_MS },
  };
  report(
    result,
    `replay of ${messages} queued messages: WebSocket open → last frame median ${d.p50} ms ` +
      `(best ${result.openToLastMs.best}, worst ${d.max}; ${result.messagesPerSec} msg/s; ${complete ? "all in order" : "INCOMPLETE or out of order"}) ` +
      `— goal < ${GOAL_MS} ms ${result.goal.met ? "met" : "NOT met"}`,
  );
} finally {
  await relay.stop();
}
