/**
 * Latency at a steady rate: an open-loop client posts unique Feishu events to /api/feishu/webhook at
 * --rate events/s for --duration s (send times scheduled in advance, up to --inflight keep-alive
 * fetches outstanding, never waiting for one answer before the next send), after a short unmeasured
 * warm-up. The plugin stand-in (same process, so the clocks agree) computes webhook-send →
 * `message`-frame latency from the send time embedded in the text. Prints p50/p90/p99/max of that
 * latency, of the webhook answer, and how late the client itself sent (client-side delay is shown,
 * not hidden). The same load first runs against the bare hot path (../shared/bench-limit group.ts,
 * FULL) in this run, as the floor this machine's disk and loopback allow.
 * Goal (M2-7): webhook → plugin p99 at 1,000 events/s within 1.5 × the bare limit's p99 in the same
 * run: with --runs N, N rounds (each the limit, then a fresh relay) and the median of their ratios,
 * since a single p99 on this shared 2-core VM moves by ±50% between minutes. Event and message ids
 * are random hex, like Feishu's. Everything on 127.0.0.1; bounded; stops by itself.
 *
 *   bun bench/latency.ts [--runs 1] [--rate 1000] [--duration 10] [--warmup 1] [--users 1] [--inflight 32] [--ack-every 1]
 *
 * --ack-every 1 acks every frame, as the real plugin does once a message is handled; --ack-every 100
 * shows the relay without that ack load.
 */
import { parseArgs } from "node:util";
import {
  benchOpenId,
  commandLine,
  cpuMeter,
  createUsers,
  dist,
  limitEvent,
  median,
  Plugins,
  report,
  round3,
  startLimit,
  startRelay,
  wallMs,
  webhookEvent,
} from "./lib.ts";
import { openLoop } from "./open-loop.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "1" },
    rate: { type: "string", default: "1000" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "1" },
    users: { type: "string", default: "1" },
    inflight: { type: "string", default: "32" },
    "ack-every": { type: "string", default: "1" },
  },
});
const runs = Number(values.runs);
const rate = Number(values.rate);
const duration = Number(values.duration);
const warmup = Number(values.warmup);
const users = Number(values.users);
const maxInflight = Number(values.inflight);
const ackEvery = Number(values["ack-every"]);
/** M2-7: webhook → plugin p99 within 1.5 × the bare limit's own p99 at the same rate, same run. */
const GOAL_P99_RATIO = 1.5;
const loop = { rate, maxInflight };
interface Target {
  pid: number;
  url: string;
  ws: string;
  tokens: string[];
  readyOn: "hello" | "open";
  body: (run: string, i: number, sentAt: number) => string;
}

/** Warm-up, then the measured open-loop phase against one server with its subscriber(s). */
async function measure(t: Target) {
  const plugins = new Plugins({
    ackEvery: t.readyOn === "hello" ? ackEvery : 0,
    latency: true,
    readyOn: t.readyOn,
  });
  await plugins.connect(t.ws, t.tokens);
  const run = String(Date.now());
  if (warmup > 0) {
    const n = Math.round(rate * warmup);
    await openLoop(t.url, (i, at) => t.body(`${run}_w`, i, at), n, loop);
    await plugins.drain(n, 1000, 5000);
  }
  plugins.resetLatencies();
  const receivedBefore = plugins.received;
  const cpu = cpuMeter(t.pid);
  const started = wallMs();
  const phase = await openLoop(t.url, (i, at) => t.body(run, i, at), Math.round(rate * duration), loop);
  const elapsed = (wallMs() - started) / 1000;
  await plugins.drain(receivedBefore + phase.sent, 1000, 5000);
  const cpuDuringLoad = cpu.stop();
  plugins.ackAll();
  plugins.close();
  const e2e = dist(plugins.latencies());
  return {
    achievedRate: Math.round(phase.sent / elapsed),
    sent: phase.sent,
    notSent: phase.notSent,
    errors: phase.errors,
    receivedBySubscriber: plugins.received - receivedBefore,
    outOfOrder: plugins.outOfOrder,
    webhookToPluginMs: e2e,
    webhookAnswerMs: dist(phase.answers),
    clientSendLagMs: dist(phase.lags),
    cpuDuringLoad,
  };
}

// The bare hot path (bench-limit group.ts, FULL) under the same open-loop load: the floor this
// machine's disk and loopback allow.
async function measureBare() {
  const limit = await startLimit();
  try {
    return await measure({
      pid: limit.pid,
      url: `${limit.base}/`,
      ws: limit.ws,
      tokens: [""],
      readyOn: "open",
      body: (run, i, at) => limitEvent(`${run}_${i}`, at),
    });
  } finally {
    await limit.stop();
  }
}

async function measureRelay() {
  const relay = await startRelay();
  try {
    const tokens = await createUsers(
      relay.base,
      Array.from({ length: users }, (_, i) => benchOpenId(i)),
    );
    return await measure({
      pid: relay.pid,
      url: `${relay.base}/api/feishu/webhook`,
      ws: relay.ws,
      tokens,
      readyOn: "hello",
      body: (run, i, at) => webhookEvent(`${run}_${i}`, benchOpenId(i % users), at),
    });
  } finally {
    await relay.stop();
  }
}

const rounds = [];
for (let round = 1; round <= runs; round++) {
  const bare = await measureBare();
  const r = await measureRelay();
  const e2e = r.webhookToPluginMs;
  const p99Ratio = bare.webhookToPluginMs.p99 ? round3(e2e.p99 / bare.webhookToPluginMs.p99) : null;
  const complete = r.notSent === 0 && e2e.n === r.sent;
  rounds.push({ limit: bare, relay: r, p99RatioToLimit: p99Ratio, complete });
  console.error(
    `round ${round}: relay at ${r.achievedRate}/s open-loop (${rate}/s scheduled), ${users} user(s), ${r.receivedBySubscriber}/${r.sent} delivered${r.notSent ? ` (${r.notSent} not sent: fell behind)` : ""}: ` +
      `webhook→plugin p50 ${e2e.p50} p90 ${e2e.p90} p99 ${e2e.p99} max ${e2e.max} ms ` +
      `(answer p99 ${r.webhookAnswerMs.p99} ms, client send lag p99 ${r.clientSendLagMs.p99} ms); ` +
      `bare limit p50 ${bare.webhookToPluginMs.p50} p99 ${bare.webhookToPluginMs.p99} ms; p99 ratio ${p99Ratio}`,
  );
}
const ratios = rounds.map((r) => r.p99RatioToLimit).filter((x): x is number => x !== null);
const medianRatio = ratios.length === rounds.length ? round3(median(ratios)) : null;
const met = rounds.every((r) => r.complete) && medianRatio !== null && medianRatio <= GOAL_P99_RATIO;
report(
  {
    command: commandLine("bench/latency.ts", {
      runs,
      rate,
      duration,
      warmup,
      users,
      inflight: maxInflight,
      "ack-every": ackEvery,
    }),
    offeredRate: rate,
    rounds,
    medianP99RatioToLimit: medianRatio,
    goal: { p99AtMostTimesLimit: GOAL_P99_RATIO, of: "median over rounds", met },
  },
  `median of ${runs}: p99 ratio ${medianRatio} (rounds ${ratios.join(", ")}) — goal ≤ ${GOAL_P99_RATIO} × limit ${met ? "met" : "NOT met"}`,
);
