/**
 * The relay's hot path under load, reported as a ratio to this machine's bare limit measured in the
 * same run (../shared/bench-limit, group commit, FULL): wrk POSTs unique Feishu events to
 * /api/feishu/webhook; each is deduplicated, stored durably (WAL, synchronous=FULL, group commit),
 * answered after its commit, and pushed to the sender's connected plugin, which acks.
 *
 * Two runs, each against a fresh relay process and database:
 *   - 1 user: every event from one sender, one plugin connection;
 *   - spread: the sender round-robin over --spread users (default 1,000), each with its own
 *     authenticated plugin connection, all held by this process.
 * Reported: events/s (durable, = webhook answers/s), webhook-answer p50/p99 (wrk --latency), and
 * webhook → plugin latency p50/p99 (the send time is embedded in the message text by
 * webhook-users.lua; the plugin stand-in computes now − sent). Goals (2-core machine): ≥ 30,000/s
 * with 1 user, ≥ 20,000/s spread over 1,000 users. Everything on 127.0.0.1; bounded; stops by itself.
 *
 *   bun bench/relay.ts [--duration 8] [--connections 64] [--spread 1000] [--ack-every 100] [--skip-limit]
 *                      [--log-level warn] [--cpu-prof DIR]
 *
 * --ack-every N: the plugin stand-in acks cumulatively every N frames per connection (1 = like the real
 * plugin, which acks each message once handled). --log-level info is the relay's default (one JSON
 * line per event on stdout, here discarded). --cpu-prof DIR writes the relay's CPU profile there.
 * BENCH_RELAY_ROOT=DIR benches another tree (e.g. a patched copy) with the same client.
 * BENCH_DUMP_METRICS=REGEX prints the relay's /metrics lines matching it (stderr) after each run.
 *
 * Needs `wrk` (apt-get install -y wrk).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  benchOpenId,
  commandLine,
  cpuMeter,
  createUsers,
  dist,
  measureLimit,
  Plugins,
  report,
  runWrk,
  startRelay,
} from "./lib.ts";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "8" },
    connections: { type: "string", default: "64" },
    spread: { type: "string", default: "1000" },
    "ack-every": { type: "string", default: "100" },
    "skip-limit": { type: "boolean", default: false },
    "log-level": { type: "string", default: "warn" },
    "cpu-prof": { type: "string" },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const spread = Number(values.spread);
const ackEvery = Number(values["ack-every"]);
const GOAL_ONE = 30_000;
const GOAL_SPREAD = 20_000;

async function measureRelay(users: number) {
  const relay = await startRelay({
    env: { LOG_LEVEL: values["log-level"] as string },
    nofile: users + 1024,
    bunFlags: values["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${values["cpu-prof"]}`] : [],
  });
  try {
    const openIds = Array.from({ length: users }, (_, i) => benchOpenId(i));
    const tokens = await createUsers(relay.base, openIds, 64);
    const plugins = new Plugins({ ackEvery, latency: true });
    await plugins.connect(relay.ws, tokens);
    const rssBeforeKb = relay.rssKb();
    const cpu = cpuMeter(relay.pid);
    const r = await runWrk({
      url: relay.base,
      script: join(import.meta.dir, "webhook-users.lua"),
      connections,
      durationSec: duration,
      env: { BENCH_USERS: String(users), BENCH_RUN: String(Date.now()) },
    });
    const cpuDuringLoad = cpu.stop();
    // Let delivery finish: until every stored message arrived or arrivals stop (bounded). Requests
    // still in flight when wrk stopped may be committed meanwhile, so `stored` is read again.
    await plugins.drain(await relay.metric("inbox_stored_total"));
    const stored = await relay.metric("inbox_stored_total");
    await plugins.drain(stored);
    plugins.ackAll();
    const e2e = dist(plugins.latencies());
    const writtenToSocket = await relay.metric("messages_delivered_total");
    const commits = await relay.metric("inbox_commit_batch_size_count");
    const ackCommits = await relay.metric("inbox_acks_total");
    const rssMb = Math.round(relay.rssKb() / 1024);
    if (process.env.BENCH_DUMP_METRICS)
      console.error(
        (await relay.metrics())
          .split("\n")
          .filter((l) => new RegExp(process.env.BENCH_DUMP_METRICS!).test(l))
          .join("\n"),
      );
    plugins.close();
    return {
      users,
      eventsPerSec: Math.round(r.rps),
      requests: r.requests,
      webhookAnswerMs: { mean: r.meanMs, p50: r.p50Ms, p90: r.p90Ms, p99: r.p99Ms, max: r.maxMs },
      webhookToPluginMs: { p50: e2e.p50, p90: e2e.p90, p99: e2e.p99, max: e2e.max },
      non2xx: r.non2xx,
      socketErrors: r.socketErrors,
      stored,
      writtenToSocket,
      groupCommits: commits,
      meanBatch: commits ? Math.round((10 * stored) / commits) / 10 : 0,
      ackCommits,
      receivedByPlugin: plugins.received,
      outOfOrder: plugins.outOfOrder,
      closedEarly: plugins.closed,
      rssMbBefore: Math.round(rssBeforeKb / 1024),
      rssMb,
      cpuDuringLoad,
      // Less sensitive to other load on the machine than events/s: the relay's own CPU per event.
      relayCpuUsPerEvent: Math.round((cpuDuringLoad.relayCores * duration * 1e6) / Math.max(1, r.requests)),
    };
  } finally {
    await relay.stop();
  }
}

const limit = values["skip-limit"] ? undefined : await measureLimit(connections, duration);
const one = await measureRelay(1);
const many = spread > 1 ? await measureRelay(spread) : undefined;
const ratio = (x: number) => (limit?.rps ? Number((x / limit.rps).toFixed(3)) : null);

const result = {
  command: commandLine("bench/relay.ts", {
    duration,
    connections,
    spread,
    "ack-every": ackEvery,
    ...(values["log-level"] !== "warn" ? { "log-level": values["log-level"] as string } : {}),
    ...(values["skip-limit"] ? { "skip-limit": true } : {}),
  }),
  limit: limit && {
    eventsPerSec: Math.round(limit.rps),
    meanMs: limit.meanMs,
    p50Ms: limit.p50Ms,
    p99Ms: limit.p99Ms,
    receivedBySubscriber: limit.received,
    cpuDuringLoad: limit.cpuDuringLoad,
    cpuUsPerEvent: Math.round(
      (limit.cpuDuringLoad.relayCores * duration * 1e6) / Math.max(1, limit.requests),
    ),
  },
  relay: one,
  ratioToLimit: ratio(one.eventsPerSec),
  spread: many && { ...many, ratioToLimit: ratio(many.eventsPerSec) },
  goals: {
    oneUser: { goal: GOAL_ONE, met: one.eventsPerSec >= GOAL_ONE },
    ...(many ? { spread: { goal: GOAL_SPREAD, met: many.eventsPerSec >= GOAL_SPREAD } } : {}),
  },
};
const line = (r: typeof one) =>
  `${r.eventsPerSec} events/s over ${r.users} user(s) (durable, FULL; stored ${r.stored}, delivered ${r.receivedByPlugin}); ` +
  `answer p50 ${r.webhookAnswerMs.p50} ms p99 ${r.webhookAnswerMs.p99} ms; webhook→plugin p50 ${r.webhookToPluginMs.p50} ms p99 ${r.webhookToPluginMs.p99} ms; ` +
  `ratio to limit ${ratio(r.eventsPerSec)}; relay CPU ${r.relayCpuUsPerEvent} µs/event`;
report(
  result,
  [
    `bare limit (group commit, FULL): ${limit ? `${Math.round(limit.rps)} events/s, CPU ${result.limit?.cpuUsPerEvent} µs/event` : "skipped"}`,
    `relay: ${line(one)} — goal ≥ ${GOAL_ONE}/s ${one.eventsPerSec >= GOAL_ONE ? "met" : "NOT met"}`,
    ...(many
      ? [
          `relay: ${line(many)} — goal ≥ ${GOAL_SPREAD}/s ${many.eventsPerSec >= GOAL_SPREAD ? "met" : "NOT met"}`,
        ]
      : []),
  ].join("\n"),
);
